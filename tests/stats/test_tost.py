"""Paired TOST: the p-value decision and the interval decision agree; one-sided p-values equal an independent
numerical score test; the size at the margin is alpha by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import norm

from tais.stats import paired_tost


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


def independent_score(b: int, c: int, n: int, delta: float) -> float:
    """Tango's score statistic from first principles, sharing no code with tais.stats: the restricted MLE of the
    b-cell probability q by numerically maximising the multinomial log-likelihood under p_C - p_R = delta, then
    (c - b - n delta) over the standard deviation of c - b under (q, q + delta): n (2q + delta - delta^2)."""
    rest = n - b - c
    lo, hi = max(0.0, -delta), (1.0 - delta) / 2.0

    def neg_loglik(q: float) -> float:
        cells = ((b, q), (c, q + delta), (rest, 1.0 - 2.0 * q - delta))
        return -sum(count * np.log(max(p, 1e-300)) for count, p in cells if count)

    q = minimize_scalar(neg_loglik, bounds=(lo + 1e-13, hi - 1e-13), method="bounded", options={"xatol": 1e-14}).x
    return (c - b - n * delta) / np.sqrt(n * (2 * q + delta - delta * delta))


@pytest.mark.parametrize("b, c, n", [(9, 4, 600), (30, 12, 400), (0, 3, 250), (5, 5, 90)])
def test_one_sided_p_values_match_an_independent_score_test(b, c, n):
    m = 0.03
    r = paired_tost(b, c, n, margin=m, alpha=0.05)
    p_lower = norm.sf(independent_score(b, c, n, -m))      # H0: delta <= -m, rejected for a large score
    p_upper = norm.cdf(independent_score(b, c, n, m))      # H0: delta >= +m, rejected for a very negative score
    assert r.p_value == pytest.approx(max(p_lower, p_upper), rel=1e-6, abs=1e-12)


def test_the_size_at_the_margin_is_alpha_by_simulation():
    """On the boundary of the null (true difference exactly -margin), TOST at alpha = 0.05 must declare equivalence
    in about 5% of simulated trials: the error rate the method promises, checked without any formula of it."""
    rng = np.random.default_rng(5)
    n, margin, trials = 800, 0.05, 40_000
    p_b, p_c = 0.10, 0.05  # delta = p_c - p_b = -0.05: on the lower margin
    counts = rng.multinomial(n, [p_b, p_c, 1 - p_b - p_c], size=trials)
    r = paired_tost(counts[:, 0], counts[:, 1], np.full(trials, n), margin=margin, alpha=0.05)
    rate = float(np.mean(r.equivalent))
    se = np.sqrt(0.05 * 0.95 / trials)
    assert abs(rate - 0.05) < 0.01 + 3 * se, rate
    inside = paired_tost(*rng.multinomial(n, [0.075, 0.075, 0.85], size=trials)[:, :2].T, np.full(trials, n),
                         margin=margin, alpha=0.05)
    assert np.mean(inside.equivalent) > 0.5  # and it does declare equivalence when the truth is inside


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
