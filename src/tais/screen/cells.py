"""Per-cell statistics and verdicts: one cell is one (contrast, task).

For each cell the decided pairs (both outcomes 0/1) form the 2x2 table ``(a, b, c, d)`` (see
:mod:`tais.screen.result`). From it, through :mod:`tais.stats`:

- ``diff`` = (c - b) / n with its Tango score interval at 1 - 2 alpha, and the paired TOST against the margin;
- exact McNemar p on (b, c), Holm-adjusted across every candidate cell of the screen (one family); null cells form
  their own family, so an A/A arm never dilutes nor inflates the candidates' correction;
- Cohen's h of the two marginal rates, with ``null_h`` (largest |h| of the null cells on the same task) beside it;
- 95% Wilson intervals of both rates;
- the verdict from :func:`tais.screen.verdict.decide_cell`, fed the number of ``leak`` divergences of the cell.

Worked example: 40 pairs with a=30, b=3, c=1, d=6 give p_R = 33/40 = 0.825, p_C = 31/40 = 0.775, diff = -0.05,
exact McNemar p = 2 * P(Binom(4, 0.5) <= 1) = 0.625.

A cell with no decided pair has no statistics: it is INCONCLUSIVE (FAIL if it has a leak).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tais.screen.forensics import DivergenceInfo
from tais.screen.pairing import Pair
from tais.screen.result import CellResult
from tais.screen.verdict import decide_cell
from tais.stats import (
    PairedTable,
    cohens_h,
    holm,
    mcnemar_exact,
    paired_tost,
    tango_interval,
    wilson_interval,
)
from tais.types import DivergenceClass, Role, Thresholds, Verdict

FIRST_DIVERGENCE_CLASSES = tuple(c for c in DivergenceClass if c is not DivergenceClass.SHIFT)
"""The classes of first-divergence forensics (``shift`` exists only in whole-trajectory forensics)."""


@dataclass(frozen=True)
class CellInput:
    """The pairs of one cell and the first divergence of each (None for an identical pair), in the same order."""

    contrast: str
    candidate: str
    reference: str
    task: str
    role: Role
    pairs: Sequence[Pair]
    divergences: Sequence[DivergenceInfo | None]


@dataclass
class CellTally:
    """The counts a cell's statistics come from, gathered one pair at a time (:meth:`add`), so a cell of any size
    costs constant memory: the streaming analysis (:mod:`tais.pipeline.stream`) feeds it straight from the store and
    :func:`build_cells` from a :class:`CellInput`.

    >>> t = CellTally("s vs r", "s", "r", "harm", Role.CANDIDATE)
    >>> t.add(True, None, 1, 1, None); t.add(False, False, 1, 0, DivergenceClass.LEAK); t.add(True, True, None, 1, None)
    >>> (t.a, t.b, t.c, t.d), t.undecided, t.identical_text, (t.identical_tokens, t.token_pairs)
    ((1, 1, 0, 0), 1, 2, (1, 2))
    """

    contrast: str
    candidate: str
    reference: str
    task: str
    role: Role
    a: int = 0
    b: int = 0
    c: int = 0
    d: int = 0
    undecided: int = 0
    identical_text: int = 0
    identical_tokens: int = 0
    token_pairs: int = 0
    counts: dict[DivergenceClass, int] = field(default_factory=lambda: {cls: 0 for cls in FIRST_DIVERGENCE_CLASSES})

    def add(self, identical_text: bool, identical_tokens: bool | None, outcome_reference: int | None,
            outcome_candidate: int | None, divergence: DivergenceClass | None) -> None:
        """Count one pair: its identity, its two outcomes (None: undecided) and its first divergence's class."""
        self.identical_text += bool(identical_text)
        if identical_tokens is not None:
            self.token_pairs += 1
            self.identical_tokens += bool(identical_tokens)
        if divergence is not None:
            self.counts[divergence] += 1
        self._count(outcome_reference, outcome_candidate, 1)

    def rescore(self, old: tuple[int | None, int | None], new: tuple[int | None, int | None]) -> None:
        """Move one counted pair's outcomes from ``old`` (reference, candidate) to ``new``: what a second scorer's
        reading of the pair changes (its identity and divergence stay counted as they were).

        >>> t = CellTally("s vs r", "s", "r", "harm", Role.CANDIDATE)
        >>> t.add(False, None, 1, 0, None); t.rescore((1, 0), (1, 1)); t.rescore((1, 1), (None, 1))
        >>> (t.a, t.b, t.c, t.d), t.undecided
        ((0, 0, 0, 0), 1)
        """
        self._count(*old, -1)
        self._count(*new, 1)

    def _count(self, outcome_reference: int | None, outcome_candidate: int | None, step: int) -> None:
        if outcome_reference is None or outcome_candidate is None:
            self.undecided += step
            return
        for name, y in (("y_reference", outcome_reference), ("y_candidate", outcome_candidate)):
            if y not in (0, 1):
                raise ValueError(f"{name} must hold only 0 and 1, found {y!r}")
        if outcome_reference:
            if outcome_candidate:
                self.a += step
            else:
                self.b += step
        elif outcome_candidate:
            self.c += step
        else:
            self.d += step


def tally_of(cell: CellInput) -> CellTally:
    """The counts of a cell given as pairs."""
    tally = CellTally(cell.contrast, cell.candidate, cell.reference, cell.task, cell.role)
    for pair, info in zip(cell.pairs, cell.divergences):
        tally.add(pair.identical_text, pair.identical_tokens, pair.outcome_reference, pair.outcome_candidate,
                  None if info is None else info.cls)
    return tally


def build_cells(inputs: Sequence[CellInput], thresholds: Thresholds) -> list[CellResult]:
    """Statistics and verdict of every cell, in the order given (Holm within each role; null_h from the null cells)."""
    return cells_from_tallies([tally_of(cell) for cell in inputs], thresholds)


def cells_from_tallies(tallies: Sequence[CellTally], thresholds: Thresholds) -> list[CellResult]:
    """:func:`build_cells` from each cell's counts."""
    raw = [_raw_cell(cell, thresholds) for cell in tallies]
    for role in (Role.CANDIDATE, Role.NULL):
        index = [i for i, cell in enumerate(raw) if cell.role is role and cell.mcnemar_p is not None]
        if index:
            adjusted = holm([p for i in index if (p := raw[i].mcnemar_p) is not None])
            for i, p in zip(index, adjusted):
                raw[i] = replace(raw[i], mcnemar_p_holm=float(p))
    floor: dict[str, float] = {}
    for cell in raw:
        if cell.role is Role.NULL and cell.cohens_h is not None:
            floor[cell.task] = max(floor.get(cell.task, 0.0), abs(cell.cohens_h))
    return [_decide(replace(cell, null_h=floor.get(cell.task) if cell.role is Role.CANDIDATE else None), thresholds)
            for cell in raw]


def _raw_cell(cell: CellTally, thresholds: Thresholds) -> CellResult:
    common: dict[str, Any] = dict(
        contrast=cell.contrast,
        candidate=cell.candidate,
        reference=cell.reference,
        task=cell.task,
        role=cell.role,
        undecided=cell.undecided,
        identical_text=cell.identical_text,
        identical_tokens=cell.identical_tokens if cell.token_pairs else None,
        token_pairs=cell.token_pairs,
        divergences=dict(cell.counts),
        mcnemar_p_holm=None,
        null_h=None,
        verdict=Verdict.INCONCLUSIVE,
        reasons=(),
        n_more=None,
    )
    table = PairedTable(cell.a, cell.b, cell.c, cell.d)
    if not table.n:
        return CellResult(
            **common, n=0, a=0, b=0, c=0, d=0, p_reference=None, p_candidate=None, diff=None, ci_low=None,
            ci_high=None, tost_p=None, equivalent=False, mcnemar_p=None, cohens_h=None, wilson_reference=None,
            wilson_candidate=None,
        )  # fmt: skip
    level = 1.0 - 2.0 * thresholds.alpha
    ci_low, ci_high = tango_interval(table.b, table.c, table.n, level=level)
    tost = paired_tost(table.b, table.c, table.n, margin=thresholds.margin, alpha=thresholds.alpha)
    return CellResult(
        **common,
        n=table.n,
        a=table.a,
        b=table.b,
        c=table.c,
        d=table.d,
        p_reference=float(table.p_reference),
        p_candidate=float(table.p_candidate),
        diff=float(table.diff),
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        tost_p=float(tost.p_value),
        equivalent=bool(tost.equivalent),
        mcnemar_p=float(mcnemar_exact(table.b, table.c)),
        cohens_h=float(cohens_h(table.p_candidate, table.p_reference)),
        wilson_reference=_pair(wilson_interval(table.a + table.b, table.n)),
        wilson_candidate=_pair(wilson_interval(table.a + table.c, table.n)),
    )


def _decide(cell: CellResult, thresholds: Thresholds) -> CellResult:
    leaks = cell.divergences.get(DivergenceClass.LEAK, 0)
    undecided_note = (
        (f"{cell.undecided} of {cell.pairs} pairs have an undecidable score and are left out of the table",)
        if cell.undecided
        else ()
    )
    if cell.n == 0:
        if leaks:
            return replace(cell, verdict=Verdict.FAIL, reasons=(f"{leaks} leak divergence(s)",) + undecided_note)
        return replace(cell, verdict=Verdict.INCONCLUSIVE, reasons=("no decided pairs",) + undecided_note)
    table = PairedTable(cell.a, cell.b, cell.c, cell.d)
    tost = paired_tost(table.b, table.c, table.n, margin=thresholds.margin, alpha=thresholds.alpha)
    decision = decide_cell(
        table=table,
        tost=tost,
        mcnemar_p_holm=cell.mcnemar_p_holm if cell.mcnemar_p_holm is not None else 1.0,
        cohens_h=cell.cohens_h if cell.cohens_h is not None else 0.0,
        leaks=leaks,
        thresholds=thresholds,
    )
    return replace(
        cell,
        verdict=Verdict(decision.verdict),
        reasons=tuple(decision.reasons) + undecided_note,
        n_more=None if decision.n_more is None else int(decision.n_more),
    )


decide = _decide
"""The cell policy on a built cell (its leak count read from ``divergences``), public for
:func:`tais.screen.token_cells.apply_token_evidence`."""


def _pair(interval: tuple[float, float]) -> tuple[float, float]:
    low, high = interval
    return float(low), float(high)
