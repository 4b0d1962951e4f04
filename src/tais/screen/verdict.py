"""The verdict policy (docs/design.md, "The method": verdict per cell, verdict of the screen) as pure functions.

The :class:`~tais.types.Thresholds` it decides with live in :mod:`tais.types` (the run plan stores them).

Terms: a *cell* is one (contrast, task) pair with its paired table. The per-cell policy is the equivalence/difference
decision matrix, applied in this order:

1. FAIL on mechanism or size: at least one ``leak`` divergence (whatever the rates), or |h| at or over the cutoff.
2. PASS when the paired TOST shows equivalence (the 1 - 2*alpha Tango interval lies inside (-margin, +margin)). When
   the Holm-adjusted exact McNemar test is also significant, the difference is real but inside what the user declared
   acceptable by choosing the margin: the reasons say so ("a detectable shift of -1.0pp [-1.1, -0.8], inside the ±3pp
   margin"), and the verdict stays PASS. A verdict must not turn from PASS to FAIL as evidence grows for a shift the
   margin accepts.
3. FAIL when the McNemar difference is significant and the interval is not inside the margin.
4. INCONCLUSIVE otherwise, with two figures for the prompts that would decide it (see :func:`prompts_to_decide`).

The prompts-needed figures of an INCONCLUSIVE cell with n decided pairs:

- ``n_more_expected``: if the observed rates b/n and c/n hold (0 when no pair is discordant), the smallest total N
  whose Tango interval lies inside the margin, minus n. With no discordant pair the interval at N is +-z^2 / (N + z^2)
  (z the 1 - alpha normal quantile), inside +-3pp from N = 88 at alpha 0.05. None when the observed difference is at
  or beyond the margin.
- ``n_more`` (the planning figure): the additional prompts that give the paired TOST the target power at the observed
  discordance (b + c) / n and a true difference of 0. When fewer than 3 pairs are discordant the rule of three's 95%
  upper bound 3 / n is used instead; with none it is the worst discordance consistent with 0/n. When n already
  suffices at a difference of 0 (the observed difference is what keeps the interval wide), the power is computed at
  the observed difference d, with the discordance raised to at least |d| + 3/n; when the observed difference is at or
  beyond the margin, more prompts are not expected to show equivalence and ``n_more`` is None.

Screen: PASS only if every cell passes; FAIL if any cell fails; otherwise INCONCLUSIVE (also for a screen with no
cells: nothing was shown).

Worked examples: 400 prompts, b = 3, c = 2 (1.25% discordance), no leak, passes; 50,000 prompts with b = 1240,
c = 746 is a significant shift of -1.0pp, inside the 3pp margin, and passes too; 30 identical pairs are not yet
enough::

    >>> from tais.stats import PairedTable, paired_tost, cohens_h, mcnemar_exact
    >>> def decide(a, b, c, d):
    ...     t = PairedTable(a, b, c, d)
    ...     return decide_cell(table=t, tost=paired_tost(b, c, t.n), mcnemar_p_holm=mcnemar_exact(b, c),
    ...                        cohens_h=cohens_h(t.p_candidate, t.p_reference), leaks=0, thresholds=Thresholds())
    >>> d = decide(300, 3, 2, 95)
    >>> d.verdict.value, d.n_more
    ('PASS', None)
    >>> d = decide(30000, 1240, 746, 18014)
    >>> d.verdict.value, d.reasons[0][:67]
    ('PASS', 'A detectable shift of -1.0pp [-1.1, -0.8], inside the ±3pp margin: ')
    >>> d = decide(20, 0, 0, 10)
    >>> d.verdict.value, d.n_more_expected, d.n_more
    ('INCONCLUSIVE', 58, 957)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from tais.stats import PairedTable, TostResult, n_paired_tost, tango_interval
from tais.types import Thresholds, Verdict

MAX_N = 10**9


@dataclass(frozen=True)
class CellDecision:
    """Verdict of one cell, the reasons behind it (short sentences with the figures), and for an INCONCLUSIVE cell
    the additional prompts that would decide it: ``n_more`` the planning figure (target power; None otherwise, or
    when more prompts are not expected to help) and ``n_more_expected`` the figure if the observed rates hold."""

    verdict: Verdict
    reasons: tuple[str, ...]
    n_more: int | None
    n_more_expected: int | None = None


@dataclass(frozen=True)
class PromptsPlan:
    """The prompts an INCONCLUSIVE cell needs (see the module docstring): ``expected`` if the observed rates hold,
    ``planned`` for the target power, each None where more prompts are not expected to help, and ``sentence``, the
    reason that states both with what they assume."""

    expected: int | None
    planned: int | None
    sentence: str


def _pp(x: float) -> str:
    return f"{100.0 * x:+.1f}pp"


def _pts(x: float) -> str:
    return f"{100.0 * x:+.1f}"


def _inside(b, c, n, thresholds: Thresholds) -> np.ndarray:
    """Whether the Tango interval lies inside the margin, elementwise over arrays of (b, c, n)."""
    low, high = tango_interval(b, c, n, level=1.0 - 2.0 * thresholds.alpha)
    return (-thresholds.margin < np.asarray(low)) & (np.asarray(high) < thresholds.margin)


def prompts_if_rates_hold(table: PairedTable, thresholds: Thresholds) -> int | None:
    """Smallest total N > n whose Tango interval lies inside the margin when the discordant rates stay b/n and c/n
    (expected counts b N / n and c N / n, so 0 and 0 when no pair is discordant), minus n. None when no N up to
    10^9 does (the observed difference at or beyond the margin, or a hair inside it). Assumes the interval narrows
    as N grows at fixed rates; searches 64 candidates per vectorised step.

    >>> prompts_if_rates_hold(PairedTable(a=20, b=0, c=0, d=10), Thresholds())   # inside ±3pp from N = 88
    58
    """
    n = table.n
    if n == 0 or abs(table.diff) >= thresholds.margin:
        return None
    rb, rc = table.b / n, table.c / n

    def first_inside(totals: np.ndarray) -> int | None:
        ok = _inside(rb * totals, rc * totals, totals, thresholds)
        return int(np.argmax(ok)) if ok.any() else None

    doublings = n * 2.0 ** np.arange(1, 64)
    doublings = doublings[doublings <= 2 * MAX_N]
    k = first_inside(doublings)
    if k is None:
        return None
    lo, hi = (n if k == 0 else int(doublings[k - 1])), int(doublings[k])  # inside at hi, not at lo
    while hi - lo > 1:
        totals = np.unique(np.linspace(lo + 1, hi, num=min(64, hi - lo)).round().astype(np.int64))
        i = first_inside(totals.astype(float))
        hi, lo = int(totals[i]), (lo if i == 0 else int(totals[i - 1]))
    return hi - n if hi <= MAX_N else None


def prompts_to_decide(table: PairedTable, thresholds: Thresholds) -> int | None:
    """Additional prompts that give the paired TOST ``thresholds.power`` at the observed discordance (see the module
    docstring for the floor and the fallbacks). None when more prompts are not expected to help.

    >>> prompts_to_decide(PairedTable(a=40, b=0, c=0, d=10), Thresholds())   # floor 3/50 = 6% discordance
    579
    """
    return plan_prompts(table, thresholds).planned


def plan_prompts(table: PairedTable, thresholds: Thresholds) -> PromptsPlan:
    """Both figures of an INCONCLUSIVE cell and the sentence that states them."""
    n = table.n
    if n == 0:
        return PromptsPlan(None, None, "No decided pairs, so no basis for a sample size.")
    expected = prompts_if_rates_hold(table, thresholds)
    planned, basis = _planned(table, thresholds)
    if table.discordant == 0:
        first = "the pairs stay identical"
    else:
        first = (f"the observed rates hold (discordance {100 * table.discordant / n:.1f}%, difference "
                 f"{_pp(table.diff)})")
    if planned is None:
        if expected is None:
            return PromptsPlan(None, None, basis[0].upper() + basis[1:])
        return PromptsPlan(expected, None, f"About {expected} more prompts would decide it if {first}; {basis}")
    if expected is None:
        return PromptsPlan(None, planned, (
            f"About {planned} more prompts would decide it {basis}, if the true difference is 0; at the observed "
            f"{_pp(table.diff)} (at, beyond or a hair inside the margin ±{100 * thresholds.margin:g}pp) more prompts "
            f"would not."))
    return PromptsPlan(expected, planned,
                       f"About {expected} more prompts would decide it if {first}; about {planned} {basis}.")


def _planned(table: PairedTable, thresholds: Thresholds) -> tuple[int | None, str]:
    """(additional prompts for the target power, or None; the phrase saying what it assumes, or why there is none)."""
    n = table.n
    observed = table.discordant / n
    floor = 3.0 / n
    discordance = min(max(observed, floor), 1.0)
    m, a, pw = thresholds.margin, thresholds.alpha, thresholds.power
    if table.discordant == 0:
        basis = (f"at the worst discordance consistent with 0/{n} (the rule-of-three bound {100 * floor:.1f}%, "
                 f"{100 * pw:g}% power)")
    elif observed < floor:
        basis = (f"for {100 * pw:g}% power at the rule-of-three bound {100 * floor:.1f}% on the discordance, "
                 f"{table.discordant} discordant pair{'s' if table.discordant != 1 else ''} observed")
    else:
        basis = f"for {100 * pw:g}% power at the observed discordance {100 * observed:.1f}%"
    needed = n_paired_tost(m, a, pw, discordance)
    if needed > n:
        return needed - n, basis
    diff = table.diff
    if abs(diff) >= m:
        return None, (f"The observed difference {_pp(diff)} is at or beyond the margin ±{100 * m:g}pp; more prompts "
                      f"are not expected to show equivalence.")
    discordance = min(max(discordance, abs(diff) + floor), 1.0)
    try:
        needed = n_paired_tost(m, a, pw, discordance, difference=diff)
    except ValueError:
        return None, (f"no feasible number of prompts gives {100 * pw:g}% power at the observed difference "
                      f"{_pp(diff)}, so close to the margin ±{100 * m:g}pp.")
    return max(needed - n, 1), (f"for {100 * pw:g}% power if the true difference is the observed {_pp(diff)}, at "
                                f"discordance {100 * discordance:.1f}%")


def decide_cell(*, table: PairedTable, tost: TostResult, mcnemar_p_holm: float, cohens_h: float, leaks: int,
                thresholds: Thresholds) -> CellDecision:
    """Apply the per-cell decision matrix (module docstring). ``tost`` must be the paired TOST of ``table`` at the
    thresholds' margin and alpha; ``mcnemar_p_holm`` the Holm-adjusted exact McNemar p-value; ``leaks`` the number of
    ``leak`` divergences."""
    m, alpha, cutoff = thresholds.margin, thresholds.alpha, thresholds.h_cutoff
    level = round(100 * (1 - 2 * alpha))
    ci = f"{level}% Tango CI [{_pp(tost.ci_low)}, {_pp(tost.ci_high)}]"
    h_abs = abs(cohens_h) if not math.isnan(cohens_h) else math.nan
    significant = mcnemar_p_holm < alpha
    mcnemar = (f"McNemar p = {mcnemar_p_holm:.3g} {'<' if significant else '>='} {alpha:g} after Holm; "
               f"b = {table.b}, c = {table.c}")

    failures = []
    if leaks > 0:
        failures.append(f"{leaks} leak divergence{'s' if leaks != 1 else ''}: the candidate emitted tokens the "
                        f"reference would not choose.")
    if h_abs >= cutoff:
        failures.append(f"|h| = {h_abs:.3f} reaches the cutoff {cutoff:g} "
                        f"(p_R = {table.p_reference:.3f}, p_C = {table.p_candidate:.3f}).")
    if significant and not tost.equivalent:
        failures.append(f"A significant difference of {_pp(table.diff)}, {ci} not inside ±{100 * m:g}pp "
                        f"({mcnemar}).")
    if failures:
        return CellDecision(Verdict.FAIL, tuple(failures), None)

    if tost.equivalent:
        if significant:
            first = (f"A detectable shift of {_pp(table.diff)} [{_pts(tost.ci_low)}, {_pts(tost.ci_high)}], inside "
                     f"the ±{100 * m:g}pp margin: the difference is significant ({mcnemar}) but its "
                     f"{level}% Tango interval lies inside the margin (TOST p = {tost.p_value:.3g}).")
        else:
            first = f"Equivalent: {ci} lies inside ±{100 * m:g}pp (TOST p = {tost.p_value:.3g})."
        return CellDecision(Verdict.PASS, (first, f"|h| = {h_abs:.3f} < {cutoff:g}.", "No leak divergences."), None)

    reasons = []
    if table.n:
        reasons.append(f"Not shown equivalent: {ci} is not inside ±{100 * m:g}pp (n = {table.n}, "
                       f"TOST p = {tost.p_value:.3g}); no significant difference ({mcnemar}).")
    plan = plan_prompts(table, thresholds)
    reasons.append(plan.sentence)
    return CellDecision(Verdict.INCONCLUSIVE, tuple(reasons), plan.planned, plan.expected)


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
