"""The demo screen end to end on the real SmolLM2-135M-Instruct (hf engine, CPU), with fewer prompts and tokens
than `tais demo` so that it fits the test-time budget: the deliberately broken positive control fails with named
leaks, the strict speculative arms show no leak, the run verifies, and a second run generates nothing."""

from __future__ import annotations

import json

import pytest

from tais.cli.main import main
from tais.types import DivergenceClass

pytestmark = pytest.mark.slow

ITEMS = 2
MAX_TOKENS = 12


@pytest.fixture(scope="module")
def demo_run(smollm2, tmp_path_factory):
    out = tmp_path_factory.mktemp("hf-demo") / "run"
    code = main(["demo", "--out", str(out), "--items", str(ITEMS), "--max-tokens", str(MAX_TOKENS), "--quiet"])
    return code, out, json.loads((out / "evidence.json").read_text())


def test_positive_control_fails_with_leaks_and_strict_arms_do_not_leak(demo_run, capsys):
    code, out, evidence = demo_run
    assert code == 1 and evidence["verdict"] == "FAIL"
    cells = {(c["candidate"], c["task"]): c for c in evidence["cells"]}
    control = [c for (arm, _), c in cells.items() if arm == "positive-control"]
    assert any(c["verdict"] == "FAIL" for c in control)
    assert sum(c["divergences"].get(DivergenceClass.LEAK.value, 0) for c in control) >= 1
    leaks = [d for d in evidence["divergences"] if d["contrast"].startswith("positive-control")
             and d["cls"] == DivergenceClass.LEAK.value]
    assert leaks and all(d["item_id"] and d["candidate_token"] is not None for d in leaks)
    for arm in ("spec-quantized", "spec-ngram"):
        for task in ("smoke-harmful", "smoke-benign", "smoke-mc"):
            cell = cells[(arm, task)]
            assert cell["divergences"].get(DivergenceClass.LEAK.value, 0) == 0, (arm, task, cell)
            # lossless: every pair is identical to the reference or differs first at a near tie (rounding)
            near_ties = cell["divergences"].get(DivergenceClass.NEAR_TIE.value, 0)
            assert cell["identical"] + near_ties == cell["pairs"], (arm, task, cell)
            assert cell["verdict"] != "FAIL" and cell["reasons"]
    speed = {s["arm"]: s for s in evidence["speed"]}
    assert speed["spec-quantized"]["acceptance"] is not None and speed["reference"]["acceptance"] is None
    assert all(s["output_tokens"] > 0 and s["wall_s"] > 0 for s in speed.values())


def test_demo_run_verifies_and_resumes_from_the_store(demo_run, capsys):
    code, out, evidence = demo_run
    assert main(["verify", str(out)]) == 0
    before = (out / "evidence.json").read_bytes()
    assert main(["demo", "--out", str(out), "--items", str(ITEMS), "--max-tokens", str(MAX_TOKENS), "--quiet"]) == code
    assert (out / "evidence.json").read_bytes() == before  # nothing regenerated: byte-identical evidence
