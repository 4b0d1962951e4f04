"""Whole-trajectory forensics at temperature 0, judged from both sides.

First-divergence forensics (:mod:`tais.screen.forensics`) reads one token per pair: the first that differs, judged
by the reference alone. Once a pair has diverged, nothing after it is looked at, so a near-tie early in a
completion hides any leak later in it. Here every token of a candidate completion is judged, on the candidate's
own prefix, from two teacher-forced re-scorings of that completion (:meth:`tais.interfaces.Engine.score_tokens`):

- under the **reference** arm: is the candidate's token the reference's top-1 given this prefix, and if not, how far
  below it (``reference gap`` = reference top-1 logprob - reference logprob of the token, nats);
- under the **candidate's own target** (the candidate arm with speculation switched off): is the token that target's
  own top-1 (``candidate gap`` = its top-1 logprob - its logprob of the token, within ``top1_tolerance`` of the
  candidate's dtype, :func:`tais.screen.precision.top1_tolerance`, inclusive up to float32 rounding:
  :data:`~tais.screen.precision.GAP_ROUNDING`).

At every position where the token is not the reference's top-1:

====================================================  =============================================================
the candidate's own target                            class
====================================================  =============================================================
chose it (candidate gap <= tolerance),                ``near-tie``: the two models hold the tokens almost equal
reference gap < near-tie threshold
chose it, reference gap >= threshold                  ``shift``: the candidate's model computes another
                                                      distribution (a real change of the model: judged by outcome
                                                      statistics, never a leak by itself)
did not choose it (candidate gap > tolerance)         ``leak``: the decoding stack emitted a token its own target
                                                      would not have: the stack, not the model, changed the output
cannot be scored (``candidate`` is None)              one-sided: reference gap < tau widened by the dtypes of both
                                                      arms (:func:`~tais.screen.precision.one_sided_threshold`):
                                                      ``near-tie``, else ``leak``; flagged ``one_sided``
====================================================  =============================================================

The near-tie threshold is :func:`~tais.screen.precision.near_tie_threshold` (tau widened by the reference's dtype).

Worked example (tau = 0.1, both arms float32): a candidate emits tokens 5, 7, 9. The reference's top-1 is 5, then
8 (0.05 above 7), then 4 (3.0 above 9); the candidate's own target chose 5, 7 and, at the third position, 4 (9 is
2.0 below it)::

    position 0: 5 is the reference's top-1              -> agreement, not listed
    position 1: reference gap 0.05 < 0.1, own top-1      -> near-tie
    position 2: candidate gap 2.0 > tolerance            -> leak (first-divergence logic would stop at position 1)

    >>> def ps(token, lp, top1, top1_lp):
    ...     return PositionScore(lp, top1, top1_lp, ((top1, top1_lp),))
    >>> ref = TokenScores("t/1", 0, (5, 7, 9), (ps(5, -0.1, 5, -0.1), ps(7, -0.75, 8, -0.7), ps(9, -3.2, 4, -0.2)))
    >>> cand = TokenScores("t/1", 0, (5, 7, 9), (ps(5, -0.1, 5, -0.1), ps(7, -0.6, 7, -0.6), ps(9, -2.5, 4, -0.5)))
    >>> result = classify_trajectory(ref, cand, Tolerances(tau=0.1))
    >>> [(f.position, f.cls.value) for f in result.findings]
    [(1, 'near-tie'), (2, 'leak')]
    >>> [(f.position, f.cls.value) for f in classify_trajectory(ref, None, Tolerances(tau=0.1)).findings]
    [(1, 'near-tie'), (2, 'leak')]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tais.screen.precision import (
    GAP_ROUNDING,
    near_tie_threshold,
    one_sided_threshold,
    top1_tolerance,
)
from tais.types import DivergenceClass, PositionScore, TokenScores, Verdict  # noqa: F401 (PositionScore: doctest)

POSITION_BINS: tuple[tuple[str, int, int], ...] = (
    ("0-7", 0, 8), ("8-15", 8, 16), ("16-31", 16, 32), ("32-63", 32, 64), ("64-127", 64, 128), ("128+", 128, 1 << 62))
"""Token-position bins of the per-cell position distribution: (label, first, end)."""


@dataclass(frozen=True)
class Tolerances:
    """The thresholds of one screen: ``tau`` (nats) and the two arms' dtypes (None when unknown)."""

    tau: float
    reference_dtype: str | None = "float32"
    candidate_dtype: str | None = "float32"

    @property
    def near_tie(self) -> float:
        return near_tie_threshold(self.tau, self.reference_dtype)

    @property
    def one_sided(self) -> float:
        return one_sided_threshold(self.tau, self.reference_dtype, self.candidate_dtype)

    @property
    def candidate_top1(self) -> float:
        return top1_tolerance(self.candidate_dtype)


@dataclass(frozen=True)
class TokenFinding:
    """One position where the candidate's token is not the reference's top-1."""

    position: int
    cls: DivergenceClass
    token_id: int
    reference_top1_id: int
    reference_gap: float
    candidate_gap: float | None
    one_sided: bool

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "class": self.cls.value, "token_id": self.token_id,
                "reference_top1_id": self.reference_top1_id, "reference_gap": self.reference_gap,
                "candidate_gap": self.candidate_gap, "one_sided": self.one_sided}


@dataclass(frozen=True)
class TrajectoryForensics:
    """Every finding of one candidate completion; ``positions`` is how many tokens were judged."""

    item_id: str
    replicate: int
    positions: int
    findings: tuple[TokenFinding, ...]
    one_sided: bool

    def count(self, cls: DivergenceClass) -> int:
        return sum(f.cls is cls for f in self.findings)

    @property
    def leaks(self) -> tuple[TokenFinding, ...]:
        return tuple(f for f in self.findings if f.cls is DivergenceClass.LEAK)


def classify_trajectory(reference: TokenScores, candidate: TokenScores | None, tol: Tolerances) -> TrajectoryForensics:
    """Judge every token of one candidate completion from its re-scoring under the reference arm and (when it could
    be scored) under the candidate's own target; both scorings must be of the same token ids."""
    if candidate is not None and candidate.token_ids != reference.token_ids:
        raise ValueError(f"{reference.item_id}: the two scorings are of different token sequences")
    findings = []
    for i, (token, ref) in enumerate(zip(reference.token_ids, reference.positions)):
        if ref.top1_id == token:
            continue
        cand = None if candidate is None else candidate.positions[i]
        gap = ref.top1_logprob - ref.logprob
        if cand is None:
            cls, own_gap = (DivergenceClass.NEAR_TIE if gap < tol.one_sided else DivergenceClass.LEAK), None
        else:
            own_gap = 0.0 if cand.top1_id == token else max(0.0, cand.top1_logprob - cand.logprob)
            if own_gap > tol.candidate_top1 + GAP_ROUNDING:  # two logit steps inclusive
                cls = DivergenceClass.LEAK
            else:
                cls = DivergenceClass.NEAR_TIE if gap < tol.near_tie else DivergenceClass.SHIFT
        findings.append(TokenFinding(position=i, cls=cls, token_id=int(token), reference_top1_id=ref.top1_id,
                                     reference_gap=gap, candidate_gap=own_gap, one_sided=candidate is None))
    return TrajectoryForensics(item_id=reference.item_id, replicate=reference.replicate,
                               positions=len(reference.positions), findings=tuple(findings),
                               one_sided=candidate is None)


@dataclass(frozen=True)
class CellTrajectoryForensics:
    """Whole-trajectory forensics of one (task, candidate) cell.

    ``counts``: findings by class; ``leak_positions``: (item id, replicate, position) of every leak;
    ``prompts_with_leak``: how many completions hold at least one leak; ``largest_gap``: the largest reference gap
    of any finding (nats); ``position_histogram``: findings by class and :data:`POSITION_BINS` bin;
    ``one_sided``: completions judged by the reference alone; ``positions``: tokens judged in all."""

    counts: tuple[tuple[DivergenceClass, int], ...]
    leak_positions: tuple[tuple[str, int, int], ...]
    prompts_with_leak: int
    largest_gap: float | None
    position_histogram: tuple[tuple[DivergenceClass, tuple[tuple[str, int], ...]], ...]
    one_sided: int
    completions: int
    positions: int

    def count(self, cls: DivergenceClass) -> int:
        return dict(self.counts).get(cls, 0)

    @property
    def verdict(self) -> Verdict:
        """The forensic verdict of the cell alone: FAIL when any token is a leak (the decoding stack emitted a token
        its own target would not have), else PASS. Near-ties and shifts never fail a cell here; a shift is judged
        by the outcome statistics."""
        return Verdict.FAIL if self.count(DivergenceClass.LEAK) else Verdict.PASS

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "counts": {c.value: n for c, n in self.counts},
            "leak_positions": [list(p) for p in self.leak_positions],
            "prompts_with_leak": self.prompts_with_leak,
            "largest_gap": self.largest_gap,
            "position_histogram": {c.value: dict(h) for c, h in self.position_histogram},
            "one_sided": self.one_sided,
            "completions": self.completions,
            "positions": self.positions,
        }


class CellTally:
    """:func:`summarize_cell` one completion at a time: holds the counts and the leak locations only (not the
    completions' findings), so a cell of any size is summarised in memory bounded by its leak count.

    >>> f = TokenFinding(3, DivergenceClass.LEAK, 9, 4, 2.0, 1.5, False)
    >>> tally = CellTally()
    >>> tally.add(TrajectoryForensics("t/1", 0, 8, (f,), False))
    >>> s = tally.summary()
    >>> s.count(DivergenceClass.LEAK), s.leak_positions, s.largest_gap
    (1, (('t/1', 0, 3),), 2.0)
    """

    CLASSES = (DivergenceClass.NEAR_TIE, DivergenceClass.SHIFT, DivergenceClass.LEAK)

    def __init__(self) -> None:
        self.counts: Counter[DivergenceClass] = Counter()
        self.histogram: Counter[tuple[DivergenceClass, str]] = Counter()
        self.leak_positions: list[tuple[str, int, int]] = []
        self.prompts_with_leak = self.one_sided = self.completions = self.positions = 0
        self.largest_gap: float | None = None

    def add(self, result: TrajectoryForensics) -> None:
        for f in result.findings:
            self.counts[f.cls] += 1
            label = next(label for label, lo, hi in POSITION_BINS if lo <= f.position < hi)
            self.histogram[(f.cls, label)] += 1
            self.largest_gap = f.reference_gap if self.largest_gap is None else max(self.largest_gap,
                                                                                    f.reference_gap)
        self.leak_positions += [(result.item_id, result.replicate, f.position) for f in result.leaks]
        self.prompts_with_leak += bool(result.leaks)
        self.one_sided += result.one_sided
        self.completions += 1
        self.positions += result.positions

    def summary(self) -> CellTrajectoryForensics:
        return CellTrajectoryForensics(
            counts=tuple((cls, self.counts.get(cls, 0)) for cls in self.CLASSES),
            leak_positions=tuple(self.leak_positions),
            prompts_with_leak=self.prompts_with_leak,
            largest_gap=self.largest_gap,
            position_histogram=tuple((cls, tuple((label, self.histogram.get((cls, label), 0))
                                                 for label, _, _ in POSITION_BINS)) for cls in self.CLASSES),
            one_sided=self.one_sided,
            completions=self.completions,
            positions=self.positions,
        )


def summarize_cell(results: Sequence[TrajectoryForensics]) -> CellTrajectoryForensics:
    """Per-cell counts, leak locations and position distribution of many completions' forensics."""
    tally = CellTally()
    for r in results:
        tally.add(r)
    return tally.summary()
