"""The paired 2x2 table: counting and input validation."""

from __future__ import annotations

import numpy as np
import pytest

from tais.stats import PairedTable, paired_table


def test_counts_each_combination_of_reference_and_candidate():
    ref = [1, 1, 1, 0, 0, 0, 0, 1]
    cand = [1, 0, 0, 1, 0, 0, 0, 1]
    t = paired_table(ref, cand)
    assert (t.a, t.b, t.c, t.d) == (2, 2, 1, 3)
    assert t.n == 8 and t.discordant == 3
    assert t.p_reference == pytest.approx(4 / 8)
    assert t.p_candidate == pytest.approx(3 / 8)
    assert t.diff == pytest.approx(t.p_candidate - t.p_reference)


def test_accepts_numpy_booleans_and_agrees_with_a_crosstab():
    rng = np.random.default_rng(7)
    ref = rng.integers(0, 2, 500).astype(bool)
    cand = rng.integers(0, 2, 500)
    t = paired_table(ref, cand)
    cross = np.histogram2d(ref.astype(int), cand, bins=[[0, 0.5, 1.5]] * 2)[0]
    assert (t.a, t.b, t.c, t.d) == (cross[1, 1], cross[1, 0], cross[0, 1], cross[0, 0])


@pytest.mark.parametrize(
    "ref, cand, words",
    [
        ([1, 0], [1], "equal lengths"),
        ([1, 2], [1, 0], "only 0 and 1"),
        ([1, 0], [0.5, 1], "only 0 and 1"),
        ([[1, 0]], [[1, 0]], "one-dimensional"),
    ],
)
def test_rejects_bad_outcome_vectors(ref, cand, words):
    with pytest.raises(ValueError, match=words):
        paired_table(ref, cand)


def test_empty_table_has_undefined_rates():
    t = paired_table([], [])
    assert t.n == 0 and np.isnan(t.diff) and np.isnan(t.p_reference)


def test_table_rejects_negative_counts():
    with pytest.raises(ValueError, match="non-negative"):
        PairedTable(1, -1, 0, 0)


def test_paired_counts_for_many_cells_matches_one_table_per_cell():
    from tais.stats import paired_counts

    rng = np.random.default_rng(2)
    cells = rng.integers(0, 7, 5000)
    ref = rng.integers(0, 2, 5000)
    cand = rng.integers(0, 2, 5000)
    a, b, c, d = paired_counts(ref, cand, cells=cells, n_cells=8)
    assert a.shape == (8,) and (a[7], b[7], c[7], d[7]) == (0, 0, 0, 0)
    for k in range(7):
        t = paired_table(ref[cells == k], cand[cells == k])
        assert (a[k], b[k], c[k], d[k]) == (t.a, t.b, t.c, t.d)
    with pytest.raises(ValueError):
        paired_counts([0, 1], [1, 1], cells=[0, 3], n_cells=2)
