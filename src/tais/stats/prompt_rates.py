"""Outcome rates at temperature > 0: each prompt's rate over its ``r`` replicates in each arm, and the mean paired
difference across prompts with a t interval clustered by prompt (the prompt is the unit: its replicates are
exchangeable draws, so the per-prompt difference of rates ``d_i`` carries all of the prompt's dependence), TOST at a
margin and Cohen's h of the mean rates.

With ``G`` prompts, ``dbar = mean d_i`` and ``se = sd(d_i) / sqrt(G)``: the 1 - 2 alpha interval is ``dbar +-
t_{1-alpha, G-1} se``; TOST's p is ``max(P(T > (dbar + m) / se), P(T < (dbar - m) / se))`` and the two-sided test of
no difference is the one-sample t test of the ``d_i``. Worked example: rates 1, 0.5, 0.5, 0 (reference) and 1, 0.5,
0, 0 (candidate) give d = (0, 0, -0.5, 0), dbar = -0.125, se = 0.125::

    >>> r = prompt_rate_difference([1, .5, .5, 0], [1, .5, 0, 0], margin=0.1, alpha=0.05)
    >>> round(r.diff, 3), round(r.se, 3), round(r.p_value, 3), r.equivalent
    (-0.125, 0.125, 0.391, False)

Floors on ``se``: with few prompts the observed spread of the ``d_i`` can be 0 by chance, and a t interval of width
0 would call two prompts a significant difference or an equivalence. So ``se`` is at least

- the **within-prompt** standard error, when each rate comes from ``r >= 2`` replicates: each arm's rate ``p_i`` has
  sampling variance ``pi_i (1 - pi_i) / r``, estimated without bias by ``p_i (1 - p_i) / (r - 1)``; under H0 (the
  same per-prompt rates in both arms) this is the whole variance of ``d_i``, so ``se >= sqrt(mean_i v_i / G)``
  with ``v_i`` the sum over both arms;
- when every ``d_i`` is the same (no spread at all), the **rule-of-three** bound ``-ln(alpha) / (G crit)``: the
  interval is then at least ``+-(-ln(alpha) / G)`` (a share of differing prompts up to 3 / G at alpha 0.05 is
  consistent with none observed), which keeps two identical prompts from proving equivalence.

Two prompts whose rates over r = 3 replicates both drop from 2/3 to 1/3: the spread of d is 0, the within-prompt
se sqrt((2/9 / 2 + 2/9 / 2) / 2) = 1/3, so t = 1 on 1 degree of freedom (p 0.5), not a difference::

    >>> r = prompt_rate_difference([2/3, 2/3], [1/3, 1/3], margin=0.1, replicates=3)
    >>> round(r.se, 3), round(r.p_value, 3)
    (0.333, 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import t as student_t

from .proportions import cohens_h


@dataclass(frozen=True)
class PromptRateDifference:
    """``diff`` = mean over prompts of candidate rate - reference rate, its ``se``, 1 - 2 alpha interval, two-sided
    ``p_value`` (one-sample t), ``tost_p`` and ``equivalent`` at ``margin``, Cohen's ``h`` of the mean rates."""

    n_prompts: int
    rate_reference: float
    rate_candidate: float
    diff: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    tost_p: float
    equivalent: bool
    cohens_h: float
    margin: float
    alpha: float


def prompt_rate_difference(rates_reference: ArrayLike, rates_candidate: ArrayLike, *, margin: float,
                           alpha: float = 0.05, replicates: int = 1) -> PromptRateDifference:
    """The clustered paired difference of the per-prompt rates ``rates_*`` [G], each over ``replicates`` draws (see
    the module docstring, with its floors on ``se``)."""
    ref = np.asarray(rates_reference, dtype=np.float64)
    cand = np.asarray(rates_candidate, dtype=np.float64)
    d = cand - ref
    g = d.size
    if g == 0:
        raise ValueError("no prompt has a decided outcome in both arms")
    diff = float(d.mean())
    df = max(g - 1, 1)
    crit = float(student_t.ppf(1 - alpha, df))
    se = float(d.std(ddof=1) / np.sqrt(g)) if g > 1 else float("inf")
    if replicates >= 2:
        within = (ref * (1 - ref) + cand * (1 - cand)) / (replicates - 1)  # [G] unbiased Var(d_i) under H0
        se = max(se, float(np.sqrt(within.mean() / g)))
    if g > 1 and np.ptp(d) == 0:  # no spread at all: the rule-of-three bound
        se = max(se, -float(np.log(alpha)) / (g * crit))
    if np.isinf(se):
        p_value, tost_p = 1.0, 1.0
    else:
        p_value = float(2 * student_t.sf(abs(diff) / se, df))
        tost_p = float(max(student_t.sf((diff + margin) / se, df), student_t.cdf((diff - margin) / se, df)))
    low, high = diff - crit * se, diff + crit * se
    h = float(cohens_h(float(cand.mean()), float(ref.mean())))
    return PromptRateDifference(g, float(ref.mean()), float(cand.mean()), diff, se, low, high, p_value, tost_p,
                                bool(-margin < low and high < margin), h, margin, alpha)


def prompts_needed(result: PromptRateDifference) -> int | None:
    """Prompts at which the interval would fit inside the margin if ``diff`` and the spread stayed as observed
    (``G (crit se / (margin - |diff|))**2``); None when ``|diff|`` is already at the margin or the spread unknown."""
    room = result.margin - abs(result.diff)
    if room <= 0 or not np.isfinite(result.se):
        return None
    crit = float(student_t.ppf(1 - result.alpha, max(result.n_prompts - 1, 1)))
    return int(np.ceil(max(result.n_prompts, result.n_prompts * (crit * result.se / room) ** 2)))
