"""Properties of Tango's interval over random paired tables (hypothesis): it contains the estimate (c - b) / n, it
widens as alpha falls (the level rises), and swapping the arms (b <-> c) mirrors it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tais.stats import tango_interval


@st.composite
def tables(draw):
    n = draw(st.integers(1, 5000))
    b = draw(st.integers(0, n))
    c = draw(st.integers(0, n - b))
    return b, c, n


levels = st.floats(0.5, 0.999)


@settings(max_examples=400, deadline=None)
@given(table=tables(), level=levels)
def test_the_interval_contains_the_estimate(table, level):
    b, c, n = table
    low, high = tango_interval(b, c, n, level=level)
    estimate = (c - b) / n
    assert -1.0 <= low <= estimate <= high <= 1.0
    assert low < high  # never degenerate, also at b = c = 0 and at 0% / 100%


@settings(max_examples=400, deadline=None)
@given(table=tables(), levels=st.tuples(levels, levels).filter(lambda t: abs(t[0] - t[1]) > 1e-6))
def test_the_interval_widens_as_alpha_falls(table, levels):
    b, c, n = table
    narrow_level, wide_level = sorted(levels)
    narrow = tango_interval(b, c, n, level=narrow_level)
    wide = tango_interval(b, c, n, level=wide_level)
    assert wide[0] <= narrow[0] + 1e-12 and narrow[1] <= wide[1] + 1e-12


@settings(max_examples=400, deadline=None)
@given(table=tables(), level=levels)
def test_swapping_the_arms_mirrors_the_interval(table, level):
    b, c, n = table
    low, high = tango_interval(b, c, n, level=level)
    s_low, s_high = tango_interval(c, b, n, level=level)
    assert abs(s_low + high) < 1e-9 and abs(s_high + low) < 1e-9
