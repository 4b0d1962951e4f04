"""Token-level evidence of a screen's cells (issue 16), and how it decides the leak rule of a cell.

Per (arm, task) cell, built by :mod:`tais.pipeline.token_evidence` from the teacher-forced scorings of the
re-scoring phase (:mod:`tais.pipeline.rescoring`):

- ``trajectory``: whole-trajectory forensics of every differing completion (:mod:`tais.screen.trajectory`): counts
  by class (``near-tie`` / ``shift`` / ``leak``), leak positions, prompts with a leak, the largest gap, the position
  distribution;
- ``leaks``: each leak located (item, replicate, position, the emitted token and the reference's top-1);
- ``strips``: per differing completion, the reference's gap at each of its tokens (the report draws them);
- ``kl``: the KL / same-top-1 / Δp summary over the reference's completions (:mod:`tais.screen.token_metrics`),
  ``kl_exact`` False where KL is the top-k lower bound (Δp and same-top-1 are exact either way).

**The leak rule** (:func:`apply_token_evidence`): where a candidate cell is *two-sided* (its own target could be
teacher-forced), the whole-trajectory view decides: a leak anywhere in a completion fails the cell, and a
first-divergence ``leak`` that the two-sided view classes as a near-tie or shift does not. Where it is one-sided
(the target cannot teacher-force) or there is no token evidence, the first-divergence rule decides, as before. The
first reason of the cell says which view decided. Null cells keep their verdict (they are the noise floor).

    >>> from tais.screen.trajectory import summarize_cell
    >>> ev = CellTokenEvidence("spec", "t", True, None, 0, summarize_cell([]), (), (), None, False)
    >>> decided_by(ev, first_divergence_leaks=2)
    ('two-sided whole trajectory', 0)
    >>> decided_by(replace(ev, two_sided=False, one_sided_reason="no scoring"), first_divergence_leaks=2)
    ('first divergence (one-sided: no scoring)', 2)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tais.screen.result import CellResult
from tais.screen.trajectory import CellTrajectoryForensics
from tais.types import DivergenceClass, Role, Thresholds


@dataclass(frozen=True)
class LeakSite:
    """One leak: where it is and which tokens (ids; text where the completion carried it)."""

    item_id: str
    replicate: int
    position: int
    token_id: int
    token: str | None
    reference_top1_id: int
    reference_gap: float
    candidate_gap: float | None


@dataclass(frozen=True)
class TokenStrip:
    """One differing completion of a cell, token by token: ``gaps[i]`` the reference's top-1 logprob minus its
    logprob of token ``token_ids[i]`` (0 where the reference agrees), ``classes[i]`` the finding there (None:
    agreement), ``tokens[i]`` the token's text where known."""

    item_id: str
    replicate: int
    token_ids: tuple[int, ...]
    tokens: tuple[str, ...] | None
    gaps: tuple[float, ...]
    classes: tuple[DivergenceClass | None, ...]


@dataclass(frozen=True)
class CellTokenEvidence:
    """The token evidence of one (arm, task) cell; see the module docstring. ``unscored``: differing completions
    with no re-scoring (first-divergence forensics only)."""

    arm: str
    task: str
    two_sided: bool
    one_sided_reason: str | None
    unscored: int
    trajectory: CellTrajectoryForensics
    leaks: tuple[LeakSite, ...]
    strips: tuple[TokenStrip, ...]
    kl: Mapping[str, Any] | None
    kl_exact: bool

    def to_dict(self) -> dict[str, Any]:
        """The evidence.json form (strips are drawn in the report, not written into the evidence)."""
        return {"arm": self.arm, "task": self.task, "two_sided": self.two_sided,
                "one_sided_reason": self.one_sided_reason, "unscored": self.unscored,
                "trajectory": self.trajectory.to_dict(),
                "leaks": [leak.__dict__ for leak in self.leaks],
                "kl": None if self.kl is None else dict(self.kl), "kl_exact": self.kl_exact,
                "approximate": [] if self.kl is None or self.kl_exact else ["kl_mean", "kl_mean_se", "kl_percentiles"]}


@dataclass(frozen=True)
class TokenEvidence:
    """The token evidence of a run: ``available`` False (with ``reason``) when the reference cannot teacher-force."""

    available: bool
    reason: str | None
    tau: float
    cells: tuple[CellTokenEvidence, ...]

    def cell(self, arm: str, task: str) -> CellTokenEvidence | None:
        return next((c for c in self.cells if c.arm == arm and c.task == task), None)

    def to_dict(self) -> dict[str, Any]:
        return {"token_evidence_version": 1, "available": self.available, "reason": self.reason, "tau": self.tau,
                "cells": [c.to_dict() for c in self.cells]}


def decided_by(ev: CellTokenEvidence | None, *, first_divergence_leaks: int) -> tuple[str, int]:
    """(which view decides the leak rule, the leak count it gives)."""
    if ev is None:
        return "first divergence (no token evidence)", first_divergence_leaks
    if not ev.two_sided:
        return f"first divergence (one-sided: {ev.one_sided_reason})", first_divergence_leaks
    return "two-sided whole trajectory", ev.trajectory.count(DivergenceClass.LEAK)


Decide = Callable[[CellResult, Thresholds], CellResult]


def apply_token_evidence(cells: Sequence[CellResult], evidence: TokenEvidence, thresholds: Thresholds,
                         decide: Decide) -> tuple[CellResult, ...]:
    """The candidate cells re-decided with the leak count of the view that decides (module docstring); ``decide``
    is the cell policy (:func:`tais.screen.cells.decide`), fed the cell with that leak count."""
    if not evidence.available:  # the evidence section says why; the first-divergence rule decides, as without it
        return tuple(cells)
    out = []
    for cell in cells:
        ev = evidence.cell(cell.candidate, cell.task)
        if cell.role is not Role.CANDIDATE:
            out.append(cell)
            continue
        fd = cell.divergences.get(DivergenceClass.LEAK, 0)
        view, leaks = decided_by(ev, first_divergence_leaks=fd)
        if ev is None or not ev.two_sided:
            out.append(replace(cell, reasons=(f"Leak rule decided by the {view}.",) + cell.reasons))
            continue
        decided = decide(replace(cell, divergences={**cell.divergences, DivergenceClass.LEAK: leaks}), thresholds)
        where = "" if not ev.leaks else (f" (first: {ev.leaks[0].item_id}#{ev.leaks[0].replicate} at token "
                                         f"{ev.leaks[0].position})")
        note = (f"Leak rule decided by the {view}: {leaks} leak token(s) in {ev.trajectory.prompts_with_leak} of "
                f"{ev.trajectory.completions} differing completion(s){where}; the first-divergence view counted "
                f"{fd}.")
        out.append(replace(decided, divergences=cell.divergences, reasons=(note,) + decided.reasons))
    return tuple(out)
