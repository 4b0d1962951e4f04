"""The draft tilt lambda (tais.stats.draft_tilt) and the shared cluster-robust interval (tais.stats.cluster_robust).

- the estimate, se and interval equal statsmodels' weighted least squares of ``r / v`` on a constant (weights ``v``)
  with its cluster-by-prompt covariance and t(G - 1) intervals, an independent implementation of the sandwich;
- by simulation: tokens drawn from the reference's laws give lambda near 0, a Z test rejecting at its nominal rate,
  intervals covering 0 at their nominal rate; tokens drawn from ``q**(1 - lambda) d**lambda`` give lambda back, and
  the spread of lambda across replicates matches the reported se (design effect: each replicate draws new laws);
- the shared interval for a clustered mean equals statsmodels' OLS with cluster covariance.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import statsmodels.api as sm

import tais.stats.cluster_robust as cluster_robust_module
import tais.stats.draft_tilt as draft_tilt_module
from tais.stats.cluster_robust import cluster_interval
from tais.stats.draft_tilt import draft_tilt_test
from tais.stats.predictable import log_ratio_scores

VOCAB = 10


@pytest.mark.parametrize("module", [draft_tilt_module, cluster_robust_module])
def test_docstring_examples(module):
    assert doctest.testmod(module).failed == 0


def laws(rng, n):
    """A reference law q and a noisy draft d [n, V] at each of n positions (d: q's logits plus N(0, 0.7) noise)."""
    logits = rng.normal(size=(n, VOCAB)) * rng.uniform(0.5, 2.5, size=(n, 1))
    noisy = logits + rng.normal(size=(n, VOCAB)) * 0.7
    q = np.exp(logits - logits.max(1, keepdims=True))
    d = np.exp(noisy - noisy.max(1, keepdims=True))
    return q / q.sum(1, keepdims=True), d / d.sum(1, keepdims=True)


def draw(rng, p):
    return (p.cumsum(-1) > rng.uniform(size=p.shape[:-1] + (1,))).argmax(-1)


def tilted(q, d, lam):
    w = q ** (1 - lam) * d ** lam
    return w / w.sum(-1, keepdims=True)


def test_interval_equals_statsmodels_cluster_robust_wls():
    rng = np.random.default_rng(7)
    q, d = laws(rng, 600)
    clusters = np.repeat(np.arange(24), 25)
    tokens = draw(rng, tilted(q, d, 0.15))
    h, mean, var = log_ratio_scores(q, d, tokens)
    r = draft_tilt_test(h, mean, var, clusters, margin=0.05, alpha=0.05)
    fit = sm.WLS((h - mean) / var, np.ones(len(h)), weights=var).fit(
        cov_type="cluster", cov_kwds={"groups": clusters}, use_t=True)
    low, high = fit.conf_int(alpha=0.10)[0]
    assert r.tilt == pytest.approx(fit.params[0], rel=1e-10)
    assert r.se == pytest.approx(fit.bse[0], rel=1e-8)
    assert (r.low, r.high) == (pytest.approx(low, rel=1e-8), pytest.approx(high, rel=1e-8))
    assert r.n_clusters == 24 and r.n_tokens == 600


def test_shared_interval_equals_statsmodels_for_a_clustered_mean():
    """The shared CR1 interval (which the tempering theta also uses) with a general residual and slope, on a case
    statsmodels computes directly: the mean b of y (residual y - b, slope n) is OLS of y on a constant."""
    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(15), 8)
    y = rng.normal(size=120) + np.repeat(rng.normal(size=15), 8) * 0.5
    b = float(y.mean())
    ci = cluster_interval(b, y - b, float(len(y)), clusters, margin=0.3, alpha=0.05)
    fit = sm.OLS(y, np.ones(len(y))).fit(cov_type="cluster", cov_kwds={"groups": clusters}, use_t=True)
    low, high = fit.conf_int(alpha=0.10)[0]
    assert ci.se == pytest.approx(fit.bse[0], rel=1e-8)
    assert (ci.low, ci.high) == (pytest.approx(low, rel=1e-8), pytest.approx(high, rel=1e-8))


def simulate(lam, replicates=400, prompts=20, per_prompt=30, seed=11):
    """lambda estimates, ses, Zs and interval hits over replicates of prompts x per_prompt tokens from the tilted
    law (a fresh set of laws per replicate)."""
    rng = np.random.default_rng(seed)
    n = prompts * per_prompt
    clusters = np.repeat(np.arange(prompts), per_prompt)
    out = []
    for _ in range(replicates):
        q, d = laws(rng, n)
        tokens = draw(rng, tilted(q, d, lam))
        r = draft_tilt_test(*log_ratio_scores(q, d, tokens), clusters, margin=0.05, alpha=0.05)
        out.append((r.tilt, r.se, r.z, r.low < lam < r.high))
    return np.array(out, dtype=float)


def test_under_h0_lambda_is_centred_and_the_tests_hold_their_level():
    sims = simulate(0.0)
    tilt, se, z, hit = sims.T
    assert abs(tilt.mean()) < 3 * tilt.std() / np.sqrt(len(tilt))
    rejected = np.mean(np.abs(z) > 1.96)
    assert 0.02 < rejected < 0.09  # nominal 0.05; 400 replicates: 99.9% binomial range ~0.022-0.085
    assert 0.84 < hit.mean() < 0.955  # the 90% interval
    assert tilt.std() == pytest.approx(se.mean(), rel=0.15)


def test_a_tilted_sampler_gives_its_lambda_back():
    sims = simulate(0.2, replicates=200, seed=5)
    tilt, se, z, hit = sims.T
    assert tilt.mean() == pytest.approx(0.2, abs=0.03)  # the one-step score estimate is close at 0.2
    assert np.mean(np.abs(z) > 1.96) > 0.6  # 600 tokens of these laws: ~80% power
    assert 0.8 < hit.mean() <= 1.0
