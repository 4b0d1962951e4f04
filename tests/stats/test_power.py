"""Sample sizes checked by simulation: the simulated power at the returned n reaches the target, and at 0.8 n it
does not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from tais.stats import (
    n_paired_tost,
    n_unpaired_wald_tost,
    paired_tost,
    power_paired_tost,
)

SIMULATIONS = 20_000


def simulated_paired_power(n: int, margin: float, alpha: float, discordance: float, difference: float,
                           rng: np.random.Generator) -> float:
    p_b, p_c = (discordance - difference) / 2, (discordance + difference) / 2
    counts = rng.multinomial(n, [p_b, p_c, 1 - p_b - p_c], size=SIMULATIONS)
    return float(np.mean(paired_tost(counts[:, 0], counts[:, 1], n, margin=margin, alpha=alpha).equivalent))


def simulated_unpaired_wald_power(n: int, margin: float, alpha: float, rate: float, rng: np.random.Generator) -> float:
    """Two independent arms of n prompts at the same rate; equivalent when the 1 - 2 alpha Wald interval of the
    difference lies inside the margin."""
    p1 = rng.binomial(n, rate, SIMULATIONS) / n
    p2 = rng.binomial(n, rate, SIMULATIONS) / n
    half = norm.ppf(1 - alpha) * np.sqrt(p1 * (1 - p1) / n + p2 * (1 - p2) / n)
    d = p1 - p2
    return float(np.mean((d - half > -margin) & (d + half < margin)))


@pytest.mark.parametrize(
    "margin, alpha, power, discordance, difference",
    [(0.03, 0.05, 0.8, 0.02, 0.0), (0.03, 0.05, 0.9, 0.05, 0.0), (0.05, 0.025, 0.8, 0.10, 0.0),
     (0.03, 0.05, 0.8, 0.04, 0.01)],
)
def test_paired_sample_size_reaches_the_power_in_simulation(margin, alpha, power, discordance, difference):
    rng = np.random.default_rng(int(1e6 * discordance) + int(1e3 * margin))
    n = n_paired_tost(margin, alpha, power, discordance, difference=difference)
    at_n = simulated_paired_power(n, margin, alpha, discordance, difference, rng)
    at_less = simulated_paired_power(int(0.8 * n), margin, alpha, discordance, difference, rng)
    assert at_n >= power, (n, at_n)
    assert at_less < power - 0.05, (n, at_less)
    # the exact enumeration agrees with the simulation within Monte Carlo error
    se = np.sqrt(at_n * (1 - at_n) / SIMULATIONS)
    assert power_paired_tost(n, margin, alpha, discordance, difference) == pytest.approx(at_n, abs=4 * se)


def test_unpaired_wald_sample_size_reaches_the_power_in_simulation():
    """The closed form is the large-sample power of the Wald TOST, so at n the simulated power sits at the target up
    to Monte Carlo error (3 standard errors allowed below), and at 0.8 n clearly below it."""
    rng = np.random.default_rng(5)
    for rate in (0.5, 0.9):
        n = n_unpaired_wald_tost(0.03, 0.05, 0.8, rate)
        at_n = simulated_unpaired_wald_power(n, 0.03, 0.05, rate, rng)
        at_less = simulated_unpaired_wald_power(int(0.8 * n), 0.03, 0.05, rate, rng)
        assert at_n >= 0.8 - 3 * np.sqrt(0.16 / SIMULATIONS), (rate, n, at_n)
        assert at_less < 0.75, (rate, n, at_less)


def test_textbook_unpaired_figure_and_the_paired_advantage():
    # (z_0.95 + z_0.90)^2 * 2 * 0.25 / 0.03^2 = 4757.4 -> 4758 per arm (Chow, Shao & Wang, two-sample equivalence
    # with true difference 0, equal arms)
    assert n_unpaired_wald_tost(0.03, 0.05, 0.8, 0.5) == 4758
    paired = n_paired_tost(0.03, 0.05, 0.8, 0.02)
    assert 250 < paired < 350
    assert n_unpaired_wald_tost(0.03, 0.05, 0.8, 0.5) / paired > 10


def test_more_discordance_or_a_tighter_margin_needs_more_prompts():
    sizes = [n_paired_tost(0.03, 0.05, 0.8, d) for d in (0.01, 0.02, 0.05, 0.1, 0.2)]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert n_paired_tost(0.02, 0.05, 0.8, 0.05) > n_paired_tost(0.03, 0.05, 0.8, 0.05)


@pytest.mark.parametrize(
    "kwargs",
    [dict(margin=0, alpha=0.05, power=0.8, discordance=0.1), dict(margin=0.03, alpha=0.5, power=0.8, discordance=0.1),
     dict(margin=0.03, alpha=0.05, power=1.0, discordance=0.1), dict(margin=0.03, alpha=0.05, power=0.8, discordance=0),
     dict(margin=0.03, alpha=0.05, power=0.8, discordance=0.1, difference=0.03)],
)
def test_paired_input_checks(kwargs):
    with pytest.raises(ValueError):
        n_paired_tost(**kwargs)


def test_unpaired_input_checks():
    with pytest.raises(ValueError):
        n_unpaired_wald_tost(0.03, 0.05, 0.8, 1.0)
