"""The effective-temperature error of a sampler, with a cluster-robust interval and TOST, and the sample size it needs.

Model. The tempering family ``q_theta(x) ∝ q(x)**(1 - theta)`` around the reference's law ``q``: ``theta > 0``
flattens it (effective temperature ``T / (1 - theta)``: a too-hot sampler), ``theta < 0`` sharpens it (too cold).
The score of ``theta`` at 0 is the centred surprisal ``s(x) - H(q)`` and its Fisher information the varentropy
``Var_q s``; so with the clipped surprisal of :mod:`tais.stats.predictable` at each position::

    theta_1 = sum_t (s_t(x_t) - E_q s_t) / sum_t Var_q s_t        (one Newton step from theta = 0)

and ``Z = theta_1 * sqrt(sum Var)`` is the predictable-score test of H0 ``theta = 0``. The one step is biased away
from 0 (by about a fifth at theta = 0.2), so the reported ``theta`` solves the estimating equation ``sum_t
E_theta s_t = sum_t s_t(x_t)`` (Newton from ``theta_1``). Its interval is cluster-robust by prompt (CR1 sandwich:
per-prompt sums of ``s_t(x_t) - E_theta s_t`` over the slope ``sum_t Cov_theta(s_t, -log q_t)``, t with G - 1
degrees of freedom; :mod:`tais.stats.cluster_robust`), so it stays honest when the candidate's error varies from
prompt to prompt. TOST: the sampler is *equivalent* when the 1 - 2 alpha interval lies inside (-margin, +margin) (a
relative temperature error below the margin).

Sizing: the interval's half-width is about ``z / sqrt(N * mean varentropy)``; TOST at alpha = 0.05 with power 0.8
when theta = 0 needs ``N = (z_0.95 + z_0.90)**2 / (vbar * margin**2) = 8.6 / (vbar * margin**2)`` tokens, doubled
for the clustering (design effect 2): ``N ~ 17 / (vbar * margin**2)``. Worked example: mean varentropy 1.5 nats²,
margin 0.05 -> about 4 570 tokens::

    >>> round(tokens_needed(0.05, 1.5))
    4567

Worked example of the estimate (two prompts, law (0.8, 0.2) at every position, token 1 emitted 3 times in 10; see
:mod:`tais.stats.predictable`). The one step gives 1.386 / 3.074 = 0.451; the tempered law puts mass 0.3 on token 1
when ``0.25**(1 - theta) = 0.3 / 0.7``, i.e. ``theta = 1 - log(0.4286) / log(0.25) = 0.389``::

    >>> laws = ReferenceLaws.full(np.tile([0.8, 0.2], (10, 1)))
    >>> r = tempering_test(laws, np.array([0] * 7 + [1] * 3), np.repeat([0, 1], 5), margin=0.5)
    >>> round(r.theta, 3), round(r.z, 3), r.n_clusters
    (0.389, 0.791, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from .cluster_robust import cluster_interval
from .predictable import DEFAULT_CLIP, ReferenceLaws, surprisal_scores


@dataclass(frozen=True)
class TemperingResult:
    """``theta`` (relative temperature error) with its cluster-robust ``se`` and 1 - 2 alpha interval; ``z`` and
    ``p_value``: the model-based test of theta = 0 (the predictable-score Z); ``tost_p`` and ``equivalent`` at
    ``margin``; ``mean_varentropy`` (nats², per token) for sizing."""

    theta: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    tost_p: float
    equivalent: bool
    margin: float
    alpha: float
    n_tokens: int
    n_clusters: int
    mean_varentropy: float

    @property
    def temperature_ratio(self) -> float:
        """Effective over nominal temperature, ``1 / (1 - theta)``."""
        return 1.0 / (1.0 - self.theta)


def tempering_test(laws: ReferenceLaws, tokens: ArrayLike, clusters: ArrayLike, *, margin: float = 0.05,
                   alpha: float = 0.05, clip: float = DEFAULT_CLIP) -> TemperingResult:
    """Estimate and test theta from emitted ``tokens`` [n] under ``laws``, ``clusters`` [n] = prompt of each token."""
    if not 0 < alpha < 0.5 or margin <= 0:
        raise ValueError(f"need 0 < alpha < 0.5 and margin > 0, got alpha={alpha}, margin={margin}")
    h, mean, var = surprisal_scores(laws, tokens, clip)
    total = float(var.sum())
    if total <= 0:
        raise ValueError("the reference laws have no varentropy (every position deterministic): theta is undefined")
    z = float((h - mean).sum() / np.sqrt(total))
    theta = solve_theta(laws, float(h.sum()), float((h - mean).sum()) / total, clip)
    expected, slope = _tempered_moments(laws, theta, clip)
    ci = cluster_interval(theta, h - expected, float(slope.sum()), clusters, margin=margin, alpha=alpha)
    return TemperingResult(theta, ci.se, ci.low, ci.high, z, float(2 * norm.sf(abs(z))), ci.tost_p, ci.equivalent,
                           margin, alpha, int(h.size), ci.n_clusters, total / h.size)


def solve_theta(laws: ReferenceLaws, observed: float, start: float, clip: float = DEFAULT_CLIP,
                steps: int = 8) -> float:
    """The theta at which the tempered laws expect the observed surprisal sum (Newton from ``start``, the one-step
    estimate; the tail of a law given by its top tokens is tempered as one atom, exact for full laws)."""
    table = _Surprisals(laws, clip)
    theta = start
    for _ in range(steps):
        expected, slope = table.moments(theta)
        step = (observed - expected.sum()) / slope.sum()
        theta = float(np.clip(theta + step, -5.0, 0.99))
        if abs(step) < 1e-9:
            break
    return theta


class _Surprisals:
    """Per position and token (the tail as one atom): surprisal ``s`` [n, k+1] (0 where q = 0), clipped surprisal
    ``h`` (``clip`` on the tail) and ``-log q`` ready for tempering."""

    def __init__(self, laws: ReferenceLaws, clip: float) -> None:
        p = np.concatenate([laws.probs, laws.tail[:, None]], axis=1)  # [n, k+1]
        self.live = p > 0
        with np.errstate(divide="ignore"):
            s = -np.log(np.where(self.live, p, 1.0))
        self.s = s
        self.h = np.minimum(s, clip)
        self.h[:, -1] = clip
        self.h = np.where(self.live, self.h, clip)

    def moments(self, theta: float) -> tuple[np.ndarray, np.ndarray]:
        """Under ``q**(1 - theta)`` renormalised: the mean of ``h`` and its derivative in theta, ``Cov(h, s)`` [n]."""
        logw = np.where(self.live, -(1 - theta) * self.s, -np.inf)
        w = np.exp(logw - logw.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        mean_h = (w * self.h).sum(1)
        return mean_h, (w * self.h * self.s).sum(1) - mean_h * (w * self.s).sum(1)


def _tempered_moments(laws: ReferenceLaws, theta: float, clip: float) -> tuple[np.ndarray, np.ndarray]:
    return _Surprisals(laws, clip).moments(theta)


def tokens_needed(margin: float, mean_varentropy: float, *, alpha: float = 0.05, power: float = 0.8,
                  design_effect: float = 2.0) -> float:
    """Tokens for TOST on theta at ``margin`` to reach ``power`` when theta = 0 (see the module docstring)."""
    z = norm.ppf(1 - alpha) + norm.ppf(1 - (1 - power) / 2)
    return float(design_effect * z * z / (mean_varentropy * margin * margin))
