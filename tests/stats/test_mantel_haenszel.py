"""Mantel-Haenszel pooled paired odds ratio against statsmodels' stratified 2x2 analysis with one stratum per pair."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import StratifiedTable

from tais.stats import mantel_haenszel_paired


def pair_strata(b: int, c: int, concordant: int) -> list[np.ndarray]:
    """One 2x2 table per pair: rows (reference, candidate), columns (y = 1, y = 0)."""
    b_pair = np.array([[1, 0], [0, 1]])      # reference 1, candidate 0
    c_pair = np.array([[0, 1], [1, 0]])      # reference 0, candidate 1
    same = np.array([[1, 0], [1, 0]])        # both 1
    return [b_pair] * b + [c_pair] * c + [same] * concordant


def test_matches_statsmodels_for_large_counts():
    bs, cs = [120, 90, 200], [80, 100, 150]
    tables = np.dstack([table for b, c in zip(bs, cs) for table in pair_strata(b, c, 30)])
    st = StratifiedTable(tables)
    ours = mantel_haenszel_paired(bs, cs)
    # Haldane's +0.5 moves the estimate by well under 0.1% at these counts
    assert ours.odds_ratio == pytest.approx(st.oddsratio_pooled, rel=1e-3)
    low, high = st.oddsratio_pooled_confint(alpha=0.05)
    assert (ours.ci_low, ours.ci_high) == pytest.approx((low, high), rel=2e-3)


def test_haldane_correction_keeps_zero_counts_finite():
    mh = mantel_haenszel_paired([0, 0], [3, 4])
    assert mh.odds_ratio == pytest.approx(0.5 / 7.5)
    half = 1.959963984540054 * math.sqrt(1 / 0.5 + 1 / 7.5)
    assert mh.ci_high == pytest.approx(0.5 / 7.5 * math.exp(half))
    assert 0 < mh.ci_low < mh.odds_ratio < mh.ci_high < math.inf


def test_input_checks():
    with pytest.raises(ValueError):
        mantel_haenszel_paired([1, 2], [1])
    with pytest.raises(ValueError):
        mantel_haenszel_paired([-1], [1])
