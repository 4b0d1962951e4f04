"""Predictable-score tests of a sampler, calibrated by simulation (vectorised numpy, each test well under 5 s).

- draws from the reference laws: every test rejects at its nominal rate (within a 99.9% binomial interval), the
  tempering interval covers 0 at its nominal rate, no token is impossible; also with laws given as top-k + tail;
- draws from ``q**(1 - theta)``, theta = +-0.1: detected, and theta lies in its interval at about the nominal rate;
  the spread of theta across replicates matches the reported standard error;
- a theta that varies from prompt to prompt: the cluster-robust interval still covers the mean theta;
- sizing: at the ``tokens_needed`` of the rule (design effect 1), TOST's simulated power is the nominal 0.8;
- the Anderson-Darling statistic equals scipy's ``goodness_of_fit`` statistic; doctests of the modules.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy import stats

import tais.stats.pit as pit_module
import tais.stats.predictable as predictable_module
import tais.stats.sampling_law as sampling_law_module
import tais.stats.tempering as tempering_module
from tais.stats.pit import anderson_darling_uniform, randomised_pit
from tais.stats.predictable import (
    ReferenceLaws,
    impossible_tokens,
    log_ratio_scores,
    score_test,
    surprisal_scores,
)
from tais.stats.sampling_law import sampling_law_test
from tais.stats.tempering import tempering_test, tokens_needed

VOCAB = 12
PROMPTS, PER_PROMPT = 32, 20
ALPHA = 0.05


@pytest.mark.parametrize("module", [predictable_module, tempering_module, pit_module, sampling_law_module])
def test_docstring_examples(module):
    assert doctest.testmod(module).failed == 0


def laws(rng, replicates, n, *, truncate=True):
    """Reference laws [R, n, V]: softmax of Gaussian logits at varying scales; a third of the positions cut to the
    tokens holding 90% of the mass (as top-p does)."""
    logits = rng.normal(size=(replicates, n, VOCAB)) * rng.uniform(0.5, 3.0, size=(replicates, n, 1))
    q = np.exp(logits - logits.max(-1, keepdims=True))
    q /= q.sum(-1, keepdims=True)
    if truncate:
        order = np.argsort(-q, -1)
        sorted_q = np.take_along_axis(q, order, -1)
        keep_sorted = (np.cumsum(sorted_q, -1) - sorted_q) < 0.9
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, -1)
        cut = rng.uniform(size=(replicates, n, 1)) < 1 / 3
        q = np.where(cut & ~keep, 0.0, q)
        q /= q.sum(-1, keepdims=True)
    return q


def tempered(q, theta):
    with np.errstate(divide="ignore"):
        w = np.where(q > 0, np.exp((1 - theta) * np.log(np.where(q > 0, q, 1.0))), 0.0)
    return w / w.sum(-1, keepdims=True)


def draw(rng, p):
    """One token per law of ``p`` [..., V] by inverse CDF."""
    return (np.cumsum(p, -1) > rng.uniform(size=p.shape[:-1] + (1,))).argmax(-1)


def interval(replicates, rate):
    low, high = stats.binom.interval(0.999, replicates, rate)
    return low, high


CLUSTERS = np.repeat(np.arange(PROMPTS), PER_PROMPT)


def test_draws_from_the_reference_reject_at_the_nominal_rate():
    rng = np.random.default_rng(0)
    replicates = 250
    q = laws(rng, replicates, PROMPTS * PER_PROMPT)
    x = draw(rng, q)
    results = [sampling_law_test(ReferenceLaws.full(q[r]), x[r], CLUSTERS, margin=0.2, seed=r)
               for r in range(replicates)]
    low, high = interval(replicates, ALPHA)
    for name, rejects in (("surprisal", [r.tempering.p_value < ALPHA for r in results]),
                          ("top1", [r.top1.p_value < ALPHA for r in results]),
                          ("pit", [r.pit.p_value < ALPHA for r in results]),
                          ("holm", [r.combined.reject for r in results])):
        assert low <= sum(rejects) <= high, f"{name}: {sum(rejects)} of {replicates} rejected at alpha {ALPHA}"
    covered = sum(r.tempering.ci_low < 0 < r.tempering.ci_high for r in results)
    low, high = interval(replicates, 1 - 2 * ALPHA)
    assert low <= covered <= high, f"the 90% interval covered 0 in {covered} of {replicates}"
    assert all(r.impossible == 0 for r in results)


def test_top_k_laws_with_a_tail_stay_calibrated():
    rng = np.random.default_rng(1)
    replicates, k = 300, 4
    q = laws(rng, replicates, PROMPTS * PER_PROMPT, truncate=False)
    x = draw(rng, q)
    rejects = 0
    for r in range(replicates):
        ids = np.argsort(-q[r], -1)[:, :k]
        top = ReferenceLaws.top(ids, np.take_along_axis(q[r], ids, -1))
        assert top.tail.min() > 0
        rejects += score_test(*surprisal_scores(top, x[r], clip=3.0)).p_value < ALPHA
    low, high = interval(replicates, ALPHA)
    assert low <= rejects <= high
    full, top = ReferenceLaws.full(q[0]), ReferenceLaws.top(np.argsort(-q[0], -1), np.sort(q[0], -1)[:, ::-1])
    assert score_test(*surprisal_scores(full, x[0])).z == pytest.approx(score_test(*surprisal_scores(top, x[0])).z)


@pytest.mark.parametrize("theta", [0.1, -0.1])
def test_tempered_draws_are_detected_and_theta_is_estimated(theta):
    rng = np.random.default_rng(2)
    replicates, n = 120, 1500
    q = laws(rng, replicates, n)
    x = draw(rng, tempered(q, theta))
    clusters = np.repeat(np.arange(60), n // 60)
    results = [tempering_test(ReferenceLaws.full(q[r]), x[r], clusters, margin=0.05) for r in range(replicates)]
    assert sum(r.p_value < ALPHA for r in results) >= 0.8 * replicates
    covered = sum(r.ci_low < theta < r.ci_high for r in results)
    low, high = interval(replicates, 1 - 2 * ALPHA)
    assert low <= covered <= high, f"the 90% interval covered theta = {theta} in {covered} of {replicates}"
    thetas = np.array([r.theta for r in results])
    assert abs(thetas.mean() - theta) < 0.1 * abs(theta)
    assert np.std(thetas) == pytest.approx(np.mean([r.se for r in results]), rel=0.2)
    detected = sampling_law_test(ReferenceLaws.full(q[0]), x[0], clusters, margin=0.05)
    assert detected.differs and not detected.equivalent


def test_cluster_robust_interval_covers_a_theta_that_varies_by_prompt():
    rng = np.random.default_rng(3)
    replicates, prompts, per = 120, 30, 40
    q = laws(rng, replicates, prompts * per)
    theta = rng.normal(0.0, 0.15, size=(replicates, prompts)).repeat(per, axis=1)  # mean 0, prompt-level spread
    x = draw(rng, tempered(q, theta[..., None]))
    clusters = np.repeat(np.arange(prompts), per)
    results = [tempering_test(ReferenceLaws.full(q[r]), x[r], clusters) for r in range(replicates)]
    truth = theta[:, ::per].mean(1)  # this replicate's mean prompt theta
    covered = sum(r.ci_low < t < r.ci_high for r, t in zip(results, truth))
    low, _ = interval(replicates, 1 - 2 * ALPHA)
    assert covered >= low - 0.05 * replicates, f"covered {covered} of {replicates}"
    naive = sum(r.p_value < ALPHA for r in results)  # positive control: the model-based Z ignores the spread
    assert naive > 2 * ALPHA * replicates


def test_sizing_rule_gives_its_power():
    rng = np.random.default_rng(4)
    margin, replicates = 0.1, 150
    q = laws(rng, replicates, 2000)
    vbar = np.mean([surprisal_scores(ReferenceLaws.full(q[r]), np.zeros(2000, int))[2].mean() for r in range(20)])
    n = int(np.ceil(tokens_needed(margin, vbar, design_effect=1.0)))
    assert tokens_needed(margin, vbar) == pytest.approx(17.13 / (vbar * margin ** 2), rel=1e-3)
    q = q[:, :n]
    x = draw(rng, q)
    clusters = np.arange(n) // 10
    power = np.mean([tempering_test(ReferenceLaws.full(q[r]), x[r], clusters, margin=margin).equivalent
                     for r in range(replicates)])
    assert 0.7 < power < 0.9, f"power {power:.2f} at n = {n} (vbar {vbar:.2f})"


def test_anderson_darling_statistic_equals_scipy():
    u = np.random.default_rng(5).uniform(size=300) ** 1.2
    ours = anderson_darling_uniform(u)
    theirs = stats.goodness_of_fit(stats.uniform, u, known_params={"loc": 0, "scale": 1}, statistic="ad",
                                   n_mc_samples=99, rng=np.random.default_rng(0))
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-9)


def test_holm_equals_statsmodels():
    from statsmodels.stats.multitest import multipletests

    from tais.stats.predictable import holm_adjusted

    p = np.random.default_rng(6).uniform(size=(4, 5)) ** 3
    for row in p:
        assert holm_adjusted(row) == pytest.approx(multipletests(row, method="holm")[1])


def test_pit_places_unlisted_tokens_in_the_tail_block_and_counts_impossible_tokens():
    laws_ = ReferenceLaws.top(np.array([[4, 2]]), np.array([[0.5, 0.3]]))
    u = randomised_pit(laws_, [7], np.random.default_rng(0))
    assert 0.8 <= u[0] <= 1.0
    full = ReferenceLaws.full(np.array([[0.5, 0.5, 0.0]]))
    assert impossible_tokens(full, [2]) == 1 and impossible_tokens(full, [1]) == 0


def resample_from_target(rng, q, d):
    """Tokens of the planted bug, simulated step by step (not from its closed-form law): draw ``y ~ d``, keep it with
    probability ``min(1, q(y) / d(y))``, else draw again from ``q`` (instead of the residual)."""
    y = draw(rng, d)
    q_y = np.take_along_axis(q, y[..., None], -1)[..., 0]
    d_y = np.take_along_axis(d, y[..., None], -1)[..., 0]
    keep = rng.uniform(size=y.shape) < np.minimum(1.0, q_y / d_y)
    return np.where(keep, y, draw(rng, q))


def test_draft_log_ratio_is_calibrated_and_catches_resampling_from_the_target_with_a_noisy_draft():
    """The draft log-ratio Z (:func:`log_ratio_scores`): at its nominal rate on draws from the reference, and it
    catches ``resample_from_target`` with a merely noisy draft (same logit scale as the target, Gaussian noise), which
    the surprisal Z mostly misses at the same size."""
    rng = np.random.default_rng(4)
    replicates, n = 250, PROMPTS * PER_PROMPT
    logits = rng.normal(size=(replicates, n, VOCAB)) * rng.uniform(0.5, 3.0, size=(replicates, n, 1))
    noisy = logits + rng.normal(size=logits.shape) * 0.7
    q, d = (np.exp(z) / np.exp(z).sum(-1, keepdims=True) for z in (logits, noisy))
    low, high = interval(replicates, ALPHA)
    null = sum(score_test(*log_ratio_scores(q[r], d[r], x)).p_value < ALPHA
               for r, x in enumerate(draw(rng, q)))
    assert low <= null <= high, f"{null} of {replicates} A/A replicates rejected"
    bug = resample_from_target(rng, q, d)
    ratio = [score_test(*log_ratio_scores(q[r], d[r], bug[r])) for r in range(replicates)]
    surprisal = [score_test(*surprisal_scores(ReferenceLaws.full(q[r]), bug[r])) for r in range(replicates)]
    caught = sum(t.p_value < ALPHA for t in ratio)
    missed_by_surprisal = sum(t.p_value >= ALPHA for t in surprisal)
    print(f"\nlog-ratio: {null}/{replicates} A/A, {caught}/{replicates} bug; surprisal misses {missed_by_surprisal}")
    assert caught >= 0.95 * replicates and all(t.z > 0 for t in ratio[:20])
    assert missed_by_surprisal > replicates / 2
