"""The verdict policy of docs/design.md on constructed cells, and the screen-level rule."""

from __future__ import annotations

import pytest

from tais.screen.verdict import CellDecision, Thresholds, decide_cell, decide_screen, prompts_to_decide
from tais.stats import PairedTable, cohens_h, mcnemar_exact, n_paired_tost, paired_tost
from tais.types import Verdict


def decide(a, b, c, d, *, leaks=0, p_holm=None, thresholds: Thresholds | None = None) -> CellDecision:
    thresholds = thresholds or Thresholds()
    t = PairedTable(a, b, c, d)
    tost = paired_tost(b, c, t.n, margin=thresholds.margin, alpha=thresholds.alpha)
    p = mcnemar_exact(b, c) if p_holm is None else p_holm
    h = cohens_h(t.p_candidate, t.p_reference) if t.n else float("nan")
    return decide_cell(table=t, tost=tost, mcnemar_p_holm=p, cohens_h=h, leaks=leaks, thresholds=thresholds)


def test_pass_needs_equivalence_small_h_and_no_leak():
    got = decide(700, 4, 3, 293)
    assert got.verdict is Verdict.PASS and got.n_more is None
    assert any("inside ±3pp" in r for r in got.reasons)


def test_a_single_leak_fails_an_otherwise_equivalent_cell():
    got = decide(700, 4, 3, 293, leaks=1)
    assert got.verdict is Verdict.FAIL
    assert got.reasons == ("1 leak divergence: the candidate emitted tokens the reference would not choose.",)


def test_holm_significant_mcnemar_fails():
    got = decide(600, 40, 10, 350)
    assert got.verdict is Verdict.FAIL
    assert any("McNemar" in r and "b = 40, c = 10" in r for r in got.reasons)


def test_large_effect_size_fails_even_without_significance():
    # tiny cell: 4 of 5 pairs flip, h is large, the Holm-adjusted p is not significant
    got = decide(0, 4, 0, 1, p_holm=0.5)
    assert got.verdict is Verdict.FAIL
    assert any("|h| = " in r and "reaches the cutoff 0.1" in r for r in got.reasons)


def test_every_failing_condition_is_reported():
    got = decide(600, 80, 10, 310, leaks=3)
    assert got.verdict is Verdict.FAIL and len(got.reasons) == 3


def test_too_few_prompts_is_inconclusive_with_the_prompts_to_decide():
    t = PairedTable(40, 2, 1, 17)
    got = decide(40, 2, 1, 17)
    assert got.verdict is Verdict.INCONCLUSIVE
    expected = n_paired_tost(0.03, 0.05, 0.8, 3 / 60) - 60
    assert got.n_more == expected > 0
    # at n + n_more prompts, the same discordance split evenly (true difference 0) is shown equivalent, at n it is not
    total = t.n + got.n_more
    half = round(total * t.discordant / t.n / 2)
    assert paired_tost(half, half, total).equivalent
    assert not paired_tost(1, 1, t.n).equivalent
    assert f"About {expected} more prompts would decide it (80% power at the observed discordance 5.0%)." in got.reasons


def test_zero_discordance_uses_the_rule_of_three_floor():
    got = decide(30, 0, 0, 20)
    assert got.verdict is Verdict.INCONCLUSIVE
    assert got.n_more == n_paired_tost(0.03, 0.05, 0.8, 3 / 50) - 50
    assert any("rule-of-three bound 6.0% on the discordance; 0 discordant pairs observed)" in r for r in got.reasons)


def test_an_observed_difference_beyond_the_margin_says_more_prompts_will_not_help():
    # 2000 prompts, d = +3.5pp with little discordance: not significant after a large Holm family, h small
    t = PairedTable(1000, 5, 75, 920)
    assert prompts_to_decide(t, Thresholds()) is None
    got = decide(1000, 5, 75, 920, p_holm=0.2, thresholds=Thresholds(h_cutoff=0.2))
    assert got.verdict is Verdict.INCONCLUSIVE and got.n_more is None
    assert any("at or beyond the margin" in r for r in got.reasons)


def test_empty_cell_is_inconclusive():
    got = decide(0, 0, 0, 0, p_holm=1.0)
    assert got.verdict is Verdict.INCONCLUSIVE and got.n_more is None


@pytest.mark.parametrize(
    "cells, expected",
    [([Verdict.PASS, Verdict.PASS], Verdict.PASS), ([Verdict.PASS, Verdict.INCONCLUSIVE], Verdict.INCONCLUSIVE),
     ([Verdict.INCONCLUSIVE, Verdict.FAIL, Verdict.PASS], Verdict.FAIL), ([], Verdict.INCONCLUSIVE),
     (["PASS", "FAIL"], Verdict.FAIL)],
)
def test_screen_rule(cells, expected):
    assert decide_screen(iter(cells)) is expected


def test_thresholds_validate():
    with pytest.raises(ValueError, match="margin"):
        Thresholds(margin=1.5)
    with pytest.raises(ValueError, match="alpha"):
        Thresholds(alpha=0.5)


def test_one_sided_discordance_and_a_difference_at_the_margin_edge_do_not_break_the_prompt_estimate():
    # all discordant pairs one way, enough prompts for the difference-0 case: the estimate still comes back
    got = prompts_to_decide(PairedTable(900, 12, 0, 1088), Thresholds())
    assert got is not None and got > 0
    # a difference a hair inside the margin would need more than 10^9 prompts: reported as None, not an error
    assert prompts_to_decide(PairedTable(0, 0, 2999, 97001), Thresholds()) is None
