"""How far a sampler leans towards its draft: the draft tilt lambda, with a cluster-robust interval and TOST.

Model. With the draft log-ratio ``h_t(x) = log d_t(x) - log q_t(x)`` (:func:`tais.stats.predictable.log_ratio_scores`;
``q_t`` the reference's sampling law, ``d_t`` the draft's at the same prefix), the exponential family
``q_lambda(x) ∝ q_t(x) exp(lambda h_t(x)) = q_t(x)**(1 - lambda) d_t(x)**lambda`` runs from the reference (lambda =
0) to the draft (lambda = 1): lambda > 0 is a sampler that leans towards its draft, lambda < 0 one that leans away.
Its score at 0 is the centred ``h_t(x_t) - E_q h_t`` with Fisher information ``Var_q h_t``, so the score estimate
(one Newton step from 0) is::

    lambda = sum_t (h_t(x_t) - E_q h_t) / sum_t Var_q h_t

and ``Z = lambda * sqrt(sum Var)`` is the predictable-score test of H0 lambda = 0 (the draft log-ratio Z). It needs
only the three numbers per token, so the full laws are reduced batch by batch and never held for a whole run. The
interval is cluster-robust by prompt (:func:`tais.stats.cluster_robust.cluster_interval`; residual ``h_t(x_t) -
E_q h_t - lambda Var_q h_t``, slope ``sum Var``), TOST at ``margin``. Sizing as for theta
(:func:`tais.stats.tempering.tokens_needed` with the mean ``Var_q h`` per token): ``N ~ 17 / (mean Var h x
margin**2)``.

Scale. lambda is measured in units of the log-ratio, so it reads the same whatever the draft: the fraction of the
way from the reference's law to the draft's. Speculative sampling that recovers from the target instead of the
residual (planted bug ``resample_from_target``) with a merely noisy SmolLM2 draft (mean Var h 0.825 nats² per token)
gives lambda ~ 0.22 (drift 0.183 per token); a correct sampler 0, with se ~ 1 / sqrt(0.8 N) (times the design
effect's root). The default margin :data:`DEFAULT_DRAFT_MARGIN` = 0.05 is reached by a correct sampler at
``17 / (0.8 x 0.05**2)`` ~ 8 500 tokens, half the 17 800 that the theta margin 0.02 needs, and sits at a quarter of
that bug's tilt.

Worked example (see :mod:`tais.stats.predictable`): q = (0.7, 0.2, 0.1), d = (0.4, 0.5, 0.1) at ten positions over
two prompts, token 1 emitted once in the first and twice in the second. The centred sum is 7 (-0.560 + 0.208) + 3
(0.916 + 0.208) = 0.916, Var h = 0.344 per position, so lambda = 0.916 / 3.437 = 0.267; the residuals sum to
-0.738 and +0.738 by prompt, se = sqrt(2 x 2 x 0.738**2) / 3.437 = 0.429::

    >>> q, d = np.tile([0.7, 0.2, 0.1], (10, 1)), np.tile([0.4, 0.5, 0.1], (10, 1))
    >>> h, mean, var = log_ratio_scores(q, d, [0, 0, 1, 0, 0, 0, 1, 0, 1, 0])
    >>> r = draft_tilt_test(h, mean, var, [0] * 5 + [1] * 5, margin=0.05)
    >>> round(r.tilt, 3), round(r.se, 3), round(r.z, 3), r.equivalent
    (0.267, 0.429, 0.494, False)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from .cluster_robust import cluster_interval
from .predictable import log_ratio_scores  # noqa: F401  (the worked example's score)

DEFAULT_DRAFT_MARGIN = 0.05
"""The default equivalence margin of the draft tilt (config key ``sampled.draft_margin``; see the module docstring)."""


@dataclass(frozen=True)
class DraftTilt:
    """``tilt`` (lambda) with its cluster-robust ``se`` and 1 - 2 alpha interval; ``z`` and ``p_value``: the
    model-based test of lambda = 0 (the draft log-ratio Z); ``tost_p`` and ``equivalent`` at ``margin``;
    ``mean_variance`` (Var_q h per token, nats²) for sizing."""

    tilt: float
    se: float
    low: float
    high: float
    z: float
    p_value: float
    tost_p: float
    equivalent: bool
    margin: float
    alpha: float
    n_tokens: int
    n_clusters: int
    mean_variance: float


def draft_tilt_test(observed: ArrayLike, mean: ArrayLike, variance: ArrayLike, clusters: ArrayLike, *,
                    margin: float = DEFAULT_DRAFT_MARGIN, alpha: float = 0.05) -> DraftTilt:
    """Estimate and test lambda from the log-ratio at the emitted tokens ``observed`` [n], its means ``mean`` [n] and
    variances ``variance`` [n] under the reference's laws; ``clusters`` [n] the prompt of each token."""
    h, m, v = (np.asarray(a, dtype=np.float64) for a in (observed, mean, variance))
    total = float(v.sum())
    if total <= 0:
        raise ValueError("the log-ratio has no variance under the reference's laws (draft = reference at every "
                         "position): lambda is undefined")
    centred = h - m
    tilt = float(centred.sum()) / total
    z = float(centred.sum() / np.sqrt(total))
    ci = cluster_interval(tilt, centred - tilt * v, total, clusters, margin=margin, alpha=alpha)
    return DraftTilt(tilt, ci.se, ci.low, ci.high, z, float(2 * norm.sf(abs(z))), ci.tost_p, ci.equivalent, margin,
                     alpha, int(h.size), ci.n_clusters, total / h.size)
