"""Tango's (1998) asymptotic score test and confidence interval for the paired difference p_C - p_R.

Terms: for a paired table (a, b, c, d) with n pairs (see :mod:`tais.stats.paired`), the difference is
delta = p_C - p_R, estimated by (c - b) / n. Tango's score statistic for a hypothesised difference delta is

    Z(delta) = (c - b - n * delta) / sqrt(n * (2 * q(delta) + delta * (1 - delta)))

where q(delta) is the maximum-likelihood estimate of the probability of the b cell (reference 1, candidate 0)
under the restriction p_C - p_R = delta. It is the positive root of A q^2 + B q + C = 0 with

    A = 2n,   B = -b - c + (2n - c + b) * delta,   C = -b * delta * (1 - delta).

The 100*level% interval is every delta with |Z(delta)| < z, z the (1 + level) / 2 normal quantile. Z decreases in
delta, so each bound is found by bisection, here on whole arrays of tables at once: 60 halvings of (-1, d) and
(d, 1) give full double precision and never divide by zero, so the interval stays non-degenerate when b = c = 0 and
at 0% and 100% rates (where the Wald interval collapses to a point).

References: T. Tango (1998), "Equivalence test and confidence interval for the difference in proportions for the
paired-sample design", Statistics in Medicine 17:891-908; M. W. Fagerland, S. Lydersen, P. Laake (2014),
"Recommended tests and confidence intervals for paired binomial proportions", Statistics in Medicine 33:2850-2875.

Worked example (Fagerland et al. 2014's complete-response data, Cavo et al. 2012: 161 pairs, b = 16, c = 6; the
Tango 95% interval -0.1240 to -0.0054 as tabulated by R's ``contingencytables``)::

    >>> low, high = tango_interval(16, 6, 161, level=0.95)
    >>> round(low, 4), round(high, 4)
    (-0.124, -0.0054)
    >>> low, high = tango_interval(0, 0, 50)           # no discordant pairs: still a proper interval
    >>> round(low, 4), round(high, 4)
    (-0.0513, 0.0513)
"""

from __future__ import annotations

from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

BISECTION_STEPS = 60


def _as_counts(b: ArrayLike, c: ArrayLike, n: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b, c, n = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (b, c, n)))
    if (b < 0).any() or (c < 0).any():
        raise ValueError("discordant counts b and c must be non-negative")
    if (b + c > n).any():
        raise ValueError("b + c cannot exceed the number of pairs n")
    return b, c, n


def restricted_mle_b(b: np.ndarray, c: np.ndarray, n: np.ndarray, delta: np.ndarray) -> NDArray[np.float64]:
    """Maximum-likelihood probability of the b cell under p_C - p_R = delta (Tango 1998, eq. 5)."""
    a2 = 2.0 * n
    bq = -b - c + (2.0 * n - c + b) * delta
    cq = -b * delta * (1.0 - delta)
    disc = np.maximum(bq * bq - 4.0 * a2 * cq, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        q: NDArray[np.float64] = (-bq + np.sqrt(disc)) / (2.0 * a2)
    return q


def tango_score(b: ArrayLike, c: ArrayLike, n: ArrayLike, delta: ArrayLike) -> np.ndarray:
    """Tango's score statistic Z(delta) (vectorised). Z is 0 where numerator and variance are both 0, and +-inf where
    only the variance is 0.

    >>> round(float(tango_score(7, 1, 21, 0.0)), 4)    # = (c - b) / sqrt(b + c) at delta = 0
    -2.1213
    """
    b, c, n = (np.asarray(x, dtype=float) for x in (b, c, n))
    delta = np.asarray(delta, dtype=float)
    q = restricted_mle_b(b, c, n, delta)
    num = c - b - n * delta
    var = n * (2.0 * q + delta * (1.0 - delta))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, num / np.sqrt(np.where(var > 0, var, 1.0)), np.sign(num) * np.inf)
    return np.where(num == 0, 0.0, z)


@overload
def tango_interval(b: float, c: float, n: float, level: float = ...) -> tuple[float, float]: ...
@overload
def tango_interval(b: ArrayLike, c: ArrayLike, n: ArrayLike, level: float = ...) -> tuple[np.ndarray, np.ndarray]: ...
def tango_interval(b: ArrayLike, c: ArrayLike, n: ArrayLike,
                   level: float = 0.90) -> tuple[float, float] | tuple[np.ndarray, np.ndarray]:
    """Tango score interval for p_C - p_R at confidence ``level`` (vectorised over b, c, n).

    Scalars in give a tuple of floats; arrays in give a tuple of arrays of the broadcast shape. An empty table
    (n = 0) gives the uninformative (-1, 1).

    >>> low, high = tango_interval([0, 5], [0, 5], [100, 100], level=0.90)
    >>> low.round(4).tolist(), high.round(4).tolist()
    ([-0.0263, -0.0571], [0.0263, 0.0571])
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    scalar = all(np.ndim(x) == 0 for x in (b, c, n))
    b, c, n = _as_counts(b, c, n)
    z = norm.ppf(0.5 + level / 2.0)
    empty = n == 0
    n_safe = np.where(empty, 1.0, n)
    d_hat = np.where(empty, 0.0, (c - b) / n_safe)

    lo, hi = np.full_like(d_hat, -1.0), d_hat.copy()
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        outside = tango_score(b, c, n_safe, mid) >= z
        lo = np.where(outside, mid, lo)
        hi = np.where(outside, hi, mid)
    low = np.where(empty, -1.0, 0.5 * (lo + hi))

    lo, hi = d_hat.copy(), np.ones_like(d_hat)
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        outside = tango_score(b, c, n_safe, mid) <= -z
        hi = np.where(outside, mid, hi)
        lo = np.where(outside, lo, mid)
    high = np.where(empty, 1.0, 0.5 * (lo + hi))

    if scalar:
        return float(low), float(high)
    return low, high
