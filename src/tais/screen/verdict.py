"""The verdict policy (docs/design.md, "The method": verdict per cell, verdict of the screen) as pure functions.

The :class:`~tais.types.Thresholds` it decides with live in :mod:`tais.types` (the run plan stores them).

Terms: a *cell* is one (contrast, task) pair with its paired table. Per cell:

- PASS: the paired TOST shows equivalence (the 1 - 2*alpha Tango interval lies inside (-margin, +margin)), |h| is
  below the cutoff, and no divergence is a ``leak``.
- FAIL: the Holm-adjusted exact McNemar p-value is below alpha, |h| >= cutoff, or at least one ``leak``.
- INCONCLUSIVE: anything else. ``n_more`` is the number of additional prompts that would give the paired TOST the
  target power at the observed discordance rate (b + c) / n and a true difference of 0, minus the prompts already
  run. When no pair is discordant the observed rate is 0, which would promise equivalence from nothing; the rule of
  three's 95% upper bound 3 / n is used instead as a conservative floor. When n already suffices at a difference of 0
  (the observed difference is what keeps the interval wide), the power is computed at the observed difference d, with
  the discordance raised to at least |d| + 3/n (all discordant pairs one way leave the other direction's rate at its
  rule-of-three bound); when the observed difference is at or beyond the margin, more prompts are not expected to
  show equivalence and ``n_more`` is None.

Screen: PASS only if every cell passes; FAIL if any cell fails; otherwise INCONCLUSIVE (also for a screen with no
cells: nothing was shown).

Worked example: 400 prompts, b = 3, c = 2 (1.25% discordance), no leak::

    >>> from tais.stats import PairedTable, paired_tost, cohens_h
    >>> t = PairedTable(a=300, b=3, c=2, d=95)
    >>> d = decide_cell(table=t, tost=paired_tost(3, 2, 400), mcnemar_p_holm=1.0,
    ...                 cohens_h=cohens_h(t.p_candidate, t.p_reference), leaks=0, thresholds=Thresholds())
    >>> d.verdict.value, d.n_more
    ('PASS', None)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Iterable

from tais.stats import PairedTable, TostResult, n_paired_tost
from tais.types import Thresholds, Verdict


@dataclass(frozen=True)
class CellDecision:
    """Verdict of one cell, the reasons behind it (short sentences with the figures), and for an INCONCLUSIVE cell
    the additional prompts that would decide it (None otherwise, or when more prompts are not expected to help)."""

    verdict: Verdict
    reasons: tuple[str, ...]
    n_more: int | None


def _pp(x: float) -> str:
    return f"{100.0 * x:+.1f}pp"


def prompts_to_decide(table: PairedTable, thresholds: Thresholds) -> int | None:
    """Additional prompts that give the paired TOST ``thresholds.power`` at the observed discordance (see the module
    docstring for the zero-discordance floor and the fallbacks). None when more prompts are not expected to help.

    >>> prompts_to_decide(PairedTable(a=40, b=0, c=0, d=10), Thresholds())   # floor 3/50 = 6% discordance
    579
    """
    return _prompts_plan(table, thresholds)[0]


def _prompts_plan(table: PairedTable, thresholds: Thresholds) -> tuple[int | None, str]:
    """(additional prompts or None, a sentence saying what the figure assumes or why there is none)."""
    n = table.n
    if n == 0:
        return None, "No decided pairs, so no basis for a sample size."
    observed = table.discordant / n
    floor = 3.0 / n
    discordance = min(max(observed, floor), 1.0)
    if observed >= floor:
        basis = f"the observed discordance {100 * observed:.1f}%"
    else:
        basis = (f"the rule-of-three bound {100 * floor:.1f}% on the discordance; {table.discordant} discordant "
                 f"pair{'s' if table.discordant != 1 else ''} observed")
    m, a, pw = thresholds.margin, thresholds.alpha, thresholds.power
    needed = n_paired_tost(m, a, pw, discordance)
    if needed > n:
        return needed - n, f"About {needed - n} more prompts would decide it ({100 * pw:g}% power at {basis})."
    diff = table.diff
    beyond = (f"The observed difference {_pp(diff)} is at or beyond the margin ±{100 * m:g}pp; more prompts are not "
              f"expected to show equivalence.")
    if abs(diff) >= m:
        return None, beyond
    discordance = min(max(discordance, abs(diff) + floor), 1.0)
    try:
        needed = n_paired_tost(m, a, pw, discordance, difference=diff)
    except ValueError:
        return None, (f"The observed difference {_pp(diff)} is so close to the margin ±{100 * m:g}pp that no "
                      f"feasible number of prompts would show equivalence.")
    more = max(needed - n, 1)
    return more, (f"About {more} more prompts would decide it ({100 * pw:g}% power if the true difference is the "
                  f"observed {_pp(diff)}, at discordance {100 * discordance:.1f}%).")


def decide_cell(*, table: PairedTable, tost: TostResult, mcnemar_p_holm: float, cohens_h: float, leaks: int,
                thresholds: Thresholds) -> CellDecision:
    """Apply the per-cell policy. ``tost`` must be the paired TOST of ``table`` at the thresholds' margin and alpha;
    ``mcnemar_p_holm`` the Holm-adjusted exact McNemar p-value; ``leaks`` the number of ``leak`` divergences."""
    m, alpha, cutoff = thresholds.margin, thresholds.alpha, thresholds.h_cutoff
    level = round(100 * (1 - 2 * alpha))
    ci = f"{level}% Tango CI [{_pp(tost.ci_low)}, {_pp(tost.ci_high)}]"
    h_abs = abs(cohens_h) if not math.isnan(cohens_h) else math.nan

    failures = []
    if mcnemar_p_holm < alpha:
        failures.append(f"McNemar difference is significant after Holm (p = {mcnemar_p_holm:.3g} < {alpha:g}; "
                        f"b = {table.b}, c = {table.c}).")
    if h_abs >= cutoff:
        failures.append(f"|h| = {h_abs:.3f} reaches the cutoff {cutoff:g} "
                        f"(p_R = {table.p_reference:.3f}, p_C = {table.p_candidate:.3f}).")
    if leaks > 0:
        failures.append(f"{leaks} leak divergence{'s' if leaks != 1 else ''}: the candidate emitted tokens the "
                        f"reference would not choose.")
    if failures:
        return CellDecision(Verdict.FAIL, tuple(failures), None)

    if tost.equivalent and h_abs < cutoff:
        return CellDecision(Verdict.PASS, (
            f"Equivalent: {ci} lies inside ±{100 * m:g}pp (TOST p = {tost.p_value:.3g}).",
            f"|h| = {h_abs:.3f} < {cutoff:g}.",
            "No leak divergences.",
        ), None)

    reasons = []
    if table.n:
        reasons.append(f"Not shown equivalent: {ci} is not inside ±{100 * m:g}pp (n = {table.n}, "
                       f"TOST p = {tost.p_value:.3g}).")
    n_more, basis = _prompts_plan(table, thresholds)
    reasons.append(basis)
    return CellDecision(Verdict.INCONCLUSIVE, tuple(reasons), n_more)


def decide_screen(verdicts: Iterable[Verdict]) -> Verdict:
    """PASS only if every cell passes; FAIL if any cell fails; otherwise INCONCLUSIVE (including no cells).

    >>> decide_screen([Verdict.PASS, Verdict.INCONCLUSIVE]).value, decide_screen([Verdict.PASS]).value
    ('INCONCLUSIVE', 'PASS')
    """
    seen = [Verdict(v) for v in verdicts]
    if any(v is Verdict.FAIL for v in seen):
        return Verdict.FAIL
    if seen and all(v is Verdict.PASS for v in seen):
        return Verdict.PASS
    return Verdict.INCONCLUSIVE
