"""The two-sided leak rule on the synthetic screen of :mod:`helpers.screen_scenario`: whole-trajectory leaks fail a
cell that first divergence passes, and first-divergence leaks that both sides class as near-ties no longer fail it;
a one-sided cell keeps the first-divergence rule; unavailable evidence changes nothing."""

from __future__ import annotations

import pytest

from helpers import screen_scenario as scenario
from tais.screen.analyse import analyse
from tais.screen.cells import decide
from tais.screen.token_cells import (
    CellTokenEvidence,
    TokenEvidence,
    apply_token_evidence,
)
from tais.screen.trajectory import TokenFinding, TrajectoryForensics, summarize_cell
from tais.types import DivergenceClass, Role, Thresholds, Verdict


@pytest.fixture(scope="module")
def cells():
    battery, arms, completions, scores = scenario.build()
    result = analyse(battery=battery, arms=arms, completions=completions, scores=scores, thresholds=Thresholds())
    return {(c.candidate, c.task): c for c in result.cells}


def _evidence(arm: str, task: str, cls: DivergenceClass, *, two_sided: bool = True) -> CellTokenEvidence:
    finding = TokenFinding(12, cls, 7, 5, 3.0 if cls is DivergenceClass.LEAK else 0.01, None, not two_sided)
    trajectory = summarize_cell([TrajectoryForensics("harm/1", 0, 20, (finding,), not two_sided)])
    return CellTokenEvidence(arm, task, two_sided, None if two_sided else "no scoring", 0, trajectory, (), (), None,
                             False)


def test_a_leak_after_the_first_divergence_fails_a_passing_cell(cells):
    strict = cells[("strict", "harm")]
    assert strict.verdict is Verdict.PASS and strict.divergences.get(DivergenceClass.LEAK, 0) == 0
    evidence = TokenEvidence(True, None, 0.1, (_evidence("strict", "harm", DivergenceClass.LEAK),))
    [out] = apply_token_evidence([strict], evidence, Thresholds(), decide)
    assert out.verdict is Verdict.FAIL and out.reasons[0].startswith("Leak rule decided by the two-sided whole")
    assert out.divergences == strict.divergences  # the first-divergence counts are kept as they were


def test_first_divergence_leaks_that_both_sides_call_near_ties_do_not_fail(cells):
    lossy = cells[("lossy", "harm")]
    assert lossy.divergences[DivergenceClass.LEAK] == 12 and any("leak divergence" in r for r in lossy.reasons)
    evidence = TokenEvidence(True, None, 0.1, (_evidence("lossy", "harm", DivergenceClass.NEAR_TIE),))
    [out] = apply_token_evidence([lossy], evidence, Thresholds(), decide)
    assert not any("leak divergence" in r for r in out.reasons[1:])
    assert "counted 12" in out.reasons[0]


def test_one_sided_and_unavailable_evidence_keep_the_first_divergence_rule(cells):
    strict = cells[("strict", "harm")]
    one_sided = TokenEvidence(True, None, 0.1, (_evidence("strict", "harm", DivergenceClass.LEAK, two_sided=False),))
    [out] = apply_token_evidence([strict], one_sided, Thresholds(), decide)
    assert out.verdict is Verdict.PASS and "one-sided: no scoring" in out.reasons[0]
    unavailable = TokenEvidence(False, "the reference cannot teacher-force", 0.1, ())
    assert apply_token_evidence([strict], unavailable, Thresholds(), decide) == (strict,)
    null = next(c for c in cells.values() if c.role is Role.NULL)
    assert apply_token_evidence([null], one_sided, Thresholds(), decide) == (null,)
