"""How often an arm emits a token its reference did not list, against the most the reference's law allows.

Setting. A reference that teacher-forces through a top-k list (vLLM's ``prompt_logprobs``, an OpenAI-compatible
server) names its ``k`` most likely tokens at each position; the mass ``tau_t`` of the rest under its sampling law
is not known, but it is at most ``u_t``, computed from the listed tokens alone (each unlisted raw probability is at
most the last listed one's; with top-k at or below the list, or a top-p nucleus that ends inside the list, ``u_t`` =
0). The screen judges the listed tokens under the law conditioned on the list (exact), which sees nothing of the
tokens that fall outside it; this test sees exactly those: a hotter sampler emits unlisted tokens more often than
any law with ``tau_t <= u_t`` can.

Test. With ``U`` the count of unlisted emitted tokens over ``n`` positions, the increments ``1[x_t unlisted] - u_t``
have conditional mean ``tau_t - u_t <= 0`` under H0, so ::

    Z = (U - sum u_t) / sqrt(sum u_t (1 - u_t))

is at most a standard normal in the large-sample limit (martingale central limit theorem; the normaliser is
conservative while ``u_t <= 1/2``); the one-sided p-value ``P(N(0, 1) >= Z)`` is therefore conservative. A position
where ``u_t`` = 0 makes any unlisted token there impossible: ``p`` = 0.

Worked example: 400 positions, each allowing at most 5% unlisted mass (expected at most 20, variance 19): 31
unlisted tokens give Z = 11 / sqrt(19) = 2.52, p = 0.006; 22 give Z = 0.46, p = 0.32::

    >>> round(tail_count_test(np.r_[np.ones(31), np.zeros(369)], np.full(400, 0.05)).p_value, 3)
    0.006
    >>> round(tail_count_test(np.r_[np.ones(22), np.zeros(378)], np.full(400, 0.05)).p_value, 2)
    0.32
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm


@dataclass(frozen=True)
class TailCount:
    """``unlisted`` tokens emitted over ``n`` positions, ``expected_max`` (sum of the bounds ``u_t``), ``z`` and the
    conservative one-sided ``p_value`` of the module docstring."""

    unlisted: int
    n: int
    expected_max: float
    z: float
    p_value: float


def tail_count_test(unlisted: ArrayLike, bound: ArrayLike) -> TailCount:
    """The test of the module docstring: ``unlisted`` [n] (1 where the emitted token was not listed), ``bound`` [n]
    the upper bounds ``u_t`` of the unlisted mass under the reference's sampling law."""
    hits = np.asarray(unlisted, dtype=np.float64)
    u = np.clip(np.asarray(bound, dtype=np.float64), 0.0, 1.0)
    count, expected = int(hits.sum()), float(u.sum())
    if np.any((u == 0) & (hits > 0)):
        return TailCount(count, int(hits.size), expected, float("inf"), 0.0)
    variance = float((u * (1 - u)).sum())
    if variance == 0:
        return TailCount(count, int(hits.size), expected, 0.0, 1.0)
    z = (count - expected) / np.sqrt(variance)
    return TailCount(count, int(hits.size), expected, float(z), float(norm.sf(z)))
