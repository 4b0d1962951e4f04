"""A cluster-robust interval and TOST for a score estimate: the machinery shared by the tempering theta
(:mod:`tais.stats.tempering`) and the draft tilt lambda (:mod:`tais.stats.draft_tilt`).

Setting. An estimate ``b`` solves an estimating equation ``sum_t psi_t(b) = 0`` with per-token residuals
``psi_t(b)`` (the score at ``b``: observed minus expected) and total slope ``S = -sum_t d psi_t / d b``. Tokens of
one prompt are dependent, prompts independent, so the sandwich (CR1) variance sums the residuals by prompt first::

    se = sqrt(G / (G - 1) * sum_g (sum_{t in g} psi_t)**2) / S

with G prompts; the interval is ``b -+ t_{1 - alpha, G - 1} se`` (1 - 2 alpha, the TOST interval) and the estimate
is *equivalent* at ``margin`` when that interval lies inside (-margin, +margin); ``tost_p`` is the larger of the two
one-sided t p-values. For a one-step score estimate ``b = sum r_t / sum v_t`` (``r`` the centred score, ``v`` its
variance) the residual is ``r_t - b v_t`` and ``S = sum v_t``: this equals a weighted least-squares fit of
``r_t / v_t`` on a constant with weights ``v_t`` and statsmodels' cluster covariance (its correction G / (G - 1) *
(N - 1) / (N - K) is G / (G - 1) with one parameter), which the tests check.

Worked example: two prompts, residuals summing to +1 and -1 per prompt, slope 10, estimate 0.05: se = sqrt(2 * 2)
/ 10 = 0.2, t_0.95 with 1 degree of freedom is 6.314, so the interval is 0.05 -+ 1.263::

    >>> r = cluster_interval(0.05, [0.5, 0.5, -1.0], 10.0, [0, 0, 1], margin=0.1, alpha=0.05)
    >>> round(r.se, 3), round(r.low, 3), round(r.high, 3), r.equivalent, r.n_clusters
    (0.2, -1.213, 1.313, False, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import t as student_t


@dataclass(frozen=True)
class ClusterInterval:
    """``estimate`` with its cluster-robust ``se``, the 1 - 2 alpha interval (``low``, ``high``), TOST at
    ``margin`` (``tost_p``, ``equivalent``) and the number of clusters (prompts)."""

    estimate: float
    se: float
    low: float
    high: float
    tost_p: float
    equivalent: bool
    margin: float
    alpha: float
    n_clusters: int


def cluster_interval(estimate: float, residual: ArrayLike, slope: float, clusters: ArrayLike, *, margin: float,
                     alpha: float) -> ClusterInterval:
    """The CR1 interval of the module docstring: per-token ``residual`` [n] at the estimate, total ``slope`` of the
    estimating equation, ``clusters`` [n] the prompt of each token."""
    if not 0 < alpha < 0.5 or margin <= 0:
        raise ValueError(f"need 0 < alpha < 0.5 and margin > 0, got alpha={alpha}, margin={margin}")
    _, group = np.unique(np.asarray(clusters), return_inverse=True)
    g = int(group.max()) + 1 if group.size else 0
    sums = np.bincount(group, weights=np.asarray(residual, dtype=np.float64), minlength=g)
    se = float(np.sqrt(g / max(g - 1, 1) * np.sum(sums ** 2)) / slope) if slope > 0 else float("inf")
    df = max(g - 1, 1)
    crit = float(student_t.ppf(1 - alpha, df))
    if 0 < se < float("inf"):
        tost_p = float(max(student_t.sf((estimate + margin) / se, df), student_t.cdf((estimate - margin) / se, df)))
    else:
        tost_p = 0.0 if se == 0 and abs(estimate) < margin else 1.0
    low, high = float(estimate - crit * se), float(estimate + crit * se)
    return ClusterInterval(float(estimate), se, low, high, tost_p, bool(-margin < low and high < margin), margin,
                           alpha, g)
