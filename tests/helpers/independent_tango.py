"""Tango's paired interval computed independently of tais.stats.tango (brute-force restricted MLE and score
root search), for tests that check tais's figures against it."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.stats import norm


def independent_tango_interval(b: int, c: int, n: int, level: float) -> tuple[float, float]:
    """Tango's interval by brute force: the restricted MLE of the b-cell probability found by numerically maximising
    the profile log-likelihood b log q + c log(q + delta) + (n - b - c) log(1 - 2q - delta), and each bound by
    root-finding on the score statistic. Shares no code with tais.stats.tango."""
    z = norm.ppf(0.5 + level / 2)
    rest = n - b - c

    def q_hat(delta: float) -> float:
        lo, hi = max(0.0, -delta), (1.0 - delta) / 2.0
        eps = 1e-13

        def neg_loglik(q: float) -> float:
            total = 0.0
            for count, p in ((b, q), (c, q + delta), (rest, 1.0 - 2.0 * q - delta)):
                if count:
                    total += count * np.log(max(p, 1e-300))
            return -total

        return minimize_scalar(neg_loglik, bounds=(lo + eps, hi - eps), method="bounded",
                               options={"xatol": 1e-14}).x

    def score(delta: float) -> float:
        q = q_hat(delta)
        return (c - b - n * delta) / np.sqrt(n * (2 * q + delta - delta * delta))

    d = (c - b) / n
    low = -1.0 if d == -1 else brentq(lambda x: score(x) - z, -1 + 1e-9, d - 1e-12, xtol=1e-12)
    high = 1.0 if d == 1 else brentq(lambda x: score(x) + z, d + 1e-12, 1 - 1e-9, xtol=1e-12)
    return low, high
