"""Power and sample size for showing equivalence: the paired Tango TOST used by tais, and for comparison the unpaired
two-proportion Wald TOST (two independent samples, the design of the TAIS paper).

Paired design. Let psi = P(arms disagree) (the discordance rate) and delta the true difference p_C - p_R, so the b and
c cells have probabilities (psi - delta)/2 and (psi + delta)/2. The estimate d = (c - b)/n has standard deviation
sigma / sqrt(n) with sigma^2 = psi - delta^2. Tango's test of H0: delta = delta0 standardises by w(delta0) / sqrt(n),
w(delta0)^2 = 2 q + delta0 (1 - delta0), q the restricted b-cell probability the test would estimate (the population
limit of :func:`tais.stats.tango.restricted_mle_b`). Both one-sided tests reject when

    -margin + z w(-margin) / sqrt(n) < d < margin - z w(+margin) / sqrt(n),      z = z_{1-alpha},

so the asymptotic power is Phi((sqrt(n)(margin - delta) - z w+) / sigma) + Phi((sqrt(n)(margin + delta) - z w-) / sigma)
- 1 (Liu, Hsueh, Hsieh and Chen 2002, Statistics in Medicine 21:231, score method). :func:`power_paired_tost` gives
the exact power of the test at any n by enumerating the tables; :func:`n_paired_tost` starts from the smallest n
where the large-sample power reaches the target and steps up until the exact power does too (with only a few expected
discordant pairs the exact power is a saw-tooth in n and can fall short of the large-sample value).

Unpaired design. Two independent samples of n each at rate p; the Wald TOST rejects both one-sided nulls when the
1 - 2 alpha Wald interval lies inside the margin. At true difference 0, power = 2 Phi(margin sqrt(n) / s - z) - 1
with s^2 = 2 p (1 - p), so n = ceil(((z_{1-alpha} + z_{(1+power)/2}) s / margin)^2) per arm.

Worked example (margin 3pp, alpha 0.05, power 0.8; 2% discordance against a 50% base rate)::

    >>> n_paired_tost(0.03, 0.05, 0.8, 0.02), n_unpaired_wald_tost(0.03, 0.05, 0.8, 0.5)
    (292, 4758)
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binom, norm

from .tost import tost_p_value

MAX_N = 10**9
EXACT_CHECK_DISCORDANT = 2000


def _check(margin: float, alpha: float, power: float) -> None:
    if not 0.0 < margin < 1.0:
        raise ValueError(f"margin must lie in (0, 1), got {margin!r}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must lie in (0, 1), got {power!r}")


def _null_sd(psi: float, delta: float, delta0: float) -> float:
    """w(delta0): asymptotic SD (times sqrt(n)) that Tango's test of delta0 uses when the truth is (psi, delta)."""
    p_b = (psi - delta) / 2.0
    bq = -psi + (2.0 - delta) * delta0
    cq = -p_b * delta0 * (1.0 - delta0)
    q = (-bq + math.sqrt(max(bq * bq - 8.0 * cq, 0.0))) / 4.0
    return math.sqrt(max(2.0 * q + delta0 * (1.0 - delta0), 0.0))


def asymptotic_power_paired_tost(n: float, margin: float, alpha: float, discordance: float,
                                 difference: float = 0.0) -> float:
    """Large-sample power of the paired Tango TOST with n pairs (see the module docstring)."""
    z = norm.ppf(1.0 - alpha)
    sigma = math.sqrt(discordance - difference**2)
    root = math.sqrt(n)
    upper = (root * (margin - difference) - z * _null_sd(discordance, difference, margin)) / sigma
    lower = (root * (margin + difference) - z * _null_sd(discordance, difference, -margin)) / sigma
    return max(0.0, float(norm.cdf(upper) + norm.cdf(lower) - 1.0))


def _asymptotic_n(margin: float, alpha: float, power: float, discordance: float, difference: float) -> int:
    hi = 1
    while asymptotic_power_paired_tost(hi, margin, alpha, discordance, difference) < power:
        hi *= 2
        if hi > MAX_N:
            raise ValueError("no sample size below 10^9 reaches that power")
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if asymptotic_power_paired_tost(mid, margin, alpha, discordance, difference) >= power:
            hi = mid
        else:
            lo = mid
    return hi


def n_paired_tost(margin: float, alpha: float, power: float, discordance: float, difference: float = 0.0) -> int:
    """Pairs needed for the paired Tango TOST to show |p_C - p_R| < margin with the given power, when the arms
    disagree on a fraction ``discordance`` of prompts and the true difference is ``difference`` (default 0).

    The large-sample answer n0 is checked with the exact power (:func:`power_paired_tost`) while it expects at most
    ``EXACT_CHECK_DISCORDANT`` discordant pairs; where the discreteness of few discordant pairs leaves the exact power
    short, n steps up from n0 to the first n whose exact power reaches the target. Beyond that many discordant pairs
    the large-sample power is accurate to well under a point.

    >>> n_paired_tost(0.03, 0.05, 0.8, 0.10)
    987
    """
    _check(margin, alpha, power)
    if not 0.0 < discordance <= 1.0:
        raise ValueError(f"discordance must lie in (0, 1], got {discordance!r}")
    if not abs(difference) < margin:
        raise ValueError(f"difference must lie inside the margin (-{margin}, {margin}), got {difference!r}")
    if abs(difference) >= discordance:
        raise ValueError(f"a difference of {difference!r} needs a discordance above {abs(difference)!r}")
    n = _asymptotic_n(margin, alpha, power, discordance, difference)
    if n * discordance > EXACT_CHECK_DISCORDANT:
        return int(n)
    limit = 2 * n + 1000
    while power_paired_tost(n, margin, alpha, discordance, difference) < power:
        n += 1
        if n > limit:
            raise ValueError("the exact power does not reach the target near the large-sample sample size")
    return int(n)


def power_paired_tost(n: int, margin: float, alpha: float, discordance: float, difference: float = 0.0,
                      tail: float = 1e-10) -> float:
    """Exact power of the paired Tango TOST with n pairs: the sum of the trinomial probabilities of every table
    (b, c) that the test calls equivalent. The number of discordant pairs D is Binomial(n, discordance) and, given D,
    c is Binomial(D, (discordance + difference) / (2 discordance)); tables outside the central 1 - 2*tail of either
    are left out (their total probability is below 4 * tail).

    >>> round(power_paired_tost(292, 0.03, 0.05, 0.02), 3)
    0.828
    """
    if n <= 0:
        return 0.0
    p_b = (discordance - difference) / 2.0
    p_c = (discordance + difference) / 2.0
    if min(p_b, p_c) < 0 or not 0 < discordance <= 1:
        raise ValueError("discordance and difference give a negative cell probability")
    share = p_c / discordance
    d_lo, d_hi = (int(x) for x in binom.ppf([tail, 1.0 - tail], n, discordance))
    discordant = np.arange(d_lo, max(d_hi, d_lo) + 1)[:, None]
    spread = int(math.ceil(7.0 * math.sqrt(max(d_hi, 1) * share * (1.0 - share)))) + 2
    c = np.floor(discordant * share).astype(int) + np.arange(-spread, spread + 1)[None, :]
    valid = (c >= 0) & (c <= discordant)
    c = np.clip(c, 0, discordant)
    prob = np.where(valid, binom.pmf(discordant, n, discordance) * binom.pmf(c, discordant, share), 0.0)
    equivalent = tost_p_value(discordant - c, c, np.full(c.shape, n), margin) < alpha
    return float(np.sum(prob[equivalent]))


def asymptotic_power_unpaired_wald_tost(n: float, margin: float, alpha: float, rate: float) -> float:
    """Large-sample power of the unpaired Wald TOST with n per arm, both arms at ``rate``."""
    s = math.sqrt(2.0 * rate * (1.0 - rate))
    return max(0.0, float(2.0 * norm.cdf(margin * math.sqrt(n) / s - norm.ppf(1.0 - alpha)) - 1.0))


def n_unpaired_wald_tost(margin: float, alpha: float, power: float, rate: float) -> int:
    """Prompts per arm for the unpaired two-proportion Wald TOST at true difference 0 and base ``rate``.

    >>> n_unpaired_wald_tost(0.03, 0.05, 0.8, 0.9)
    1713
    """
    _check(margin, alpha, power)
    if not 0.0 < rate < 1.0:
        raise ValueError(f"rate must lie in (0, 1), got {rate!r}")
    z = norm.ppf(1.0 - alpha) + norm.ppf(0.5 + power / 2.0)
    return int(math.ceil((z / margin) ** 2 * 2.0 * rate * (1.0 - rate) - 1e-9))
