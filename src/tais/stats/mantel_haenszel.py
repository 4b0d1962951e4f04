"""Mantel-Haenszel pooled odds ratio for paired binary outcomes across strata (tasks), with the Haldane correction.

Terms: with 1:1 matched pairs, each pair is its own stratum and the Mantel-Haenszel odds ratio reduces to the ratio of
discordant counts; pooled over strata (tasks) k it is sum(b_k) / sum(c_k), and the Robins-Breslow-Greenland variance
of its logarithm reduces to 1/sum(b) + 1/sum(c). tais adds 0.5 to each sum (Haldane), so the estimate and interval stay
finite when a sum is 0:

    OR = (B + 0.5) / (C + 0.5),   log OR +- z * sqrt(1 / (B + 0.5) + 1 / (C + 0.5)),   B = sum b_k, C = sum c_k.

OR > 1 means more (reference 1, candidate 0) pairs than the reverse: the candidate loses desired behaviour.

Worked example: two tasks with (b, c) = (3, 1) and (5, 2)::

    >>> mh = mantel_haenszel_paired([3, 5], [1, 2])
    >>> round(mh.odds_ratio, 3), round(mh.ci_low, 3), round(mh.ci_high, 3)
    (2.429, 0.699, 8.432)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm


@dataclass(frozen=True)
class MantelHaenszel:
    """Pooled paired odds ratio (Haldane-corrected) and its Wald interval on the log scale."""

    odds_ratio: float
    ci_low: float
    ci_high: float


def mantel_haenszel_paired(bs: ArrayLike, cs: ArrayLike, level: float = 0.95) -> MantelHaenszel:
    """Pool the discordant counts of several strata into (sum b + 0.5) / (sum c + 0.5) with its interval.

    >>> mantel_haenszel_paired([], []).odds_ratio
    1.0
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    b = np.asarray(bs, dtype=float).ravel()
    c = np.asarray(cs, dtype=float).ravel()
    if b.shape != c.shape:
        raise ValueError(f"mantel_haenszel_paired needs as many b as c counts, got {b.size} and {c.size}")
    if (b < 0).any() or (c < 0).any():
        raise ValueError("discordant counts b and c must be non-negative")
    big_b = b.sum() + 0.5
    big_c = c.sum() + 0.5
    log_or = np.log(big_b / big_c)
    half = norm.ppf(0.5 + level / 2.0) * np.sqrt(1.0 / big_b + 1.0 / big_c)
    return MantelHaenszel(float(np.exp(log_or)), float(np.exp(log_or - half)), float(np.exp(log_or + half)))
