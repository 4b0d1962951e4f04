"""Diagnostics of a sampler reusing its random numbers: the lag-1 autocorrelation of the randomised PIT within
completions, and how often replicates of one prompt are token-identical against what the reference's laws expect.

**Lag-1 autocorrelation.** Under H0 the randomised PIT values ``u_t`` (:mod:`tais.stats.pit`) are i.i.d. U(0, 1)
(each is uniform given the past), so with the *known* mean 1/2 and variance 1/12::

    r = 12 / m * sum_{pairs} (u_t - 1/2) (u_{t+1} - 1/2)

over the ``m`` pairs of consecutive positions of the same completion has mean 0 and standard error exactly
``1 / sqrt(m)`` (the products are uncorrelated martingale differences of variance 1/144), and ``Z = r sqrt(m)`` is
N(0, 1) for large ``m``. A sampler that draws consecutive tokens from the same (or correlated) uniforms by inverse
CDF in the PIT's order (decreasing probability) gives ``r`` near 1. One that inverts in token-id order (the engines'
``inverse-cdf``) or takes a Gumbel argmax maps a reused uniform to unrelated PIT values: its reuse shows mostly in the
duplicates below, not here.

**Duplicates.** Two independent samples of one prompt are identical with probability ``c = sum_x p(x)**2`` over
whole completions ``x``; and ``E_{x ~ p} p(x) = c``, so the mean over a prompt's samples of their probability under
the reference's laws (the product of ``q_t(x_t)``) is an unbiased estimate of ``c`` under H0. The expected
duplicate rate is then ``sum_i C(r_i, 2) c_i / sum_i C(r_i, 2)`` over prompts with ``r_i >= 2`` replicates; an
arm whose replicates share their seeds or noise duplicates far more often. Exact when each completion's token ids
include its stop token (hf); an unlisted token counts as probability 0 (a lower bound of that completion's term).

Worked example: PIT values (0.1, 0.3, 0.9) and (0.6, 0.8) in two completions: pairs (0.1, 0.3), (0.3, 0.9),
(0.6, 0.8), products 0.08, -0.08, 0.03, r = 12 * 0.01 = 0.12, se 1/sqrt(3)::

    >>> lag = pit_lag1([0.1, 0.3, 0.9, 0.6, 0.8], [3, 2])
    >>> round(lag.r, 3), round(lag.se, 3), round(lag.z, 3), lag.n_pairs
    (0.12, 0.577, 0.208, 3)

Three replicates of a prompt, two identical (1 of 3 pairs), and a prompt with one replicate (no pair)::

    >>> d = duplicate_rate([[(5, 2), (5, 2), (5, 3)], [(1,)]])
    >>> d.identical, d.pairs, d.prompts, round(d.rate, 3)
    (1, 3, 1, 0.333)
    >>> round(expected_duplicate_rate([[0.5, 0.5, 0.2], [1.0]]), 3)   # the prompt's mean probability 0.4
    0.4
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm


@dataclass(frozen=True)
class Lag1:
    """Lag-1 autocorrelation ``r`` of PIT values within completions, its null standard error ``se = 1/sqrt(n_pairs)``,
    ``z = r / se`` and the two-sided ``p_value`` (r, se and z 0, p 1 when there is no pair)."""

    r: float
    se: float
    z: float
    p_value: float
    n_pairs: int


def pit_lag1(u: ArrayLike, lengths: Sequence[int]) -> Lag1:
    """The lag-1 statistic of PIT values ``u`` [n], laid out as consecutive completions of ``lengths`` (summing to
    n)."""
    u = np.asarray(u, dtype=np.float64) - 0.5
    if sum(lengths) != u.size:
        raise ValueError(f"completion lengths sum to {sum(lengths)}, but there are {u.size} PIT values")
    ends = np.cumsum(lengths)
    same = np.ones(max(u.size - 1, 0), dtype=bool)  # pair (t, t+1) inside one completion
    same[ends[:-1][ends[:-1] < u.size] - 1] = False
    m = int(same.sum())
    if m == 0:
        return Lag1(0.0, 0.0, 0.0, 1.0, 0)
    r = 12.0 * float((u[:-1] * u[1:])[same].sum()) / m
    se = 1.0 / float(np.sqrt(m))
    return Lag1(r, se, r / se, float(2 * norm.sf(abs(r / se))), m)


@dataclass(frozen=True)
class DuplicateRate:
    """Over the ``prompts`` with at least two replicates: ``pairs`` of replicates, of which ``identical`` have the
    same token ids."""

    identical: int
    pairs: int
    prompts: int

    @property
    def rate(self) -> float:
        return self.identical / self.pairs if self.pairs else 0.0


def duplicate_rate(groups: Iterable[Sequence[tuple[int, ...]]]) -> DuplicateRate:
    """Identical replicate pairs; ``groups``: per prompt, the token ids of each of its replicates."""
    identical = pairs = prompts = 0
    for group in groups:
        r = len(group)
        if r < 2:
            continue
        prompts += 1
        pairs += r * (r - 1) // 2
        identical += sum(c * (c - 1) // 2 for c in Counter(tuple(g) for g in group).values())
    return DuplicateRate(identical, pairs, prompts)


def expected_duplicate_rate(probabilities: Iterable[Sequence[float]]) -> float | None:
    """The duplicate rate expected under H0; ``probabilities``: per prompt, each replicate's probability under the
    reference's laws (None when no prompt has two replicates)."""
    weight = total = 0.0
    for group in probabilities:
        r = len(group)
        if r < 2:
            continue
        w = r * (r - 1) / 2
        weight += w
        total += w * float(np.mean(group))
    return total / weight if weight else None
