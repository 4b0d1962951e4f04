"""analyse() on the synthetic screen of :mod:`helpers.screen_scenario`: every figure against a hand count or an
independent reference (statsmodels for McNemar, Holm, Wilson and Cohen's h; a direct root search of Tango's score
statistic for the interval), never against tais's own output."""

from __future__ import annotations

import dataclasses
import json
import math
import random

import pytest
from helpers import screen_scenario as scenario
from scipy.optimize import brentq
from scipy.stats import norm
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportion_effectsize

from tais.report import evidence_json
from tais.screen.analyse import analyse
from tais.types import DivergenceClass, Role, Thresholds, Verdict

EXPECTED = {  # (contrast, task) -> (a, b, c, d, undecided, identical, near-tie, leak, unexplained)
    ("strict vs ref", "harm"): (300, 0, 0, 100, 0, 397, 3, 0, 0),
    ("strict vs ref", "mc"): (44, 1, 1, 12, 2, 58, 0, 0, 2),
    ("lossy vs ref", "harm"): (290, 10, 2, 98, 0, 388, 0, 12, 0),
    ("lossy vs ref", "mc"): (45, 0, 0, 15, 0, 60, 0, 0, 0),
    ("aa vs ref", "harm"): (298, 2, 0, 100, 0, 398, 2, 0, 0),
    ("aa vs ref", "mc"): (45, 0, 0, 15, 0, 60, 0, 0, 0),
}


def tango_reference(b: int, c: int, n: int, level: float) -> tuple[float, float]:
    """Tango (1998) score interval for p_C - p_R, by root search of |T(delta)| = z (independent of tais.stats).

    With n12 = c (candidate-only wins) and n21 = b, delta = (n12 - n21) / n and
    T = (n12 - n21 - n delta) / sqrt(n (2 q21 + delta (1 - delta))), q21 the restricted MLE of p21:
    q21 = (sqrt(B^2 - 4AC) - B) / (2A), A = 2n, B = -n12 - n21 + (2n - n12 + n21) delta, C = -n21 delta (1 - delta)."""
    n12, n21 = c, b
    z = norm.ppf(1 - (1 - level) / 2)

    def t(delta: float) -> float:
        a_, b_, c_ = 2 * n, -n12 - n21 + (2 * n - n12 + n21) * delta, -n21 * delta * (1 - delta)
        q21 = (math.sqrt(b_ * b_ - 4 * a_ * c_) - b_) / (2 * a_)
        variance = n * (2 * q21 + delta * (1 - delta))
        return 0.0 if variance == 0 else (n12 - n21 - n * delta) / math.sqrt(variance)

    point = (n12 - n21) / n
    low = brentq(lambda d: t(d) - z, -1 + 1e-9, point)
    high = brentq(lambda d: t(d) + z, point, 1 - 1e-9)
    return low, high


@pytest.fixture(scope="module")
def result():
    battery, arms, completions, scores = scenario.build()
    return analyse(battery=battery, arms=arms, completions=completions, scores=scores, thresholds=Thresholds(),
                   manifest={"config_sha256": "abc"}, meta={"tais": "test"})  # fmt: skip


def cells_by_key(result):
    return {(c.contrast, c.task): c for c in result.cells}


def test_cells_in_report_order_candidates_first(result):
    assert [(c.contrast, c.task) for c in result.cells] == list(EXPECTED)
    assert [c.role for c in result.cells] == [Role.CANDIDATE] * 4 + [Role.NULL] * 2


@pytest.mark.parametrize("key", list(EXPECTED))
def test_tables_identity_and_divergence_counts(result, key):
    a, b, c, d, undecided, identical, near, leak, unexplained = EXPECTED[key]
    cell = cells_by_key(result)[key]
    assert (cell.a, cell.b, cell.c, cell.d) == (a, b, c, d)
    assert cell.n == a + b + c + d and cell.undecided == undecided
    assert cell.identical_text == identical
    assert cell.identical_tokens == identical and cell.token_pairs == cell.pairs  # every completion has ids
    assert dict(cell.divergences) == {"near-tie": near, "leak": leak, "unexplained": unexplained}
    n = a + b + c + d
    assert cell.p_reference == pytest.approx((a + b) / n)
    assert cell.p_candidate == pytest.approx((a + c) / n)
    assert cell.diff == pytest.approx((c - b) / n)


@pytest.mark.parametrize("key", list(EXPECTED))
def test_intervals_tests_and_effect_against_independent_references(result, key):
    cell = cells_by_key(result)[key]
    n = cell.n
    low, high = tango_reference(cell.b, cell.c, n, 0.90)
    assert (cell.ci_low, cell.ci_high) == (pytest.approx(low, abs=1e-6), pytest.approx(high, abs=1e-6))
    assert cell.equivalent == (-0.03 < low and high < 0.03)
    assert (cell.tost_p < 0.05) == cell.equivalent
    exact = mcnemar([[cell.a, cell.b], [cell.c, cell.d]], exact=True).pvalue
    assert cell.mcnemar_p == pytest.approx(exact, rel=1e-9)
    for got, k in ((cell.wilson_reference, cell.a + cell.b), (cell.wilson_candidate, cell.a + cell.c)):
        assert got == pytest.approx(proportion_confint(k, n, alpha=0.05, method="wilson"), abs=1e-9)
    assert cell.cohens_h == pytest.approx(proportion_effectsize((cell.a + cell.c) / n, (cell.a + cell.b) / n))


def test_holm_runs_over_candidate_cells_only(result):
    candidates = result.candidate_cells
    raw = [mcnemar([[c.a, c.b], [c.c, c.d]], exact=True).pvalue for c in candidates]
    expected = multipletests(raw, method="holm")[1]
    assert [c.mcnemar_p_holm for c in candidates] == pytest.approx(list(expected))
    # lossy/harm: b=10, c=2, exact p = 2 P(Binom(12, .5) <= 2) = 2 * 79 / 4096; Holm multiplies by the 4 cells
    assert candidates[2].mcnemar_p == pytest.approx(2 * 79 / 4096)
    assert candidates[2].mcnemar_p_holm == pytest.approx(min(1.0, 4 * 2 * 79 / 4096))


def test_null_h_is_the_aa_noise_floor_on_the_same_task(result):
    cells = cells_by_key(result)
    h_aa_harm = abs(2 * math.asin(math.sqrt(298 / 400)) - 2 * math.asin(math.sqrt(300 / 400)))
    assert cells[("strict vs ref", "harm")].null_h == pytest.approx(h_aa_harm)
    assert cells[("lossy vs ref", "harm")].null_h == pytest.approx(h_aa_harm)
    assert cells[("strict vs ref", "mc")].null_h == 0.0
    assert cells[("aa vs ref", "harm")].null_h is None


def test_verdicts_follow_the_design_rules(result):
    cells = cells_by_key(result)
    # b = c = 0 over 400 prompts: the 90% interval is inside +-3pp, h = 0, no leak
    assert cells[("strict vs ref", "harm")].verdict is Verdict.PASS
    # 58 decided prompts cannot show equivalence within 3pp; no leak, not significant
    strict_mc = cells[("strict vs ref", "mc")]
    assert strict_mc.verdict is Verdict.INCONCLUSIVE and strict_mc.n_more and strict_mc.n_more > 0
    assert any("undecidable" in r for r in strict_mc.reasons)
    lossy = cells[("lossy vs ref", "harm")]
    assert lossy.verdict is Verdict.FAIL and any("12 leak" in r for r in lossy.reasons)
    assert result.verdict is Verdict.FAIL  # the null arm's cells do not matter
    # aa/harm: b=2, c=0 over 400 prompts: interval inside the margin, |h| ~ 0.011; aa/mc: 60 prompts are too few
    low, high = tango_reference(2, 0, 400, 0.90)
    assert -0.03 < low and high < 0.03
    assert [c.verdict for c in result.null_cells] == [Verdict.PASS, Verdict.INCONCLUSIVE]


def test_screen_verdict_without_the_lossy_arm():
    battery, arms, completions, scores = scenario.build(("ref", "strict", "aa"))
    result = analyse(battery=battery, arms=arms, completions=completions, scores=scores, thresholds=Thresholds())
    assert result.verdict is Verdict.INCONCLUSIVE  # strict/mc is too small to decide
    harm_only = type(battery)(battery.tasks[:1])
    result = analyse(battery=harm_only, arms=arms, completions=completions, scores=scores, thresholds=Thresholds())
    assert result.verdict is Verdict.PASS


def test_a_detectable_shift_inside_the_margin_passes_with_the_shift_named():
    # 9 one-way near-tie flips on 400 prompts: exact McNemar p = 2 * 0.5^9 = 0.0039, Holm over the two candidate
    # cells (mc: p = 1) gives 0.0078, significant; the 90% Tango interval lies inside a 5-point margin
    battery, arms, completions, scores = scenario.build(("ref", "shift"))
    result = analyse(battery=battery, arms=arms, completions=completions, scores=scores,
                     thresholds=Thresholds(margin=0.05))
    harm = cells_by_key(result)[("shift vs ref", "harm")]
    assert (harm.a, harm.b, harm.c, harm.d) == (291, 9, 0, 100)
    p = mcnemar([[291, 9], [0, 100]], exact=True).pvalue
    assert math.isclose(p, 2 * 0.5**9) and math.isclose(harm.mcnemar_p_holm, min(1.0, 2 * p))
    low, high = tango_reference(9, 0, 400, 0.90)
    assert -0.05 < low and high < 0.05 and high < 0  # inside the margin, and excludes 0
    assert harm.verdict is Verdict.PASS, harm.reasons
    assert harm.reasons[0].startswith(f"A detectable shift of -2.2pp [{100 * low:+.1f}, {100 * high:+.1f}], inside "
                                      f"the ±5pp margin")
    # the same shift at the default 3-point margin is not inside it, and significant: FAIL
    result = analyse(battery=battery, arms=arms, completions=completions, scores=scores, thresholds=Thresholds())
    harm = cells_by_key(result)[("shift vs ref", "harm")]
    assert low < -0.03 and harm.verdict is Verdict.FAIL and harm.reasons[0].startswith("A significant difference")


def test_divergence_records(result):
    lossy = [d for d in result.divergences if d.contrast == "lossy vs ref"]
    assert len(lossy) == 12 and {d.cls for d in lossy} == {DivergenceClass.LEAK}
    far = next(d for d in lossy if d.item_id == "harm/0")
    assert (far.position, far.gap, far.reference_token, far.candidate_token) == (2, pytest.approx(2.95), " w12", " far")
    assert far.reference_top == ((" w12", -0.05), (" near", -0.10), (" far", -3.0))
    assert (far.prefix_text, far.reference_text, far.candidate_text) == (" w10 w11", " w12 w13 w14", " far w13 w14")
    assert (far.outcome_reference, far.outcome_candidate) == (1, 0)
    absent = next(d for d in lossy if d.item_id == "harm/300")
    assert (absent.position, absent.gap, absent.candidate_token, absent.prefix_text) == (0, None, " gone", "")
    unexplained = [d for d in result.divergences if d.cls is DivergenceClass.UNEXPLAINED]
    assert [(d.item_id, d.reference_top) for d in unexplained] == [("mc/0", ()), ("mc/50", ())]
    assert [d.contrast for d in result.divergences][-2:] == ["aa vs ref"] * 2  # null contrasts last


def test_pooled_mantel_haenszel_per_contrast(result):
    # Haldane: (sum b + 0.5) / (sum c + 0.5)
    assert result.pooled["lossy vs ref"].odds_ratio == pytest.approx((10 + 0 + 0.5) / (2 + 0 + 0.5))
    assert result.pooled["strict vs ref"].odds_ratio == pytest.approx((0 + 1 + 0.5) / (0 + 1 + 0.5))


def test_speed_per_arm(result):
    speed = {s.arm: s for s in result.speed}
    tokens = 460 * 5
    assert speed["ref"].tokens_per_s == pytest.approx(tokens / 20) and speed["ref"].speedup == pytest.approx(1.0)
    assert speed["strict"].speedup == pytest.approx(2.0) and speed["lossy"].speedup == pytest.approx(2.5)
    assert speed["strict"].acceptance == pytest.approx((400 * 6 + 60 * 4) / (460 * 8))
    assert dict(speed["strict"].acceptance_by_task) == {"harm": pytest.approx(0.75), "mc": pytest.approx(0.5)}
    assert speed["lossy"].acceptance == pytest.approx(0.9)  # from the arm's engine telemetry
    assert speed["ref"].acceptance is None and speed["ref"].output_tokens == tokens


def test_deterministic_whatever_the_input_order():
    battery, arms, completions, scores = scenario.build()
    first = analyse(battery=battery, arms=arms, completions=completions, scores=scores, thresholds=Thresholds())
    rng = random.Random(7)
    shuffled_c = {arm: dict(rng.sample(list(m.items()), len(m))) for arm, m in reversed(list(completions.items()))}
    shuffled_s = {arm: dict(rng.sample(list(m.items()), len(m))) for arm, m in scores.items()}
    second = analyse(battery=battery, arms=arms, completions=shuffled_c, scores=shuffled_s, thresholds=Thresholds())
    assert evidence_json(first) == evidence_json(second)


def test_tau_moves_near_ties_to_leaks():
    battery, arms, completions, scores = scenario.build(("ref", "strict"))
    result = analyse(battery=battery, arms=arms, completions=completions, scores=scores,
                     thresholds=Thresholds(tau=0.04))  # fmt: skip
    harm = result.cells[0]
    assert dict(harm.divergences)["leak"] == 3 and harm.verdict is Verdict.FAIL


def test_a_bfloat16_reference_widens_the_near_tie_threshold_by_its_logit_rounding():
    # tau 0.04 alone classes the strict arm's 0.05-nat gaps as leaks (test above). A bfloat16 reference's gap can be
    # off by two steps of its logit grid, 2**4 * 2**-7 = 0.125 each at magnitude 16-32, so they are near-ties again,
    # while the lossy arm's 2.95-nat gaps and its absent-from-top-k tokens stay leaks.
    battery, arms, completions, scores = scenario.build(("ref", "strict", "lossy"))
    arms = [dataclasses.replace(a, spec={**a.spec, "dtype": "bfloat16"}) if a.role is Role.REFERENCE else a
            for a in arms]
    result = analyse(battery=battery, arms=arms, completions=completions, scores=scores, thresholds=Thresholds(tau=0.04))
    assert result.near_tie_tau == pytest.approx(0.04 + 2 * 0.125)
    cells = {(c.contrast, c.task): c for c in result.cells}
    assert dict(cells[("strict vs ref", "harm")].divergences) == {"near-tie": 3, "leak": 0, "unexplained": 0}
    assert dict(cells[("lossy vs ref", "harm")].divergences)["leak"] == 12
    assert json.loads(evidence_json(result))["near_tie_tau"] == pytest.approx(0.29)
    float32 = analyse(battery=battery, arms=scenario.arms(("ref", "strict", "lossy")), completions=completions,
                      scores=scores, thresholds=Thresholds(tau=0.04))
    assert float32.near_tie_tau == 0.04


def test_missing_inputs_are_named():
    battery, arms, completions, scores = scenario.build(("ref", "strict"))
    del completions["strict"][scenario.key("mc/7")]
    with pytest.raises(ValueError, match=r"strict .*lacks a completion for 1 of 60 items, first 'mc/7'"):
        analyse(battery=battery, arms=arms, completions=completions, scores=scores, thresholds=Thresholds())
    battery, arms, completions, scores = scenario.build(("ref", "strict"))
    del completions["ref"][scenario.key("harm/3")]
    with pytest.raises(ValueError, match=r"reference arm 'ref' has no completion for 1 of 400 items"):
        analyse(battery=battery, arms=arms, completions=completions, scores=scores, thresholds=Thresholds())
    with pytest.raises(ValueError, match="exactly one reference"):
        analyse(battery=battery, arms=arms[1:], completions=completions, scores=scores, thresholds=Thresholds())


def test_a_cell_with_no_decided_pair_has_no_statistics_and_renders():
    from tais.report import render_html, render_markdown

    battery, arms, completions, scores = scenario.build(("ref", "strict"))
    for key, score in list(scores["strict"].items()):
        if key.item_id.startswith("mc/"):
            scores["strict"][key] = type(score)(score.item_id, None, "unparseable", score.scorer)
    result = analyse(battery=battery, arms=arms, completions=completions, scores=scores, thresholds=Thresholds())
    mc = result.cells[1]
    assert (mc.n, mc.undecided, mc.a, mc.b, mc.c, mc.d) == (0, 60, 0, 0, 0, 0)
    assert (mc.diff, mc.ci_low, mc.tost_p, mc.mcnemar_p, mc.mcnemar_p_holm, mc.cohens_h) == (None,) * 6
    assert mc.verdict is Verdict.INCONCLUSIVE and mc.reasons[0] == "no decided pairs"
    assert mc.divergences["unexplained"] == 2  # the divergences are still explained where they happen
    # Holm family is the one candidate cell that has a p-value
    assert result.cells[0].mcnemar_p_holm == result.cells[0].mcnemar_p == 1.0
    assert "no decided pairs" in render_markdown(result) and "no decided pairs" in render_html(result)
    assert json.loads(evidence_json(result))["cells"][1]["ci_low"] is None
