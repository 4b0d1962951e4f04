"""Divergence metrics between a reference's and a candidate's next-token distributions, with llama.cpp's
``llama-perplexity --kl-divergence`` definitions (tools/perplexity/perplexity.cpp).

Per scored position i (the same prefix under both arms), with reference distribution P and candidate Q:

- **KL** = KL(P || Q) = sum_v P(v) (log P(v) - log Q(v)) (nats);
- **same top-1**: argmax P == argmax Q;
- **Δp** = Q(t) - P(t) for the token t actually at position i (the candidate's probability of the reference's
  token minus the reference's own).

Summary over positions, as llama.cpp prints it:

- mean KL ± its standard error sqrt((mean(KL²) - mean(KL)²) / (n - 1)) (reported as 0 for n <= 10, as llama.cpp);
- KL percentiles max, 99.9, 99, 95, 90, median, 10, 5, 1, 0.1, min, by linear interpolation between order
  statistics at fraction * (n - 1) (llama.cpp's ``percentile``; numpy's default);
- same-top-1 rate p ± sqrt(p (1 - p) / (n - 1)) (llama.cpp) and a Wilson 95% interval;
- Δp mean ± standard error, RMS Δp = sqrt(mean(Δp²)) ± 0.5 / RMS * SE(Δp²), and the Δp percentiles.

Where tais differs from llama.cpp:

- llama.cpp scores a fixed text, cut into chunks, over the second half of each context window; tais scores the
  battery's own trajectories (the tokens an arm generated after each prompt), every completion position;
- llama.cpp stores the base log-probabilities as 16-bit integers and skips the KL terms of base tokens with
  log P <= -16; tais computes the exact sum in float64 from full distributions;
- where a backend reports only a top-k (vLLM, OpenAI-compatible servers), the full distribution is not known:
  **Δp is still exact** (teacher forcing reports the forced token's own log-probability on both sides) and **same
  top-1 is exact** (each top-k starts with the top-1), but **KL is a lower bound**: the KL of the two
  distributions coarse-grained to the partition {tokens in both top-k lists} + {everything else}, which cannot
  exceed the true KL (data-processing inequality). How much is unaccounted for is bounded by the mass outside the
  shared tokens, reported as ``max_tail_mass`` (the largest reference probability left in the lumped remainder).

Worked example (two positions, full distributions over a 3-token vocabulary)::

    >>> import numpy as np
    >>> ref = np.log([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1]])
    >>> cand = np.log([[0.6, 0.3, 0.1], [0.4, 0.5, 0.1]])
    >>> m = position_metrics(ref, cand, tokens=np.array([0, 0]))
    >>> np.round(m.kl, 4).tolist(), m.same_top1.tolist(), np.round(m.dp, 3).tolist()
    ([0.0268, 0.0223], [True, False], [-0.1, -0.1])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tais.types import PositionScore

PERCENTILES: tuple[tuple[str, float], ...] = (
    ("max", 1.0), ("99.9", 0.999), ("99", 0.99), ("95", 0.95), ("90", 0.90), ("median", 0.5), ("10", 0.10),
    ("5", 0.05), ("1", 0.01), ("0.1", 0.001), ("min", 0.0))
"""The order statistics reported for KL and Δp: (label, fraction)."""

WILSON_Z = 1.959963984540054
"""Normal quantile of a two-sided 95% interval."""


@dataclass(frozen=True)
class PositionMetrics:
    """Per-position KL(P || Q) [n], same top-1 [n] and Δp [n]; ``kl_exact`` is False where KL is a top-k lower
    bound, and ``tail_mass`` [n] is the reference mass the lower bound lumps together (0 where exact)."""

    kl: np.ndarray
    same_top1: np.ndarray
    dp: np.ndarray
    kl_exact: bool = True
    tail_mass: np.ndarray | None = None


@dataclass(frozen=True)
class DivergenceSummary:
    """The llama.cpp-style summary of many positions (see the module docstring); every probability is a fraction
    (llama.cpp prints Δp and the same-top rate in percent)."""

    n: int
    kl_mean: float
    kl_mean_se: float
    kl_percentiles: tuple[tuple[str, float], ...]
    same_top1: float
    same_top1_se: float
    same_top1_wilson95: tuple[float, float]
    dp_mean: float
    dp_mean_se: float
    dp_rms: float
    dp_rms_se: float
    dp_percentiles: tuple[tuple[str, float], ...]
    kl_exact: bool
    max_tail_mass: float

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["kl_percentiles"] = dict(self.kl_percentiles)
        d["dp_percentiles"] = dict(self.dp_percentiles)
        d["same_top1_wilson95"] = list(self.same_top1_wilson95)
        return d


def position_metrics(ref_logp: np.ndarray, cand_logp: np.ndarray, tokens: np.ndarray) -> PositionMetrics:
    """Exact metrics from full log-probability rows: ``ref_logp`` [n, vocab], ``cand_logp`` [n, vocab] (natural
    logs, each row normalised), ``tokens`` [n] (the token at each position). Computed in float64."""
    ref = np.asarray(ref_logp, dtype=np.float64)  # [n, vocab]
    cand = np.asarray(cand_logp, dtype=np.float64)  # [n, vocab]
    p = np.exp(ref)
    kl = np.where(p > 0, p * (ref - cand), 0.0).sum(axis=1)  # [n]
    same = ref.argmax(axis=1) == cand.argmax(axis=1)  # [n]
    rows = np.arange(ref.shape[0])
    dp = np.exp(cand[rows, tokens]) - np.exp(ref[rows, tokens])  # [n]
    return PositionMetrics(kl=kl, same_top1=same, dp=dp, kl_exact=True, tail_mass=np.zeros(len(kl)))


def topk_kl_lower_bound(ref: PositionScore, cand: PositionScore) -> tuple[float, float]:
    """(KL lower bound, reference mass lumped) from two top-k lists: KL of the distributions coarse-grained to the
    tokens both lists hold plus one "everything else" bucket.

    >>> r = PositionScore(-0.2, 1, -0.2, ((1, math.log(0.8)), (2, math.log(0.15))), exact=False)
    >>> c = PositionScore(-0.4, 1, -0.4, ((1, math.log(0.6)), (2, math.log(0.3))), exact=False)
    >>> kl, lumped = topk_kl_lower_bound(r, c)
    >>> round(kl, 5), round(lumped, 2)     # 0.8 ln(0.8/0.6) + 0.15 ln(0.15/0.3) + 0.05 ln(0.05/0.1)
    (0.09152, 0.05)
    """
    ref_top, cand_top = dict(ref.top), dict(cand.top)
    shared = [t for t in ref_top if t in cand_top]
    p = np.exp([ref_top[t] for t in shared])
    q = np.exp([cand_top[t] for t in shared])
    kl = float(np.sum(p * (np.log(p) - np.log(q))))
    p_rest, q_rest = max(0.0, 1.0 - float(p.sum())), max(0.0, 1.0 - float(q.sum()))
    if p_rest > 0:
        kl += p_rest * (math.log(p_rest) - math.log(max(q_rest, 1e-300)))
    return kl, p_rest


def position_metrics_from_scores(ref: Sequence[PositionScore], cand: Sequence[PositionScore]) -> PositionMetrics:
    """Metrics from two teacher-forced scorings of the same tokens (``ref[i]``, ``cand[i]`` at the same position).
    KL is exact where both sides saw the full distribution (``exact`` and an entropy are not enough: the full rows
    are needed, so scorings always give the top-k lower bound); same top-1 and Δp are exact."""
    if len(ref) != len(cand):
        raise ValueError(f"{len(ref)} reference positions but {len(cand)} candidate positions")
    bounds = [topk_kl_lower_bound(r, c) for r, c in zip(ref, cand)]
    kl = np.array([b[0] for b in bounds], dtype=np.float64)
    tail = np.array([b[1] for b in bounds], dtype=np.float64)
    same = np.array([r.top1_id == c.top1_id for r, c in zip(ref, cand)], dtype=bool)
    dp = np.array([math.exp(c.logprob) - math.exp(r.logprob) for r, c in zip(ref, cand)], dtype=np.float64)
    return PositionMetrics(kl=kl, same_top1=same, dp=dp, kl_exact=False, tail_mass=tail)


def mean_and_uncertainty(values: np.ndarray) -> tuple[float, float]:
    """llama.cpp's ``mean_and_uncertainty``: the mean and sqrt((mean(x²) - mean²) / (n - 1)), 0 for n <= 10.

    >>> mean_and_uncertainty(np.arange(11.0))
    (5.0, 1.0)
    """
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    mean = float(np.mean(values))
    var = float(np.mean(np.square(values))) - mean * mean
    return mean, (math.sqrt(var / (n - 1)) if var > 0 and n > 10 else 0.0)


def percentiles(values: np.ndarray) -> tuple[tuple[str, float], ...]:
    """The :data:`PERCENTILES` of ``values`` by linear interpolation at fraction * (n - 1).

    >>> dict(percentiles(np.array([3.0, 1.0, 2.0])))["median"], dict(percentiles(np.array([0.0, 10.0])))["90"]
    (2.0, 9.0)
    """
    if len(values) == 0:
        return tuple((label, float("nan")) for label, _ in PERCENTILES)
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    return tuple((label, float(np.quantile(ordered, f))) for label, f in PERCENTILES)


def wilson_interval(successes: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion.

    >>> tuple(round(x, 4) for x in wilson_interval(45, 50))
    (0.7864, 0.9565)
    """
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def summarize(metrics: Sequence[PositionMetrics]) -> DivergenceSummary:
    """The summary over every position of ``metrics`` (e.g. one :class:`PositionMetrics` per completion)."""
    kl = np.concatenate([m.kl for m in metrics]) if metrics else np.zeros(0)
    same = np.concatenate([m.same_top1 for m in metrics]) if metrics else np.zeros(0, dtype=bool)
    dp = np.concatenate([m.dp for m in metrics]) if metrics else np.zeros(0)
    tails = [m.tail_mass for m in metrics if m.tail_mass is not None and len(m.tail_mass)]
    n = len(kl)
    kl_mean, kl_se = mean_and_uncertainty(kl)
    p_same = float(same.mean()) if n else float("nan")
    dp_mean, dp_se = mean_and_uncertainty(dp)
    mse, mse_se = mean_and_uncertainty(np.square(dp))
    rms = math.sqrt(mse)
    return DivergenceSummary(
        n=n, kl_mean=kl_mean, kl_mean_se=kl_se, kl_percentiles=percentiles(kl),
        same_top1=p_same, same_top1_se=math.sqrt(p_same * (1 - p_same) / (n - 1)) if n > 1 else 0.0,
        same_top1_wilson95=wilson_interval(int(same.sum()), n),
        dp_mean=dp_mean, dp_mean_se=dp_se, dp_rms=rms, dp_rms_se=0.5 / rms * mse_se if rms > 0 else 0.0,
        dp_percentiles=percentiles(dp), kl_exact=all(m.kl_exact for m in metrics),
        max_tail_mass=float(max((t.max() for t in tails), default=0.0)),
    )
