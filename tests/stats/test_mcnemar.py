"""Exact and mid-p McNemar against published values and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from tais.stats import mcnemar_exact, mcnemar_midp


def test_published_values():
    # Fagerland, Lydersen and Laake (2013), BMC Med Res Methodol 13:91, and R contingencytables test-ch8.R:
    # Cavo et al. 2012 (n12 = 6, n21 = 16): exact conditional P = 0.052479, mid-P = 0.034690.
    assert mcnemar_exact(16, 6) == pytest.approx(0.052479, abs=5e-7)
    assert mcnemar_midp(16, 6) == pytest.approx(0.034690, abs=5e-7)
    # Bentur et al. 2009 (n12 = 1, n21 = 7): exact 18/256, mid-p 10/256 (Fagerland et al. 2013 supplement).
    assert mcnemar_exact(1, 7) == pytest.approx(18 / 256)
    assert mcnemar_midp(7, 1) == pytest.approx(10 / 256)


def test_exact_matches_statsmodels_on_a_grid():
    bs, cs = np.meshgrid(np.arange(0, 41), np.arange(0, 41))
    ours = mcnemar_exact(bs, cs)
    theirs = np.array([[sm_mcnemar([[0, b], [c, 0]], exact=True).pvalue for b, c in zip(rb, rc)]
                       for rb, rc in zip(bs, cs)])
    assert ours.shape == bs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-15)


def test_mid_p_is_below_exact_and_equals_half_weighted_tail():
    from math import comb

    for b, c in [(0, 5), (3, 9), (12, 4), (20, 31)]:
        m, k = b + c, min(b, c)
        point = comb(m, k) / 2**m
        tail = sum(comb(m, i) for i in range(k)) / 2**m
        assert mcnemar_midp(b, c) == pytest.approx(2 * (tail + point / 2))
        assert mcnemar_midp(b, c) < mcnemar_exact(b, c)
    assert mcnemar_midp(4, 4) == pytest.approx(1 - 0.5 * comb(8, 4) / 2**8)


def test_no_discordant_pairs_and_bad_counts():
    assert mcnemar_exact(0, 0) == 1.0 == mcnemar_midp(0, 0)
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)
