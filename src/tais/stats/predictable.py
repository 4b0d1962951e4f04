"""Predictable-score tests: is a sequence of sampled tokens drawn from the reference's sampling laws?

Setting. At every position t of every completion the reference has a sampling law ``q_t`` (the target's
probabilities after temperature, top-k and top-p, given the tokens so far) and the candidate emitted ``x_t``. Under
H0 (the candidate samples from the reference's laws) ``x_t ~ q_t`` given the past. For any score ``h_t`` fixed
before ``x_t`` is drawn, ``h_t(x_t) - E_q h_t`` is a martingale difference with conditional variance ``Var_q h_t``,
so (martingale central limit theorem)::

    Z = sum_t (h_t(x_t) - E_q h_t) / sqrt(sum_t Var_q h_t)  ~  N(0, 1)  under H0,

whatever the dependence between positions and prompts. Scores used (:func:`surprisal_scores`,
:func:`top1_scores`): the clipped surprisal ``min(-log q_t(x), clip)`` (the score of the tempering family, see
:mod:`tais.stats.tempering`) and the top-1 indicator ``1[x = argmax q_t]``; :mod:`tais.stats.pit` adds the
randomised PIT. :func:`combined_test` joins the three with Holm.

Laws (:class:`ReferenceLaws`) are the full probability vectors or the ``k`` most likely tokens with the exact mass of
the rest (``tail``): a score is then constant on the unlisted tokens (the surprisal takes ``clip`` there), so its
mean and variance under ``q_t`` are exact.

Worked example: ten positions with law (0.8, 0.2) over tokens {0, 1}; the candidate emitted 1 three times. The
surprisals are 0.223 and 1.609, entropy 0.500, varentropy 0.16 * 1.386**2 = 0.307; the centred sum is
7 * (0.223 - 0.500) + 3 * (1.609 - 0.500) = 1.386 and Z = 1.386 / sqrt(3.074) = 0.79::

    >>> laws = ReferenceLaws.full(np.tile([0.8, 0.2], (10, 1)))
    >>> test = score_test(*surprisal_scores(laws, np.array([0] * 7 + [1] * 3)))
    >>> round(test.z, 3), round(test.p_value, 3)
    (0.791, 0.429)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

DEFAULT_CLIP = 10.0
"""Surprisal clip (nats): a token of probability below exp(-10) = 4.5e-5 scores as if it had that probability."""


@dataclass(frozen=True)
class ReferenceLaws:
    """The reference's sampling law at each of ``n`` positions: listed tokens ``ids`` [n, k] (-1 pads a row) with
    probabilities ``probs`` [n, k], and ``tail`` [n], the mass of every token not listed."""

    ids: np.ndarray  # [n, k]
    probs: np.ndarray  # [n, k]
    tail: np.ndarray  # [n]

    @classmethod
    def full(cls, probs: ArrayLike) -> ReferenceLaws:
        """From full probability vectors [n, vocab] (token id = column)."""
        probs = np.asarray(probs, dtype=np.float64)
        ids = np.broadcast_to(np.arange(probs.shape[1]), probs.shape)
        return cls(ids, probs, np.zeros(probs.shape[0]))

    @classmethod
    def top(cls, ids: ArrayLike, probs: ArrayLike) -> ReferenceLaws:
        """From the ``k`` most likely tokens [n, k] (ids, probabilities); ``tail`` = 1 - their sum."""
        probs = np.asarray(probs, dtype=np.float64)
        return cls(np.asarray(ids), probs, np.clip(1.0 - probs.sum(1), 0.0, 1.0))

    @property
    def n(self) -> int:
        return int(self.probs.shape[0])

    def observed(self, tokens: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``(listed [n] bool, q [n])``: whether each token is listed, and its probability (0 when unlisted)."""
        hit = self.ids == np.asarray(tokens)[:, None]  # [n, k]
        listed = hit.any(1)
        return listed, np.where(listed, (self.probs * hit).sum(1), 0.0)


@dataclass(frozen=True)
class ScoreTest:
    """``Z`` of one predictable score, its two-sided p-value, and the sums it came from: ``centred`` = sum of
    ``h(x) - E h``, ``variance`` = sum of ``Var h``, over ``n`` positions."""

    z: float
    p_value: float
    centred: float
    variance: float
    n: int


def score_test(observed: ArrayLike, mean: ArrayLike, variance: ArrayLike) -> ScoreTest:
    """The martingale Z test of a score: values at the emitted tokens, means and variances under the reference [n]."""
    centred = float(np.sum(np.asarray(observed) - np.asarray(mean)))
    total = float(np.sum(variance))
    z = float(centred / np.sqrt(total)) if total > 0 else 0.0
    return ScoreTest(z, float(2 * norm.sf(abs(z))), centred, total, int(np.size(observed)))


def surprisal_scores(laws: ReferenceLaws, tokens: ArrayLike, clip: float = DEFAULT_CLIP) -> tuple[np.ndarray, ...]:
    """``(h(x_t), E h, Var h)`` [n] of the clipped surprisal ``h(x) = min(-log q(x), clip)`` (``clip`` for unlisted
    tokens and tokens of probability 0)."""
    with np.errstate(divide="ignore"):
        s = np.minimum(-np.log(laws.probs), clip)  # [n, k]
    mean = (laws.probs * s).sum(1) + laws.tail * clip
    second = (laws.probs * s * s).sum(1) + laws.tail * clip * clip
    listed, q = laws.observed(tokens)
    with np.errstate(divide="ignore"):
        h = np.where(listed & (q > 0), np.minimum(-np.log(np.where(q > 0, q, 1.0)), clip), clip)
    return h, mean, np.maximum(second - mean * mean, 0.0)


def top1_scores(laws: ReferenceLaws, tokens: ArrayLike) -> tuple[np.ndarray, ...]:
    """``(h(x_t), E h, Var h)`` [n] of the top-1 indicator ``h(x) = 1[x = argmax q]`` (ties: the first listed)."""
    best = laws.probs.argmax(1)
    q_max = laws.probs[np.arange(laws.n), best]
    h = (laws.ids[np.arange(laws.n), best] == np.asarray(tokens)).astype(np.float64)
    return h, q_max, q_max * (1 - q_max)


def log_ratio_scores(q: ArrayLike, d: ArrayLike, tokens: ArrayLike,
                     clip: float = DEFAULT_CLIP) -> tuple[np.ndarray, ...]:
    """``(h(x_t), E h, Var h)`` [n] of the draft log-ratio ``h(x) = log d_t(x) - log q_t(x)`` (clipped to
    ``[-clip, clip]``), for full laws ``q`` [n, vocab] (the reference's sampling law) and ``d`` [n, vocab] (the
    draft's sampling law at the same prefix, after the same temperature / top-k / top-p), emitted ``tokens`` [n].

    The draft's law at position t depends on the tokens before t only, so ``h_t`` is predictable and its Z is N(0, 1)
    under H0 like any other score. It is the score that sees a sampler leaning towards the draft: speculative sampling
    that recovers from ``q`` instead of the residual ``norm(max(0, q - p))`` (planted bug ``resample_from_target``)
    emits ``min(p, q) + (1 - sum min(p, q)) q``, which moves mass from the tokens where the draft is below the target
    to those where it is above: ``E h`` rises even when the draft is merely noisy (neither sharper nor flatter, so
    the surprisal barely moves).

    Worked example: q = (0.7, 0.2, 0.1), d = (0.4, 0.5, 0.1); h = (-0.560, 0.916, 0), E_q h = -0.208,
    E_q h**2 = 0.387, Var 0.344. The buggy law is (0.4, 0.2, 0.1) + 0.3 q = (0.61, 0.26, 0.13): ten positions that
    emit token 1 three times (where q expects two) give Z = (7 (-0.560) + 3 (0.916) + 10 (0.208)) / sqrt(3.44) = 0.494::

        >>> q, d = np.tile([0.7, 0.2, 0.1], (10, 1)), np.tile([0.4, 0.5, 0.1], (10, 1))
        >>> h, mean, var = log_ratio_scores(q, d, [0] * 7 + [1] * 3)
        >>> round(float(mean[0]), 3), round(float(var[0]), 3), round(score_test(h, mean, var).z, 3)
        (-0.208, 0.344, 0.494)
    """
    q = np.asarray(q, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.clip(np.log(d) - np.log(q), -clip, clip)  # [n, vocab]; q = d = 0 gives nan
    ratio = np.where(np.isnan(ratio), 0.0, ratio)
    mean = (q * ratio).sum(1)
    second = (q * ratio * ratio).sum(1)
    h = np.take_along_axis(ratio, np.asarray(tokens, dtype=np.int64)[:, None], 1)[:, 0]
    return h, mean, np.maximum(second - mean * mean, 0.0)


def impossible_tokens(laws: ReferenceLaws, tokens: ArrayLike) -> int:
    """How many emitted tokens have probability 0 under a law given in full (``tail`` 0): impossible under H0."""
    listed, q = laws.observed(tokens)
    return int(np.sum((q == 0) & (laws.tail == 0)))


@dataclass(frozen=True)
class CombinedTest:
    """The tests of :func:`combined_test` by name, their Holm-adjusted p-values, and the decision at ``alpha``."""

    names: tuple[str, ...]
    p_values: tuple[float, ...]
    p_holm: tuple[float, ...]
    alpha: float

    @property
    def reject(self) -> bool:
        return min(self.p_holm) < self.alpha


def combined_test(p_values: dict[str, float], alpha: float = 0.05) -> CombinedTest:
    """Holm's step-down combination of several tests of the same H0: H0 is rejected when any adjusted p < alpha.

    >>> c = combined_test({"surprisal": 0.01, "top1": 0.04, "pit": 0.5})
    >>> [round(p, 3) for p in c.p_holm], c.reject
    ([0.03, 0.08, 0.5], True)
    """
    names = tuple(p_values)
    raw = tuple(float(p_values[k]) for k in names)
    return CombinedTest(names, raw, tuple(float(p) for p in holm_adjusted(raw)), alpha)


def holm_adjusted(p_values: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values in the input order: ``max_{j <= i} min(1, (m - j + 1) p_(j))`` for the
    i-th smallest (as :func:`tais.stats.proportions.holm`, without statsmodels' per-call garbage collection, which
    costs a quarter of a second: this one runs inside simulations)."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = p.size
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out
