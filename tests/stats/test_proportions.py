"""Wilson, Cohen's h and Holm: the TAIS paper's figures and closed forms computed here by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from tais.stats import cohens_h, holm, wilson_interval


def test_paper_figures():
    low, high = wilson_interval(587, 700, level=0.95)
    assert (round(low, 3), round(high, 3)) == (0.809, 0.864)
    assert round(cohens_h(0.78, 0.79), 3) == -0.024


def wilson_by_hand(k: float, n: float, level: float) -> tuple[float, float]:
    z = norm.ppf(0.5 + level / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize("k, n, level", [(0, 10, 0.95), (10, 10, 0.95), (3, 50, 0.9), (587, 700, 0.99)])
def test_wilson_matches_the_closed_form(k, n, level):
    assert wilson_interval(k, n, level) == pytest.approx(wilson_by_hand(k, n, level), abs=1e-12)


def test_wilson_is_vectorised_and_handles_empty():
    low, high = wilson_interval(np.array([0, 5, 0]), np.array([10, 10, 0]))
    assert low.shape == (3,) and (low[2], high[2]) == (0.0, 1.0)
    assert (low[1], high[1]) == pytest.approx(wilson_by_hand(5, 10, 0.95))
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_cohens_h_formula_and_vectorisation():
    pc = np.array([0.0, 0.5, 0.99])
    pr = np.array([1.0, 0.5, 0.95])
    expected = [2 * math.asin(math.sqrt(x)) - 2 * math.asin(math.sqrt(y)) for x, y in zip(pc, pr)]
    np.testing.assert_allclose(cohens_h(pc, pr), expected, atol=1e-12)
    with pytest.raises(ValueError):
        cohens_h(1.2, 0.5)


def test_holm_matches_the_step_down_rule_by_hand():
    p = np.array([0.04, 0.001, 0.03, 0.2, 0.012])
    order = np.argsort(p)
    m = p.size
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    np.testing.assert_allclose(holm(p), adjusted)


def test_holm_leaves_nan_out_of_the_family():
    out = holm([0.01, np.nan, 0.04])
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.04])
