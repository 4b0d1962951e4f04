"""A score split by a speculative round's outcome at a draft slot, accepted or recovered, centred so that each part
is a martingale difference under H0 (the lossless rejection rule with a known draft law).

At a position that is slot j of its draft round (a predictable selection, :func:`tais.stats.strata.origin_strata`)
the lossless rule emits the pair (outcome, token) with P(accepted, x) = min(p, q)(x) and P(recovered, x) =
max(0, q - p)(x), ``q`` the target's (under H0 the reference's) sampling law and ``p`` the draft's. Whether a token is
accepted is decided with the token, so "accepted" alone is not a predictable selection: the accepted tokens follow
``min(p, q) / beta`` (``beta = sum min(p, q)``), not ``q``, and their plain centred score is biased. Split a score
``h`` instead as ``A_t h(x_t) + R_t h(x_t)`` (``A``, ``R`` the outcome indicators) and centre each part on its own
law::

    D^A_t = A_t h(x_t) - sum_x min(p, q)(x) h(x),   Var = sum min(p, q) h^2 - (sum min(p, q) h)^2
    D^R_t = R_t h(x_t) - sum_x max(0, q - p)(x) h(x)

Each is a martingale difference under H0; their sum is the slot's plain centred score. A sampler that recovers from
``q`` instead of the residual (planted bug ``resample_from_target``) leaves the accepted part's law unchanged (its Z
stays N(0, 1)) and puts its whole excess, ``sum (min(p, q) - beta q) h``, into the recovered part.

Worked example (one position, q = (0.5, 0.3, 0.2), p = (0.1, 0.9, 0), h = (1, 2, 3)): min(p, q) = (0.1, 0.3, 0),
max(0, q - p) = (0.4, 0, 0.2); the accepted token b gives D^A = 2 - (0.1 + 0.6) = 1.3 with Var 1.3 - 0.7^2 = 0.81,
and D^R = 0 - (0.4 + 0.6) = -1 with Var 2.2 - 1^2 = 1.2::

    >>> a, r = split_terms(np.array([[0.5, 0.3, 0.2]]), np.array([[0.1, 0.9, 0.0]]), np.array([[1.0, 2.0, 3.0]]),
    ...                    [1], [True])
    >>> [round(float(np.asarray(x)[0]), 4) for x in a], [round(float(np.asarray(x)[0]), 4) for x in r]
    ([2.0, 0.7, 0.81], [0.0, 1.0, 1.2])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .strata import ScoreTerms


def split_terms(q: ArrayLike, p: ArrayLike, score: ArrayLike, tokens: ArrayLike,
                accepted: ArrayLike) -> tuple[ScoreTerms, ScoreTerms]:
    """The accepted and the recovered part (observed, centre, conditional variance, each [n]) of ``score`` [n, vocab]
    at the emitted ``tokens`` [n], for target laws ``q`` [n, vocab], draft laws ``p`` [n, vocab] and the outcome
    flags ``accepted`` [n] (True: an accepted draft; False: the recovered token)."""
    q, p, h = (np.asarray(a, dtype=np.float64) for a in (q, p, score))
    flags = np.asarray(accepted, dtype=bool)
    emitted = h[np.arange(len(h)), np.asarray(tokens, dtype=np.int64)]  # [n]
    parts = []
    for weight, own in ((np.minimum(p, q), flags), (np.maximum(q - p, 0.0), ~flags)):
        mean = (weight * h).sum(1)
        variance = np.maximum((weight * h * h).sum(1) - mean * mean, 0.0)
        parts.append(ScoreTerms(np.where(own, emitted, 0.0), mean, variance))
    return parts[0], parts[1]


@dataclass(frozen=True)
class OutcomeSplit:
    """Both parts of the clipped surprisal and of the draft log-ratio at every token of an arm (each [n]; zeros at a
    token that is no drafted slot's: target-only, bonus, origin unknown)."""

    surprisal_accepted: ScoreTerms
    surprisal_recovered: ScoreTerms
    ratio_accepted: ScoreTerms
    ratio_recovered: ScoreTerms

    def take(self, index: np.ndarray) -> OutcomeSplit:
        """The split at the tokens ``index`` [m] (a boolean mask or positions)."""
        return OutcomeSplit(*(ScoreTerms(*(np.asarray(a)[index] for a in t)) for t in
                              (self.surprisal_accepted, self.surprisal_recovered, self.ratio_accepted,
                               self.ratio_recovered)))

    @classmethod
    def concatenated(cls, parts: list[OutcomeSplit]) -> OutcomeSplit:
        fields = ("surprisal_accepted", "surprisal_recovered", "ratio_accepted", "ratio_recovered")
        return cls(*(ScoreTerms(*(np.concatenate([np.asarray(getattr(p, f)[i]) for p in parts]) for i in range(3)))
                     for f in fields))
