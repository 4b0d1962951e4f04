"""Single-proportion and two-proportion summaries, delegated to statsmodels: Wilson interval, Cohen's h, and the Holm
step-down adjustment of a family of p-values.

Terms:
- Wilson interval: the score interval for a binomial rate k/n (statsmodels ``proportion_confint(method="wilson")``);
  it stays inside [0, 1] and does not collapse at k = 0 or k = n.
- Cohen's h: the effect size 2 asin sqrt(p_C) - 2 asin sqrt(p_R) between two rates (statsmodels
  ``proportion_effectsize``); |h| of 0.2 is "small" in Cohen's scale, tais fails a cell at |h| >= 0.1 by default.
- Holm: step-down family-wise adjustment of m p-values (statsmodels ``multipletests(method="holm")``).

Worked examples (the TAIS paper's figures)::

    >>> low, high = wilson_interval(587, 700)
    >>> round(low, 3), round(high, 3)
    (0.809, 0.864)
    >>> round(cohens_h(0.78, 0.79), 3)
    -0.024
    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
"""

from __future__ import annotations

from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportion_effectsize


@overload
def wilson_interval(k: float, n: float, level: float = ...) -> tuple[float, float]: ...
@overload
def wilson_interval(k: ArrayLike, n: ArrayLike, level: float = ...) -> tuple[np.ndarray, np.ndarray]: ...
def wilson_interval(k: ArrayLike, n: ArrayLike,
                    level: float = 0.95) -> tuple[float, float] | tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for the rate k/n (vectorised). n = 0 gives (0, 1).

    >>> wilson_interval(0, 0)
    (0.0, 1.0)
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    scalar = np.ndim(k) == 0 and np.ndim(n) == 0
    k, n = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(n, dtype=float))
    if (k < 0).any() or (k > n).any():
        raise ValueError("wilson_interval needs 0 <= k <= n")
    empty = n == 0
    low, high = proportion_confint(k, np.where(empty, 1.0, n), alpha=1.0 - level, method="wilson")
    low = np.where(empty, 0.0, np.clip(low, 0.0, 1.0))
    high = np.where(empty, 1.0, np.clip(high, 0.0, 1.0))
    if scalar:
        return float(low), float(high)
    return low, high


@overload
def cohens_h(p_candidate: float, p_reference: float) -> float: ...
@overload
def cohens_h(p_candidate: ArrayLike, p_reference: ArrayLike) -> NDArray[np.float64]: ...
def cohens_h(p_candidate: ArrayLike, p_reference: ArrayLike) -> float | NDArray[np.float64]:
    """Cohen's h = 2 asin sqrt(p_candidate) - 2 asin sqrt(p_reference) (vectorised; NaN in gives NaN out).

    >>> round(cohens_h(1.0, 0.0), 4)     # the largest possible |h| is pi
    3.1416
    """
    scalar = np.ndim(p_candidate) == 0 and np.ndim(p_reference) == 0
    pc = np.asarray(p_candidate, dtype=float)
    pr = np.asarray(p_reference, dtype=float)
    if ((pc < 0) | (pc > 1) | (pr < 0) | (pr > 1)).any():
        raise ValueError("cohens_h needs rates in [0, 1]")
    h = np.asarray(proportion_effectsize(pc, pr), dtype=float)
    return float(h) if scalar else h


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm-adjusted p-values, in the input order (NaN entries stay NaN and are left out of the family).

    >>> holm([]).tolist()
    []
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    keep = ~np.isnan(p)
    if keep.any():
        out[keep] = multipletests(p[keep], method="holm")[1]
    return out
