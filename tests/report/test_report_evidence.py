"""evidence.json: the keys the issue lists, values equal to the synthetic screen's hand counts, deterministic bytes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from helpers.report_inputs import analysed
from tais.report import SCHEMA, evidence_dict, evidence_json

CELL_KEYS = {"contrast", "task", "n", "identical", "divergences", "p_reference", "p_candidate", "diff", "ci_low",
             "ci_high", "tost_p", "mcnemar_p", "mcnemar_p_holm", "cohens_h", "verdict", "reasons"}  # fmt: skip


def test_schema_verdict_and_cell_keys(screen_result):
    data = json.loads(evidence_json(screen_result))
    assert data["schema"] == SCHEMA == "tais.evidence/2"
    assert (data["verdict"], data["exit_code"]) == ("FAIL", 1)
    assert data["thresholds"] == {"margin": 0.03, "alpha": 0.05, "h_cutoff": 0.1, "tau": 0.1, "power": 0.8}
    assert all(CELL_KEYS <= set(cell) for cell in data["cells"])
    assert {k for k in data} >= {"cells", "pooled", "arms", "speed", "divergences", "manifest", "meta"}


def test_cell_values_match_the_hand_counts(screen_result):
    cells = {(c["contrast"], c["task"]): c for c in evidence_dict(screen_result)["cells"]}
    lossy = cells[("lossy vs ref", "harm")]
    assert lossy["table"] == {"a": 290, "b": 10, "c": 2, "d": 98}
    assert (lossy["n"], lossy["identical"], lossy["divergences"]) == (400, 388, {"near-tie": 0, "leak": 12,
                                                                               "unexplained": 0})  # fmt: skip
    assert lossy["diff"] == pytest.approx(-8 / 400) and lossy["verdict"] == "FAIL"
    strict_mc = cells[("strict vs ref", "mc")]
    assert (strict_mc["n"], strict_mc["undecided"], strict_mc["pairs"]) == (58, 2, 60)
    assert strict_mc["verdict"] == "INCONCLUSIVE" and strict_mc["n_more"] > 0
    assert cells[("aa vs ref", "harm")]["kind"] == "null"


def test_speed_arms_divergences_and_passthrough(screen_result):
    data = evidence_dict(screen_result)
    speed = {s["arm"]: s for s in data["speed"]}
    assert speed["strict"]["speedup"] == pytest.approx(2.0) and speed["lossy"]["acceptance"] == pytest.approx(0.9)
    assert [a["fingerprint"] for a in data["arms"]] == ["fp-ref", "fp-strict", "fp-lossy", "fp-aa"]
    assert len(data["divergences"]) == 3 + 2 + 12 + 2
    first = next(d for d in data["divergences"] if d["item_id"] == "harm/0" and d["contrast"] == "lossy vs ref")
    assert first["reference_top"] == [[" w12", -0.05], [" near", -0.1], [" far", -3.0]]
    assert data["manifest"] == {"config_sha256": "c0ffee", "completions": {"ref": "aa11"}}
    assert data["meta"] == {"tais_version": "0.1.0"}
    assert data["pooled"]["lossy vs ref"]["odds_ratio"] == pytest.approx(10.5 / 2.5)


def test_identical_inputs_give_identical_bytes(screen_result):
    assert evidence_json(analysed()) == evidence_json(screen_result)


def test_non_finite_numbers_become_null(screen_result):
    speed = list(screen_result.speed)
    speed[0] = replace(speed[0], tokens_per_s=float("inf"), wall_s=float("nan"))
    data = json.loads(evidence_json(replace(screen_result, speed=tuple(speed))))
    assert data["speed"][0]["tokens_per_s"] is None and data["speed"][0]["wall_s"] is None


def test_unserialisable_values_are_refused(screen_result):
    with pytest.raises(TypeError, match="cannot put object into evidence.json"):
        evidence_dict(replace(screen_result, meta={"x": object()}))


def test_a_divergence_entry_is_the_json_modules_indented_text():
    """The field-by-field writer of divergence entries gives exactly ``json.dumps(..., indent=2)`` of the entry,
    indented one level, for the awkward values: quotes, control characters, non-ASCII, an unknown gap, a
    non-finite gap (written null), no top-k, the null arm's role and an outcome of None."""
    from tais.report.evidence import _divergence, divergence_entry
    from tais.screen.result import Divergence, DivergenceClass
    from tais.types import Role

    cases = [
        Divergence("c vs r", "t", 't/"1"', 3, 2, DivergenceClass.NEAR_TIE, 0.05, " a", "\n\t",
                   ((" a", -0.1), ("\u00e9\u4e2d", -1e-20)), "x\x00", ' "y"\\', "", 1, None),
        Divergence("aa vs r", "t", "t/2", 0, 0, DivergenceClass.LEAK, None, None, "[id 7]", (), "", "r", "c", None, 0,
                   basis="text", role=Role.NULL),
        Divergence("c vs r", "t", "t/3", 1, 5, DivergenceClass.UNEXPLAINED, float("inf"), "<end>", " b",
                   ((" a", -0.5),), "p", "", "q", 0, 1, basis="token_ids"),
    ]
    for d in cases:
        want = json.dumps(_divergence(d), sort_keys=True, indent=2, ensure_ascii=False)
        want = want.replace("Infinity", "null")  # _plain writes a non-finite gap as null
        assert divergence_entry(d) == "    " + want.replace("\n", "\n    ")
