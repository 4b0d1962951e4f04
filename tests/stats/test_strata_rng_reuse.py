"""The stratified surprisal test (tais.stats.strata) and the RNG-reuse diagnostics (tais.stats.rng_reuse), each against
an independent computation: sums by hand in numpy, theta by hand and beside scipy's root of the tempering equation, the
collision probability by enumerating every sequence of a small Markov model, and simulations under H0 (Z ~ N(0, 1),
lag-1 test at its nominal 5%) with planted RNG reuse as the positive controls."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import optimize, stats

from tais.stats.predictable import ReferenceLaws
from tais.stats.rng_reuse import duplicate_rate, expected_duplicate_rate, pit_lag1
from tais.stats.strata import (
    ENTROPY_EDGES,
    entropy_strata,
    law_entropy,
    position_strata,
    stratified_tests,
)


def random_laws(rng, n, vocab=40, scale=None):
    """n laws over ``vocab`` tokens with entropies spread over the bins (logit scale drawn per row)."""
    scale = rng.uniform(0.3, 6.0, size=(n, 1)) if scale is None else scale
    logits = rng.normal(size=(n, vocab)) * scale
    q = np.exp(logits - logits.max(1, keepdims=True))
    return q / q.sum(1, keepdims=True)


def draw(rng, p, u=None):
    """Inverse-CDF draw of one token per row of ``p`` [n, vocab] (token-id order) with uniforms ``u`` [n]."""
    u = rng.uniform(size=len(p)) if u is None else u
    return np.minimum((p.cumsum(1) < u[:, None]).sum(1), p.shape[1] - 1)


def test_stratum_z_and_theta_match_a_hand_computation():
    rng = np.random.default_rng(3)
    q = random_laws(rng, 600)
    tokens = draw(rng, q ** 1.3 / (q ** 1.3).sum(1, keepdims=True))  # a sampler too cold: theta != 0
    laws = ReferenceLaws.full(q)
    strata = entropy_strata(laws)
    by_hand_entropy = -(q * np.log(q)).sum(1)
    assert np.array_equal(strata, np.digitize(by_hand_entropy, ENTROPY_EDGES))
    tests = stratified_tests(laws, tokens, strata, 4)
    for i, t in enumerate(tests):
        m = strata == i
        s = np.minimum(-np.log(q[m]), 10.0)  # clipped surprisal [n_i, vocab]
        mean = (q[m] * s).sum(1)
        var = (q[m] * s * s).sum(1) - mean ** 2
        observed = s[np.arange(m.sum()), tokens[m]]
        assert t.n_tokens == m.sum() > 20
        assert t.z == pytest.approx((observed - mean).sum() / np.sqrt(var.sum()), rel=1e-9)
        assert t.p_value == pytest.approx(2 * stats.norm.sf(abs(t.z)), rel=1e-9)
        one_step = (observed - mean).sum() / var.sum()
        assert t.theta == pytest.approx(one_step, rel=1e-9)

        # the one step lands near the root of the tempering equation (theta of a law tempered by 1/1.3 is -0.3)
        def gap(theta, qm=q[m], sm=s, target=float(observed.sum())):  # noqa: B008  # bound per stratum
            w = qm ** (1 - theta)
            w /= w.sum(1, keepdims=True)
            return (w * sm).sum() - target

        root = optimize.brentq(gap, -3, 0.9)
        assert np.sign(t.theta) == np.sign(root) and abs(t.theta - root) < 0.5 * abs(root) + 0.1


def test_entropy_counts_the_tail_as_one_atom_and_positions_bin_geometrically():
    laws = ReferenceLaws.top([[3, 4], [3, 4]], [[0.6, 0.4], [0.3, 0.2]])
    expected = [-(0.6 * np.log(0.6) + 0.4 * np.log(0.4)), -(0.3 * np.log(0.3) + 0.2 * np.log(0.2) + 0.5 * np.log(0.5))]
    assert law_entropy(laws) == pytest.approx(expected)
    assert position_strata([0, 7, 8, 31, 32, 127, 128, 4000]).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_stratified_z_is_standard_normal_under_h0_and_finds_an_error_confined_to_flat_laws():
    """Entropy and position strata of tokens drawn from the laws: their Z's pooled are N(0, 1) (mean, sd, KS)."""
    rng = np.random.default_rng(11)
    zs = []
    for _ in range(150):
        q = random_laws(rng, 400)
        laws = ReferenceLaws.full(q)
        tokens = draw(rng, q)
        zs += [t.z for t in stratified_tests(laws, tokens, entropy_strata(laws), 4) if t.n_tokens >= 30]
        positions = position_strata(np.tile(np.arange(100), 4))  # four completions of 100 tokens
        zs += [t.z for t in stratified_tests(laws, tokens, positions, 4) if t.n_tokens >= 30]
    zs = np.array(zs)
    assert len(zs) > 800
    assert abs(zs.mean()) < 4 / np.sqrt(len(zs)) and 0.9 < zs.std() < 1.1
    assert stats.kstest(zs, "norm").pvalue > 0.001
    # positive control: a sampler too hot (T x 1.3) only where the law is flat (entropy >= 3 nats) -- the pooled
    # surprisal Z dilutes it, the flat stratum shows it and the near-deterministic one does not
    q = random_laws(rng, 4000)
    laws = ReferenceLaws.full(q)
    flat = law_entropy(laws) >= 1.5
    hot = q ** (1 / 1.3)
    hot /= hot.sum(1, keepdims=True)
    tokens = draw(rng, np.where(flat[:, None], hot, q))
    tests = stratified_tests(laws, tokens, entropy_strata(laws), 4)
    assert tests[0].n_tokens > 200 and abs(tests[0].z) < 3
    assert tests[2].z > 4 and tests[2].theta > 0.1 and tests[3].z > 4


def test_lag1_matches_numpy_and_rejects_at_its_nominal_rate():
    rng = np.random.default_rng(5)
    u = rng.uniform(size=20000)
    lengths = [100] * 200
    pairs = np.array([(a, b) for k in range(200) for a, b in zip(u[k * 100:(k + 1) * 100 - 1], u[k * 100 + 1:])])
    lag = pit_lag1(u, lengths)
    assert lag.n_pairs == len(pairs) == 19800
    assert lag.r == pytest.approx(12 * np.mean((pairs[:, 0] - 0.5) * (pairs[:, 1] - 0.5)), rel=1e-12)
    assert lag.r == pytest.approx(np.corrcoef(pairs.T)[0, 1], abs=0.01)  # the Pearson estimate, moments estimated
    assert lag.se == pytest.approx(1 / np.sqrt(19800))
    # H0: PIT values of tokens drawn from the laws; the test rejects at ~5% (binomial 99.9% interval of 600 trials)
    from tais.stats.pit import randomised_pit

    rejects = 0
    for _ in range(600):
        q = random_laws(rng, 200)
        laws = ReferenceLaws.full(q)
        lag = pit_lag1(randomised_pit(laws, draw(rng, q), rng), [25] * 8)
        rejects += lag.p_value < 0.05
    low, high = stats.binom.ppf([0.0005, 0.9995], 600, 0.05)
    assert low <= rejects <= high


def test_lag1_detects_a_uniform_reused_at_consecutive_positions():
    from tais.stats.pit import randomised_pit

    rng = np.random.default_rng(9)
    q = random_laws(rng, 400)
    order = np.argsort(-q, axis=1, kind="stable")  # invert in the PIT's order (decreasing probability)
    u = np.repeat(rng.uniform(size=200), 2)  # each uniform used at two consecutive positions
    tokens = np.take_along_axis(order, draw(rng, np.take_along_axis(q, order, 1), u)[:, None], 1)[:, 0]
    lag = pit_lag1(randomised_pit(ReferenceLaws.full(q), tokens, rng), [20] * 20)
    assert lag.z > 4 and lag.p_value < 1e-4
    fresh = draw(rng, q)  # negative control: same laws, fresh uniforms
    assert abs(pit_lag1(randomised_pit(ReferenceLaws.full(q), fresh, rng), [20] * 20).z) < 3.5


def test_duplicate_rate_counts_identical_pairs_like_itertools():
    rng = np.random.default_rng(2)
    groups = [[tuple(rng.integers(0, 2, size=2)) for _ in range(rng.integers(1, 6))] for _ in range(40)]
    d = duplicate_rate(groups)
    pairs = [(a, b) for g in groups for a, b in itertools.combinations(g, 2)]
    assert d.pairs == len(pairs) and d.identical == sum(a == b for a, b in pairs)
    assert d.prompts == sum(len(g) >= 2 for g in groups)


class Markov:
    """Sequences of 3 tokens over a vocabulary of 3: law of x_t given x_{t-1} (x_{-1} = 0)."""

    LAW = np.array([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8]])

    def sample(self, rng):
        x, laws = [0], []
        for _ in range(3):
            law = self.LAW[x[-1]]
            laws.append(law)
            x.append(int(draw(rng, law[None])[0]))
        return tuple(x[1:]), np.array(laws)

    def collision(self):
        """sum_x p(x)**2 by enumeration of all 27 sequences."""
        total = 0.0
        for seq in itertools.product(range(3), repeat=3):
            p, prev = 1.0, 0
            for t in seq:
                p, prev = p * self.LAW[prev, t], t
            total += p * p
        return total


def test_expected_duplicates_estimate_the_collision_probability_and_reused_seeds_exceed_it():
    rng = np.random.default_rng(4)
    model = Markov()
    groups, probabilities = [], []
    for _ in range(3000):  # prompts of 4 replicates, independent draws
        samples = [model.sample(rng) for _ in range(4)]
        groups.append([s for s, _ in samples])
        probabilities.append([float(np.prod(laws[np.arange(3), s])) for s, laws in samples])
    expected = expected_duplicate_rate(probabilities)
    observed = duplicate_rate(groups)
    c = model.collision()
    assert expected == pytest.approx(c, rel=0.03)
    assert observed.rate == pytest.approx(c, rel=0.06)
    # positive control: replicates sharing their seed are identical, far above what H0 expects
    shared = []
    for _ in range(200):
        seed = int(rng.integers(1 << 30))
        shared.append([model.sample(np.random.default_rng(seed))[0] for _ in range(4)])
    assert duplicate_rate(shared).rate == 1.0 > 3 * c
    assert expected_duplicate_rate([[0.5]]) is None
