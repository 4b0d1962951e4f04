"""Paired equivalence test (TOST) for p_C - p_R against the margin (-margin, +margin), with Tango score tests.

Terms: two one-sided tests (TOST). H0-: delta <= -margin is rejected when Z(-margin) is large; H0+: delta >= +margin
is rejected when Z(+margin) is very negative (Z is Tango's score statistic, :mod:`tais.stats.tango`). The TOST p-value
is the larger of the two one-sided p-values; the arms are *equivalent* at level alpha when the 1 - 2*alpha Tango
interval lies strictly inside (-margin, +margin). Because Z decreases in delta, the two decisions coincide:
p < alpha exactly when the interval lies inside the margin.

Worked example: 1000 pairs with b = 6, c = 4 (1% discordance, observed difference -0.2pp)::

    >>> r = paired_tost(6, 4, 1000, margin=0.03, alpha=0.05)
    >>> r.equivalent, round(r.ci_low, 4), round(r.ci_high, 4), r.p_value < 1e-6
    (True, -0.008, 0.0036, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from .tango import _as_counts, tango_interval, tango_score


@dataclass(frozen=True)
class TostResult:
    """Result of :func:`paired_tost`: TOST p-value (max of the two one-sided p-values), the equivalence decision, the
    1 - 2*alpha Tango interval, and the margin and alpha used. Fields are floats/bools for scalar input, arrays for
    array input."""

    p_value: Any
    equivalent: Any
    ci_low: Any
    ci_high: Any
    margin: float
    alpha: float


def _check(margin: float, alpha: float) -> None:
    if not 0.0 < margin < 1.0:
        raise ValueError(f"margin must lie in (0, 1), got {margin!r}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")


def tost_p_value(b: ArrayLike, c: ArrayLike, n: ArrayLike, margin: float = 0.03) -> np.ndarray:
    """max(P(H0-), P(H0+)) of the two one-sided Tango score tests (vectorised); 1 for an empty table."""
    b, c, n = _as_counts(b, c, n)
    n_safe = np.where(n == 0, 1.0, n)
    p_low = norm.sf(tango_score(b, c, n_safe, -margin))
    p_high = norm.cdf(tango_score(b, c, n_safe, margin))
    return np.where(n == 0, 1.0, np.maximum(p_low, p_high))


def paired_tost(b: ArrayLike, c: ArrayLike, n: ArrayLike, margin: float = 0.03, alpha: float = 0.05) -> TostResult:
    """Paired TOST of |p_C - p_R| < margin at level alpha (vectorised over b, c, n).

    ``equivalent`` is "the 1 - 2*alpha Tango interval lies strictly inside (-margin, margin)"; ``p_value`` is the
    larger one-sided score-test p-value, so ``p_value < alpha`` gives the same decision.

    >>> paired_tost(0, 0, 20).equivalent       # 20 identical outcomes are not enough for a 3pp margin
    False
    >>> paired_tost(0, 0, 200).equivalent
    True
    """
    _check(margin, alpha)
    scalar = all(np.ndim(x) == 0 for x in (b, c, n))
    low, high = tango_interval(b, c, n, level=1.0 - 2.0 * alpha)
    low, high = np.asarray(low), np.asarray(high)
    equivalent = (low > -margin) & (high < margin)
    p = tost_p_value(b, c, n, margin)
    if scalar:
        return TostResult(float(p), bool(equivalent), float(low), float(high), float(margin), float(alpha))
    return TostResult(p, equivalent, low, high, float(margin), float(alpha))
