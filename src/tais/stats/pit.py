"""The randomised probability integral transform (PIT) of sampled tokens, and its Anderson-Darling test of uniformity.

Order each position's tokens by decreasing reference probability (unlisted tokens form one block at the end). For
the emitted token ``x`` with probability ``q(x)`` and mass ``F(x-)`` of the tokens before it, the randomised PIT is
``u = F(x-) + V q(x)`` with ``V ~ U(0, 1)`` independent. Under H0 (``x ~ q`` given the past) every ``u`` is U(0, 1)
given the past, so the ``u`` are i.i.d. uniform (Brockwell 2007; Czado, Gneiting and Held 2009). A too-hot sampler
piles ``u`` near 1, a too-cold one near 0.

The Anderson-Darling statistic of ``n`` uniforms is ``A2 = -n - (1/n) sum_i (2i - 1) (log u_(i) + log(1 -
u_(n+1-i)))``; its p-value uses the asymptotic law (Marsaglia and Marsaglia 2004, ``ADinf``), whose 5% and 1%
points are Stephens' 2.492 and 3.857::

    >>> round(1 - anderson_darling_cdf(2.492), 3), round(1 - anderson_darling_cdf(3.857), 3)
    (0.05, 0.01)
    >>> laws = ReferenceLaws.full([[0.5, 0.3, 0.2]])
    >>> randomised_pit(laws, [1], np.random.default_rng(0)).round(3).tolist()   # 0.5 + V * 0.3
    [0.691]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .predictable import ReferenceLaws


def randomised_pit(laws: ReferenceLaws, tokens: ArrayLike, rng: np.random.Generator) -> np.ndarray:
    """The randomised PIT [n] of the emitted ``tokens`` [n] (``rng`` draws the V's)."""
    order = np.argsort(-laws.probs, axis=1, kind="stable")
    probs = np.take_along_axis(laws.probs, order, 1)  # [n, k], descending
    ids = np.take_along_axis(np.asarray(laws.ids), order, 1)
    before = np.cumsum(probs, 1) - probs
    hit = ids == np.asarray(tokens)[:, None]
    listed = hit.any(1)
    start = np.where(listed, (before * hit).sum(1), 1.0 - laws.tail)
    width = np.where(listed, (probs * hit).sum(1), laws.tail)
    pit: np.ndarray = np.clip(start + rng.uniform(size=laws.n) * width, 0.0, 1.0)
    return pit


@dataclass(frozen=True)
class AndersonDarling:
    statistic: float
    p_value: float
    n: int


def anderson_darling_uniform(u: ArrayLike) -> AndersonDarling:
    """Anderson-Darling test that ``u`` [n] are i.i.d. U(0, 1) (asymptotic p-value)."""
    u = np.sort(np.clip(np.asarray(u, dtype=np.float64), 1e-300, 1 - 1e-16))
    n = u.size
    i = np.arange(1, n + 1)
    a2 = float(-n - np.sum((2 * i - 1) * (np.log(u) + np.log1p(-u[::-1]))) / n)
    return AndersonDarling(a2, float(1.0 - anderson_darling_cdf(a2)), n)


def anderson_darling_cdf(z: float) -> float:
    """P(A2 <= z) for the asymptotic Anderson-Darling law (Marsaglia and Marsaglia 2004, ``ADinf``)."""
    if z <= 0:
        return 0.0
    if z < 2:
        poly = 2.00012 + (.247105 - (.0649821 - (.0347962 - (.011672 - .00168691 * z) * z) * z) * z) * z
        return float(np.exp(-1.2337141 / z) / np.sqrt(z) * poly)
    return float(np.exp(-np.exp(1.0776 - (2.30695 - (.43424 - (.082433 - (.008056 - .0003146 * z) * z) * z) * z) * z)))
