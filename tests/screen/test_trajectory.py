"""Whole-trajectory forensics on hand-built scorings: every class, both sides, the one-sided fallback, and the
per-cell summary."""

from __future__ import annotations

import pytest

from tais.screen.trajectory import Tolerances, classify_trajectory, summarize_cell
from tais.types import DivergenceClass, PositionScore, TokenScores

NT, SH, LK = DivergenceClass.NEAR_TIE, DivergenceClass.SHIFT, DivergenceClass.LEAK


def pos(logprob: float, top1: int, top1_lp: float) -> PositionScore:
    return PositionScore(logprob, top1, top1_lp, ((top1, top1_lp),))


def scores(tokens, positions, item="t/1"):
    return TokenScores(item, 0, tuple(tokens), tuple(positions))


def test_each_class_from_both_sides():
    tokens = (1, 2, 3, 4, 5)
    ref = scores(tokens, [pos(-0.1, 1, -0.1),      # agreement
                          pos(-0.8, 9, -0.75),     # ref gap 0.05
                          pos(-4.0, 9, -0.5),      # ref gap 3.5
                          pos(-4.0, 9, -0.5),      # ref gap 3.5
                          pos(-0.8, 9, -0.75)])    # ref gap 0.05
    cand = scores(tokens, [pos(-0.1, 1, -0.1),
                           pos(-0.7, 2, -0.7),     # its own top-1
                           pos(-0.3, 3, -0.3),     # its own top-1: the model itself moved
                           pos(-6.0, 8, -0.2),     # 5.8 below its own top-1
                           pos(-0.80001, 8, -0.8)])  # 1e-5 below its own top-1: within float32 tolerance
    result = classify_trajectory(ref, cand, Tolerances(tau=0.1))
    assert [(f.position, f.cls) for f in result.findings] == [(1, NT), (2, SH), (3, LK), (4, NT)]
    assert result.positions == 5 and not result.one_sided
    assert [f.position for f in result.leaks] == [3]
    assert result.findings[2].candidate_gap == pytest.approx(5.8)
    assert result.findings[1].reference_gap == pytest.approx(3.5)


def test_candidate_dtype_sets_the_own_top1_tolerance():
    """A token 0.2 nats below the candidate target's top-1 is its choice in bfloat16 (two 0.125 steps) but a leak in
    float32."""
    ref = scores((2,), [pos(-0.8, 9, -0.75)])
    cand = scores((2,), [pos(-0.9, 8, -0.7)])
    assert classify_trajectory(ref, cand, Tolerances(0.1, "float32", "bfloat16")).findings[0].cls is NT
    assert classify_trajectory(ref, cand, Tolerances(0.1, "float32", "float32")).findings[0].cls is LK


def test_a_gap_of_exactly_two_bfloat16_steps_is_the_targets_choice_up_to_float32_rounding():
    """vLLM-CPU, bfloat16 vs float32, 150 prompts x 32 tokens: the candidate's token was two bfloat16 logit steps
    below its target's teacher-forced top-1, computed as 0.25000012 nats: within the tolerance, not a leak. A token
    a hundredth of a nat further down is a leak (positive control)."""
    ref = scores((2,), [pos(-0.9, 9, -0.75)])
    at_edge = scores((2,), [pos(-0.7 - 0.25000012, 8, -0.7)])
    beyond = scores((2,), [pos(-0.7 - 0.26, 8, -0.7)])
    tol = Tolerances(0.1, "float32", "bfloat16")
    assert classify_trajectory(ref, at_edge, tol).findings[0].cls is SH
    assert classify_trajectory(ref, beyond, tol).findings[0].cls is LK


def test_one_sided_fallback_widens_tau_by_both_dtypes():
    ref = scores((2, 3), [pos(-1.0, 9, -0.5),   # gap 0.5: < 0.1 + 2*0.125 + 2*0.125 = 0.6 with two bf16 arms
                          pos(-1.2, 9, -0.5)])  # gap 0.7: a leak either way
    both_bf16 = classify_trajectory(ref, None, Tolerances(0.1, "bfloat16", "bfloat16"))
    assert [(f.cls, f.one_sided) for f in both_bf16.findings] == [(NT, True), (LK, True)] and both_bf16.one_sided
    ref_only_bf16 = classify_trajectory(ref, None, Tolerances(0.1, "bfloat16", "float32"))  # threshold 0.35
    assert [f.cls for f in ref_only_bf16.findings] == [LK, LK]


def test_scorings_of_different_tokens_are_refused():
    with pytest.raises(ValueError, match="different token sequences"):
        classify_trajectory(scores((1,), [pos(-0.1, 1, -0.1)]), scores((2,), [pos(-0.1, 2, -0.1)]), Tolerances(0.1))


def test_cell_summary_counts_locates_leaks_and_bins_positions():
    leak_at_9 = scores(range(12), [pos(-0.1, t, -0.1) for t in range(9)] + [pos(-5.0, 99, -0.1)]
                       + [pos(-0.1, t, -0.1) for t in (10, 11)], item="t/1")
    cand_9 = scores(range(12), [pos(-0.1, t, -0.1) for t in range(9)] + [pos(-5.0, 98, -0.1)]
                    + [pos(-0.1, t, -0.1) for t in (10, 11)], item="t/1")
    tie_at_2 = scores((0, 1, 2), [pos(-0.1, 0, -0.1), pos(-0.1, 1, -0.1), pos(-0.72, 7, -0.7)], item="t/2")
    cell = summarize_cell([classify_trajectory(leak_at_9, cand_9, Tolerances(0.1)),
                           classify_trajectory(tie_at_2, None, Tolerances(0.1))])
    assert cell.count(LK) == 1 and cell.count(NT) == 1 and cell.count(SH) == 0
    assert cell.leak_positions == (("t/1", 0, 9),) and cell.prompts_with_leak == 1
    assert cell.largest_gap == pytest.approx(4.9)
    assert dict(dict(cell.position_histogram)[LK])["8-15"] == 1
    assert dict(dict(cell.position_histogram)[NT])["0-7"] == 1
    assert (cell.one_sided, cell.completions, cell.positions) == (1, 2, 15)
    assert cell.to_dict()["counts"] == {"near-tie": 1, "shift": 0, "leak": 1}
