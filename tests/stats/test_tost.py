"""Paired TOST: the p-value decision and the interval decision agree; one-sided p-values follow the score test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from tais.stats import paired_tost, tango_interval, tango_score


def test_p_value_and_interval_decisions_agree_over_many_tables():
    rng = np.random.default_rng(11)
    n = rng.integers(1, 3000, 100_000)
    disc = rng.uniform(0, 0.2, n.size)
    b = rng.binomial(n, disc / 2)
    c = rng.binomial(n - b, np.minimum(1, disc / 2 / np.maximum(1 - disc / 2, 1e-9)))
    for margin, alpha in ((0.03, 0.05), (0.05, 0.025), (0.1, 0.1)):
        r = paired_tost(b, c, n, margin=margin, alpha=alpha)
        by_p = r.p_value < alpha
        assert np.array_equal(by_p, r.equivalent)
        assert 0.01 < r.equivalent.mean() < 0.99          # both decisions actually occur
        assert np.all((r.ci_low > -margin) & (r.ci_high < margin) == r.equivalent)


def test_one_sided_p_values_are_the_score_tests_at_each_margin():
    b, c, n, m = 9, 4, 600, 0.03
    r = paired_tost(b, c, n, margin=m, alpha=0.05)
    p_lower = norm.sf(float(tango_score(b, c, n, -m)))      # H0: delta <= -m
    p_upper = norm.cdf(float(tango_score(b, c, n, m)))      # H0: delta >= +m
    assert r.p_value == pytest.approx(max(p_lower, p_upper), rel=1e-12)
    assert (r.ci_low, r.ci_high) == pytest.approx(tango_interval(b, c, n, level=0.90))


def test_an_interval_touching_the_margin_is_not_equivalent():
    # p just at alpha <=> the 90% bound sits on the margin; find n where the bound crosses 3pp for b = c = 0
    z2 = norm.ppf(0.95) ** 2
    n_edge = z2 * (1 - 0.03) / 0.03                             # high = z^2/(n+z^2) = 0.03
    below, above = int(np.floor(n_edge)), int(np.ceil(n_edge))
    assert not paired_tost(0, 0, below).equivalent
    assert paired_tost(0, 0, above).equivalent


def test_scalar_and_array_results_and_input_checks():
    r = paired_tost(2, 3, 800)
    assert isinstance(r.equivalent, bool) and isinstance(r.p_value, float)
    ra = paired_tost(np.array([2, 40]), np.array([3, 0]), np.array([800, 800]))
    assert ra.equivalent.tolist() == [True, False]
    assert paired_tost(0, 0, 0).p_value == 1.0 and not paired_tost(0, 0, 0).equivalent
    for kwargs in ({"margin": 0.0}, {"margin": 1.0}, {"alpha": 0.0}, {"alpha": 0.5}):
        with pytest.raises(ValueError):
            paired_tost(1, 1, 100, **kwargs)
