"""The RunPlan contract: an exact JSON round trip through the store, typed fields, the version-1 conversion and the
refusal of an unknown version."""

from __future__ import annotations

import json

import pytest

from tais.errors import InputError, IntegrityError
from tais.store import PLAN_VERSION, PlannedArm, PlannedItem, PlannedTask, RunPlan, RunStore, canonical_json
from tais.types import CompletionKey, Role, Thresholds


def _plan(replicates=2):
    tasks = tuple(
        PlannedTask(name, f"{name[0]}" * 64, "refusal-rules", "refusal-rules@3",
                    tuple(PlannedItem(f"{name}/{i}", tuple(f"{name}-{i}-{r}" for r in range(replicates)))
                          for i in range(3)))
        for name in ("harm", "benign")
    )
    arms = (PlannedArm("ref", Role.REFERENCE, "a" * 64), PlannedArm("spec", Role.CANDIDATE, "b" * 64),
            PlannedArm("aa", Role.NULL, "c" * 64))
    return RunPlan(name="demo", replicates=replicates, thresholds=Thresholds(margin=0.05, tau=0.2 / 3), tasks=tasks,
                   arms=arms)


def test_json_round_trip_is_exact():
    plan = _plan()
    text = canonical_json(plan.to_dict())
    again = RunPlan.from_dict(json.loads(text))
    assert again == plan and canonical_json(again.to_dict()) == text
    assert again.thresholds.tau == 0.2 / 3  # a float that needs all 17 digits survives
    assert json.loads(text)["plan_version"] == PLAN_VERSION


def test_fields_are_typed():
    plan = RunPlan.from_dict(json.loads(canonical_json(_plan().to_dict())))
    assert [a.role for a in plan.arms] == [Role.REFERENCE, Role.CANDIDATE, Role.NULL]
    assert all(type(a.role) is Role for a in plan.arms)
    assert isinstance(plan.thresholds, Thresholds) and isinstance(plan.tasks[0].items[0].request_sha256, tuple)
    assert PlannedArm("x", "null", "f").role is Role.NULL  # a string is converted on construction
    with pytest.raises(ValueError):
        PlannedArm("x", "judge", "f")


def test_keys_are_completion_keys_in_item_then_replicate_order():
    plan = _plan()
    assert plan.keys("harm")[:3] == (CompletionKey("harm/0", 0, "harm-0-0"), CompletionKey("harm/0", 1, "harm-0-1"),
                                     CompletionKey("harm/1", 0, "harm-1-0"))
    assert len(plan.keys("benign")) == 6 and plan.reference.name == "ref"
    with pytest.raises(KeyError):
        plan.keys("missing")


def test_the_store_holds_the_plan(tmp_path):
    with RunStore(tmp_path / "s.sqlite") as store:
        run_id = store.add_run("c" * 64, "config text", _plan())
    with RunStore(tmp_path / "s.sqlite", create=False) as store:
        record = store.run(run_id)
    assert record.plan == _plan() and record.config_text == "config text"


def test_an_unknown_version_is_refused_naming_both():
    data = {**_plan().to_dict(), "plan_version": PLAN_VERSION + 1}
    with pytest.raises(InputError, match=rf"run plan version {PLAN_VERSION + 1}: this tais reads run plan version "
                                         rf"{PLAN_VERSION}"):
        RunPlan.from_dict(data)


def test_a_damaged_stored_plan_is_an_integrity_error(tmp_path):
    import sqlite3

    with RunStore(tmp_path / "s.sqlite") as store:
        store.add_run("c" * 64, "cfg", _plan())
    db = sqlite3.connect(tmp_path / "s.sqlite")
    damaged = {k: v for k, v in _plan().to_dict().items() if k != "arms"}
    db.execute("UPDATE runs SET plan_json=?", (canonical_json(damaged),))
    db.commit()
    db.close()
    with RunStore(tmp_path / "s.sqlite", create=False) as store:
        with pytest.raises(IntegrityError, match="run 1 plan: stored bytes are not a run plan"):
            store.latest_run()
