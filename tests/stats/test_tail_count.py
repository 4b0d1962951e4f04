"""The unlisted-token count test (tais.stats.tail_count): conservative under H0 by simulation, powerful against a
sampler that puts more mass outside the list than the bound allows, and exact where the bound is 0."""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from tais.stats.tail_count import tail_count_test


def _rejections(rng: np.random.Generator, low: float, high: float, trials: int = 1000, n: int = 500) -> int:
    """Rejections at 5% when the sampler's real unlisted mass is the bound times U(low, high) at each position."""
    hits = 0
    for _ in range(trials):
        u = rng.uniform(0.0, 0.3, size=n)  # the bounds the reference's list allows
        tau = np.minimum(u * rng.uniform(low, high, size=n), 1.0)  # the sampler's real unlisted mass
        hits += tail_count_test(rng.uniform(size=n) < tau, u).p_value < 0.05
    return hits


def test_conservative_when_the_unlisted_mass_stays_under_its_bound_and_powerful_when_it_does_not():
    rng = np.random.default_rng(3)
    under = _rejections(rng, 0.3, 1.0)  # H0, the usual case: the bound is loose
    at = _rejections(rng, 1.0, 1.0)  # H0 at its edge: the mass is the bound itself
    over = _rejections(rng, 1.5, 1.5)  # a hotter sampler: half again the most the law allows
    print(f"\nrejections at 5% of 1000: under the bound {under}, at it {at}, 1.5 x the bound {over}")
    assert under <= 5 and at <= binom.ppf(0.99, 1000, 0.05)
    assert over >= 900


def test_an_unlisted_token_where_the_law_allows_none_is_impossible():
    result = tail_count_test([0, 1, 0], [0.2, 0.0, 0.1])
    assert result.p_value == 0.0 and result.unlisted == 1
    assert tail_count_test([0, 0, 0], [0.0, 0.0, 0.0]).p_value == 1.0
