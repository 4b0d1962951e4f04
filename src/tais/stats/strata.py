"""The surprisal test and the (one-step) tempering estimate theta per stratum of positions: by the entropy of the
reference's law, by the output position and, for a speculative arm that records token origins, by the token's place
in its draft round (:func:`origin_strata`: target-only, draft slot j, bonus).

A stratum is a set of positions chosen by a *predictable* rule: the reference's law ``q_t`` and the position ``t``
are fixed before ``x_t`` is drawn. The clipped-surprisal score restricted to a stratum is therefore still a
martingale difference (:mod:`tais.stats.predictable`), so within each stratum ``S``::

    Z_S = sum_{t in S} (s_t(x_t) - E_q s_t) / sqrt(sum_{t in S} Var_q s_t)  ~  N(0, 1)  under H0,

and ``theta_S = sum centred / sum varentropy`` on the stratum's positions alone: the one Newton step of the tempering
estimate from theta = 0 (:mod:`tais.stats.tempering`). The one step, not the root the headline theta solves for: it
always has the sign of ``Z_S`` and exists whenever the stratum has varentropy, whereas the root of a small stratum,
or of laws with an unlisted tail (clipped at ``clip`` nats in the score but tempered as one token of mass ``tail``),
can run to the solver's bounds. It is biased, away from 0 for a too-hot sampler (by about a fifth at theta = 0.2)
and towards 0 for a too-cold one (-0.17 to -0.23 where the root is -0.29 to -0.39 in the tests' simulation): read it
for sign and rough size, the headline theta for the estimate. A sampler whose temperature error
is confined to flat laws (a bug in the top-p edge) or to late positions (a KV-cache or rounding drift) shows there
while the pooled theta dilutes it.

Bins. Entropy in nats, fixed edges (:data:`ENTROPY_EDGES`): ``[0, 0.5)`` near-deterministic positions (the top
token holds ~0.9 or more), ``[0.5, 1.5)`` a few plausible tokens, ``[1.5, 3)`` up to ~e**3 = 20 effective
tokens, ``>= 3`` flat laws. Fixed rather than quantile edges so that a candidate's and its null arm's strata are the
same sets of laws, comparable across runs; in nats because the tempering family acts on ``log q``. Positions
(:data:`POSITION_EDGES`): 0-7, 8-31, 32-127, 128+ (roughly geometric: early tokens of an answer, its body, long
generations). The entropy of a law given as its top tokens plus an unlisted ``tail`` counts the tail as one atom
(``-tail log tail``): a lower bound, exact when the tail is 0 (a law cut by top-p or top-k inside the listed
tokens), and the same atom :mod:`tais.stats.tempering` tempers.

Worked example: law (0.8, 0.2) (entropy 0.500, in the second bin) at positions 0-9, emitted token 1 three times;
as in :mod:`tais.stats.predictable`, Z = 1.386 / sqrt(3.074) = 0.791 and theta = 1.386 / 3.074 = 0.451::

    >>> laws = ReferenceLaws.full(np.tile([0.8, 0.2], (10, 1)))
    >>> tokens = np.array([0] * 7 + [1] * 3)
    >>> by_entropy = stratified_tests(laws, tokens, entropy_strata(laws), len(ENTROPY_EDGES) + 1)
    >>> [(s.n_tokens, None if s.theta is None else round(s.theta, 3), round(s.z, 3)) for s in by_entropy]
    [(0, None, 0.0), (10, 0.451, 0.791), (0, None, 0.0), (0, None, 0.0)]
    >>> position_strata(np.arange(10)).tolist() == [0] * 8 + [1] * 2
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from .predictable import DEFAULT_CLIP, ReferenceLaws, surprisal_scores

ENTROPY_EDGES = (0.5, 1.5, 3.0)
"""Upper edges (nats) of the entropy bins [0, 0.5), [0.5, 1.5), [1.5, 3), >= 3."""

POSITION_EDGES = (8, 32, 128)
"""Upper edges of the output-position bins 0-7, 8-31, 32-127, 128+."""


def bin_labels(edges: tuple[float, ...], *, integer: bool) -> tuple[str, ...]:
    """Names of the bins cut at ``edges``.

    >>> bin_labels(ENTROPY_EDGES, integer=False), bin_labels(POSITION_EDGES, integer=True)
    (('[0, 0.5)', '[0.5, 1.5)', '[1.5, 3)', '>= 3'), ('0-7', '8-31', '32-127', '128+'))
    """
    text = [f"{e:g}" for e in edges]
    if integer:
        lows = ["0"] + text
        return tuple(f"{lo}-{int(e) - 1}" for lo, e in zip(lows, edges)) + (f"{text[-1]}+",)
    lows = ["0"] + text
    return tuple(f"[{lo}, {hi})" for lo, hi in zip(lows, text)) + (f">= {text[-1]}",)


UNKNOWN_ORIGIN = -1
"""The origin code of a token whose decoder recorded none (left out of the origin strata)."""


def origin_strata(codes: ArrayLike) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """The origin stratum [n] of each token from its origin code (4 * slot + kind, kind 0 target, 1 accepted,
    2 recovered, 3 bonus: :class:`tais.types.TokenOrigin`; -1 unknown, stratum -1), the strata's labels (target-only,
    slot 1 .. slot K with K the largest draft slot seen, bonus) and, per stratum, how many of its tokens were
    accepted drafts (the rest of a slot's tokens are recovered ones). A slot stratum holds the tokens at that place
    of their draft round, accepted or recovered: whether a position is the j-th of its round is fixed before its
    token is drawn (by the round's earlier acceptances), so the selection is predictable; accepted and recovered
    apart are not (whether a token is accepted is decided with the token).

    >>> index, labels, accepted = origin_strata([0, 5, 9, 14, 0, 6, -1, 5, 19])
    >>> index.tolist(), labels, accepted.tolist()
    ([0, 1, 2, 3, 0, 1, -1, 1, 4], ('target-only', 'slot 1', 'slot 2', 'slot 3', 'bonus'), [0, 2, 1, 0, 0])
    """
    codes = np.asarray(codes, dtype=np.int64)
    known = codes >= 0
    kind, slot = codes % 4, codes // 4
    drafted = known & ((kind == 1) | (kind == 2))
    k = int(slot[drafted].max()) if drafted.any() else 0
    index = np.where(kind == 0, 0, np.where(kind == 3, k + 1, slot))
    index = np.where(known, index, -1)
    labels = ("target-only", *(f"slot {j}" for j in range(1, k + 1)), "bonus")
    accepted = np.bincount(index[known & (kind == 1)], minlength=k + 2)
    return index, labels, accepted


def law_entropy(laws: ReferenceLaws) -> np.ndarray:
    """Entropy (nats) [n] of each law, the unlisted tail as one atom (a lower bound; exact when the tail is 0).

    >>> law_entropy(ReferenceLaws.top([[0, 1]], [[0.5, 0.25]])).round(4).tolist()   # tail 0.25 as one atom
    [1.0397]
    """
    p = np.concatenate([laws.probs, laws.tail[:, None]], axis=1)  # [n, k+1]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    entropy: np.ndarray = terms.sum(1)
    return entropy


def entropy_strata(laws: ReferenceLaws, edges: tuple[float, ...] = ENTROPY_EDGES) -> np.ndarray:
    """The entropy bin [n] (0 .. len(edges)) of each law."""
    return np.searchsorted(np.asarray(edges), law_entropy(laws), side="right")


def position_strata(positions: ArrayLike, edges: tuple[int, ...] = POSITION_EDGES) -> np.ndarray:
    """The position bin [n] (0 .. len(edges)) of each output position."""
    return np.searchsorted(np.asarray(edges), np.asarray(positions), side="right")


@dataclass(frozen=True)
class StratumTest:
    """The surprisal test on one stratum: ``n_tokens``, ``theta`` (the one-step estimate; None when the stratum has no
    varentropy: empty or every law deterministic), ``z`` and its two-sided ``p_value``, ``mean_varentropy`` (nats²,
    per token)."""

    n_tokens: int
    theta: float | None
    z: float
    p_value: float
    mean_varentropy: float


def stratum_test(laws: ReferenceLaws, tokens: ArrayLike, mask: ArrayLike,
                 clip: float = DEFAULT_CLIP) -> StratumTest:
    """The test on the positions where ``mask`` [n] holds."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return StratumTest(0, None, 0.0, 1.0, 0.0)
    sub = ReferenceLaws(np.asarray(laws.ids)[mask], laws.probs[mask], laws.tail[mask])
    return scored_test(ScoreTerms(*surprisal_scores(sub, np.asarray(tokens)[mask], clip)))


class ScoreTerms(NamedTuple):
    """A predictable score at each token: ``observed`` h(x_t), ``mean`` E_q h, ``variance`` Var_q h, each [n]
    (:mod:`tais.stats.predictable`)."""

    observed: ArrayLike
    mean: ArrayLike
    variance: ArrayLike


def scored_test(terms: ScoreTerms, mask: ArrayLike | None = None) -> StratumTest:
    """The Z test and one-step estimate (sum centred / sum variance) of any predictable score on the positions where
    ``mask`` [n] holds (None: all); for the draft log-ratio the one step is the draft tilt lambda's.

    >>> t = scored_test(ScoreTerms([1.0, 0.0, 2.0], [0.5, 0.5, 0.5], [1.0, 1.0, 2.0]), [True, False, True])
    >>> t.n_tokens, t.theta, round(t.z, 4), t.mean_varentropy      # 2 / 3, 2 / sqrt(3), 3 / 2
    (2, 0.6666666666666666, 1.1547, 1.5)
    """
    h, mean, var = (np.asarray(a, dtype=np.float64) for a in terms)
    if mask is not None:
        keep = np.asarray(mask, dtype=bool)
        h, mean, var = h[keep], mean[keep], var[keep]
    n = int(h.size)
    total = float(var.sum())
    if total <= 0:
        return StratumTest(n, None, 0.0, 1.0, 0.0)
    centred = float((h - mean).sum())
    z = centred / float(np.sqrt(total))
    return StratumTest(n, centred / total, z, float(2 * norm.sf(abs(z))), total / n)


def stratified_tests(laws: ReferenceLaws, tokens: ArrayLike, strata: ArrayLike, k: int,
                     clip: float = DEFAULT_CLIP) -> tuple[StratumTest, ...]:
    """One :class:`StratumTest` per stratum 0 .. k-1 of ``strata`` [n] (empty strata included, with 0 tokens)."""
    strata = np.asarray(strata)
    return tuple(stratum_test(laws, tokens, strata == i, clip) for i in range(k))
