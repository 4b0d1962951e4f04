"""McNemar's test of p_C = p_R on the discordant pairs b and c: the exact conditional test and its mid-p variant.

Terms: given the b + c discordant pairs, under H0 (no difference) b ~ Binomial(b + c, 1/2). The exact two-sided
p-value is min(1, 2 * P(X <= min(b, c))); the mid-p value counts the probability of the observed table only half,
2 * P(X <= min(b, c)) - P(X = min(b, c)), which is less conservative and keeps close to the nominal level
(Fagerland, Lydersen and Laake 2013, BMC Medical Research Methodology 13:91). When b = c the mid-p value is
1 - P(X = b) / 2, as in that paper's supplement and R's ``contingencytables::McNemar_midP_test_paired_2x2``. With no
discordant pair there is no evidence at all and both p-values are 1.

Worked example (Fagerland et al. 2013, airway hyper-responsiveness, b = 1, c = 7; exact p = 0.0703, mid-p = 0.0391)::

    >>> round(mcnemar_exact(1, 7), 4), round(mcnemar_midp(1, 7), 4)
    (0.0703, 0.0391)
    >>> mcnemar_exact(0, 0), mcnemar_midp(0, 0), round(mcnemar_midp(1, 1), 4)
    (1.0, 1.0, 0.75)
"""

from __future__ import annotations

from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import binom


def _discordant(b: ArrayLike, c: ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
    scalar = np.ndim(b) == 0 and np.ndim(c) == 0
    b, c = np.broadcast_arrays(np.asarray(b, dtype=float), np.asarray(c, dtype=float))
    if (b < 0).any() or (c < 0).any():
        raise ValueError("discordant counts b and c must be non-negative")
    return np.minimum(b, c), b + c, scalar


@overload
def mcnemar_exact(b: float, c: float) -> float: ...
@overload
def mcnemar_exact(b: ArrayLike, c: ArrayLike) -> NDArray[np.float64]: ...
def mcnemar_exact(b: ArrayLike, c: ArrayLike) -> float | NDArray[np.float64]:
    """Exact conditional McNemar p-value, two-sided (vectorised); 1 when b + c = 0."""
    k, m, scalar = _discordant(b, c)
    p = np.minimum(1.0, 2.0 * binom.cdf(k, m, 0.5))
    p = np.where(m == 0, 1.0, p)
    return float(p) if scalar else p


@overload
def mcnemar_midp(b: float, c: float) -> float: ...
@overload
def mcnemar_midp(b: ArrayLike, c: ArrayLike) -> NDArray[np.float64]: ...
def mcnemar_midp(b: ArrayLike, c: ArrayLike) -> float | NDArray[np.float64]:
    """Mid-p McNemar p-value, two-sided (vectorised); 1 when b + c = 0."""
    k, m, scalar = _discordant(b, c)
    point = binom.pmf(k, m, 0.5)
    p = np.where(2.0 * k == m, 1.0 - 0.5 * point, np.minimum(1.0, 2.0 * binom.cdf(k, m, 0.5)) - point)
    p = np.where(m == 0, 1.0, p)
    return float(p) if scalar else p
