"""Does an arm show a rare event more often than its null arm? A one-sided exact test of two Poisson rates, by
conditioning on the total: with ``a`` events over ``n_a`` exposures in the arm and ``b`` over ``n_b`` in the null,
under equal rates ``a`` given ``a + b`` is Binomial(a + b, n_a / (n_a + n_b)) (the conditional test of Przyborowski
and Wilenski 1940), so ``p = P(X >= a)``.

Used for the T > 0 screen's soft leaks (tokens of probability 0 under the reference's exact law, within the
tolerance of its top-k / top-p edge): a correct sampler in the null arm's configuration shows them at the null arm's
rate, a sampler that keeps one token too many shows more.

Worked example: 6 soft leaks in 3 150 tokens against none in 3 140: p = (3150 / 6290)**6 = 0.016; 6 against 5 in
the same exposures: p = 0.50::

    >>> round(rate_excess_p(6, 3150, 0, 3140), 3), round(rate_excess_p(6, 3150, 5, 3140), 2)
    (0.016, 0.5)
"""

from __future__ import annotations

from scipy.stats import binomtest


def rate_excess_p(a: int, n_a: int, b: int, n_b: int) -> float:
    """One-sided p-value that the arm's rate ``a / n_a`` exceeds the null's ``b / n_b`` (1.0 with no event)."""
    if a == 0 or n_a == 0 or n_b == 0:
        return 1.0
    return float(binomtest(a, a + b, n_a / (n_a + n_b), alternative="greater").pvalue)
