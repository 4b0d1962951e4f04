"""Tango's score interval: a published worked example, an independent numerical implementation of the same score test,
behaviour at the edges, and a coverage simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from helpers.independent_tango import independent_tango_interval
from tais.stats import tango_interval, tango_score


def test_published_cavo_example():
    # Complete response before/after consolidation therapy (Cavo et al. 2012), the worked example of Fagerland,
    # Lydersen and Laake (2014, Stat Med 33:2850) and of their book's chapter 8. Table n11=59, n12=6, n21=16, n22=80;
    # delta = (n12 - n21)/N = -0.0621; Tango 95% CI -0.1240 to -0.0054 (R contingencytables, tests/testthat/test-ch8.R).
    # In tais' orientation the candidate's gains are c = n12 = 6 and its losses b = n21 = 16.
    low, high = tango_interval(16, 6, 161, level=0.95)
    assert (round(low, 4), round(high, 4)) == (-0.1240, -0.0054)
    # Swapping the arms mirrors the interval.
    low2, high2 = tango_interval(6, 16, 161, level=0.95)
    assert low2 == pytest.approx(-high, abs=1e-12) and high2 == pytest.approx(-low, abs=1e-12)


@pytest.mark.parametrize(
    "b, c, n, level",
    [(7, 1, 21, 0.95), (16, 6, 161, 0.95), (40, 20, 160, 0.95), (3, 0, 30, 0.90), (0, 2, 12, 0.99),
     (12, 14, 400, 0.90), (1, 1, 1000, 0.90), (50, 0, 50, 0.95)],
)
def test_matches_an_independent_numerical_implementation(b, c, n, level):
    expected = independent_tango_interval(b, c, n, level)
    assert tango_interval(b, c, n, level) == pytest.approx(expected, abs=2e-6)


def test_bounds_are_where_the_score_statistic_crosses_the_critical_value():
    b, c, n = np.array([5, 0, 30, 2]), np.array([9, 4, 10, 2]), np.array([200, 50, 90, 2000])
    low, high = tango_interval(b, c, n, level=0.90)
    z = norm.ppf(0.95)
    assert np.allclose(tango_score(b, c, n, low), z, atol=1e-6)
    assert np.allclose(tango_score(b, c, n, high), -z, atol=1e-6)


@pytest.mark.parametrize("a, b, c, d", [(0, 0, 0, 40), (40, 0, 0, 0), (20, 0, 0, 20), (1, 0, 0, 0)])
def test_stays_non_degenerate_without_discordant_pairs_at_0_and_100_percent(a, b, c, d):
    n = a + b + c + d
    low, high = tango_interval(b, c, n, level=0.90)
    # with b = c = 0 the bounds solve n delta^2 = z^2 |delta| (1 - |delta|): |delta| = z^2 / (n + z^2)
    z2 = norm.ppf(0.95) ** 2
    assert low < 0 < high
    assert high == pytest.approx(z2 / (n + z2), rel=1e-9) and low == pytest.approx(-high, rel=1e-9)


def test_extreme_tables_keep_bounds_inside_minus_one_to_one():
    low, high = tango_interval([0, 10], [10, 0], [10, 10], level=0.95)
    assert high[0] == pytest.approx(1.0) and -1 < low[0] < 1
    assert low[1] == pytest.approx(-1.0) and -1 < high[1] < 1


def test_vectorised_matches_scalar_calls_and_keeps_shape():
    rng = np.random.default_rng(3)
    n = rng.integers(1, 300, size=(4, 5))
    b = rng.integers(0, 1 + n // 3)
    c = rng.integers(0, 1 + n // 3)
    low, high = tango_interval(b, c, n, level=0.9)
    assert low.shape == (4, 5) == high.shape
    for idx in np.ndindex(n.shape):
        assert (low[idx], high[idx]) == pytest.approx(tango_interval(int(b[idx]), int(c[idx]), int(n[idx]), 0.9))


def test_empty_table_is_uninformative_and_bad_counts_are_rejected():
    assert tango_interval(0, 0, 0) == (-1.0, 1.0)
    with pytest.raises(ValueError):
        tango_interval(-1, 0, 10)
    with pytest.raises(ValueError):
        tango_interval(6, 6, 10)
    with pytest.raises(ValueError):
        tango_interval(1, 1, 10, level=1.0)


def test_coverage_of_the_95_percent_interval_is_nominal_on_average():
    """400 random paired designs (n from 30 to 400, cell probabilities uniform on the simplex), 250 tables each."""
    rng = np.random.default_rng(20260101)
    designs, reps = 400, 250
    n = rng.integers(30, 401, designs)
    probs = rng.dirichlet(np.ones(4), designs)
    counts = np.concatenate([rng.multinomial(k, p, size=reps) for k, p in zip(n, probs)])
    truth = np.repeat(probs[:, 2] - probs[:, 1], reps)
    low, high = tango_interval(counts[:, 1], counts[:, 2], np.repeat(n, reps), level=0.95)
    covered = ((low <= truth) & (truth <= high)).reshape(designs, reps).mean(axis=1)
    assert abs(covered.mean() - 0.95) < 0.015, covered.mean()
    # no design is badly under-covered (the Wald interval's coverage collapses near 0% / 100%)
    assert np.percentile(covered, 5) > 0.90
