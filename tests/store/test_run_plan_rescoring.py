"""The run plan's ``rescoring`` record: a JSON round trip gives the same plan, ``scored_now`` (what one invocation
did) is not part of it, and a plan without one writes no ``rescoring`` key (old runs keep their bytes)."""

from __future__ import annotations

import json

from tais.store import PlannedArm, RunPlan
from tais.store.run_plan import RescoringRecord, ScoringArm
from tais.types import Role, Thresholds

RECORD = RescoringRecord(
    reference=ScoringArm("ref/target", "f" * 64),
    targets={"spec": ScoringArm("spec/target", "e" * 64), "srv": ScoringArm("srv/target", None, "no prompt logprobs")},
    scored_now=12, dtypes={"ref": "float32", "spec": "bfloat16"},
    exact_kl={"spec": {"t": {"n": 3, "kl_mean": 0.0125, "kl_exact": True}}})
PLAN = RunPlan(name="demo", replicates=1, thresholds=Thresholds(), tasks=(),
               arms=(PlannedArm("ref", Role.REFERENCE, "a" * 64), PlannedArm("spec", Role.CANDIDATE, "b" * 64)))


def test_a_plan_with_a_rescoring_record_round_trips_through_json():
    plan = RunPlan(**{**PLAN.__dict__, "rescoring": RECORD})
    back = RunPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert back == plan and back.rescoring is not None
    assert back.rescoring.targets["srv"].reason == "no prompt logprobs" and back.rescoring.scored_now == 0
    assert back.rescoring.exact_kl["spec"]["t"]["kl_mean"] == 0.0125


def test_a_plan_without_one_writes_no_key():
    assert "rescoring" not in PLAN.to_dict() and RunPlan.from_dict(PLAN.to_dict()).rescoring is None
    assert "rescoring" in RunPlan(**{**PLAN.__dict__, "rescoring": RECORD}).to_dict()  # positive control
