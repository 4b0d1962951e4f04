"""The backend-free parts of sampling at temperature > 0, checked against independent values.

- counter-based noise: uniform (Kolmogorov-Smirnov), streams and positions uncorrelated, Gumbel moments;
- truncation: equal to transformers' own logits warpers (temperature, then top-k, then top-p);
- the rejection rule: the first committed token follows the target's law (chi-square on 200 000 simulated verify
  steps), the acceptance rate is sum min(p, q); the planted bug ``resample_from_target`` fails the same test.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
from scipy import stats

import tais.engines.speculative.noise as noise_module
import tais.engines.speculative.planted as planted_module
import tais.engines.speculative.rejection as rejection_module
import tais.engines.speculative.truncation as truncation_module
from tais.engines.speculative.noise import Stream, gumbel, gumbel_at, row_seed, uniforms
from tais.engines.speculative.planted import PlantedBug
from tais.engines.speculative.rejection import rejection_sample, typical_sample
from tais.engines.speculative.truncation import Law, inverse_cdf, sampling_probs, truncated_logits


@pytest.mark.parametrize("module", [noise_module, planted_module, rejection_module, truncation_module])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.failed == 0


def test_uniforms_are_uniform_and_uncorrelated():
    seeds = torch.tensor([row_seed(s, "x", 0) for s in range(400)])
    positions = torch.arange(500)[None, :].expand(400, 500)
    u = uniforms(seeds, positions, Stream.SAMPLE).numpy()
    v = uniforms(seeds, positions, Stream.ACCEPT).numpy()
    assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(u.ravel(), v.ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(u[:, :-1].ravel(), u[:, 1:].ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(u[:-1].ravel(), u[1:].ravel())[0, 1]) < 0.01
    assert ((u > 0) & (u < 1)).all()


def test_uniforms_depend_only_on_the_key():
    seeds = torch.tensor([3, 5, 9])
    a = uniforms(seeds, torch.tensor([[0, 1, 2]] * 3), Stream.SAMPLE)
    b = uniforms(seeds[[2, 0]], torch.tensor([[1, 2], [2, 0]]), Stream.SAMPLE)
    assert b[0].tolist() == a[2, 1:].tolist() and b[1].tolist() == [a[0, 2].item(), a[0, 0].item()]


def test_gumbel_moments():
    g = gumbel(torch.tensor([1, 2]), torch.tensor([[0, 1], [0, 1]]), 50_000).double().numpy()
    assert g.shape == (2, 2, 50_000)
    assert abs(g.mean() - np.euler_gamma) < 0.02 and abs(g.var() - np.pi ** 2 / 6) < 0.05
    assert stats.kstest(g.ravel(), "gumbel_r").pvalue > 1e-3


@pytest.mark.parametrize("temperature,top_k,top_p", [(0.8, 0, 1.0), (0.7, 20, 1.0), (1.3, 0, 0.9), (0.8, 50, 0.8),
                                                     (0.5, 3, 0.95)])
def test_truncation_equals_transformers_warpers(temperature, top_k, top_p):
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    logits = torch.randn(6, 300, generator=torch.Generator().manual_seed(1)) * 3
    expected = TemperatureLogitsWarper(temperature)(None, logits.clone())
    if top_k:
        expected = TopKLogitsWarper(top_k)(None, expected)
    if top_p < 1:
        expected = TopPLogitsWarper(top_p)(None, expected)
    law = Law(torch.full((6,), temperature), torch.full((6,), top_k), torch.full((6,), top_p))
    ours = truncated_logits(logits, law)
    assert torch.equal(torch.isinf(ours), torch.isinf(expected))
    assert torch.allclose(ours.softmax(-1), expected.softmax(-1), atol=1e-6)


def test_truncation_per_row_and_greedy_rows():
    logits = torch.randn(3, 2, 40, generator=torch.Generator().manual_seed(2))
    law = Law(torch.tensor([0.0, 1.0, 0.5]), torch.tensor([0, 5, 0]), torch.tensor([1.0, 1.0, 0.5]))
    probs = sampling_probs(logits, law)
    assert torch.equal(probs[0].argmax(-1), logits[0].argmax(-1)) and torch.all(probs[0].max(-1).values == 1)
    assert ((probs[1] > 0).sum(-1) == 5).all()
    assert torch.allclose(probs[1], truncated_logits(logits[1:2], Law(*(torch.tensor([v]) for v in (1.0, 5, 1.0)))
                                           ).softmax(-1)[0])
    assert ((probs[2] > 0).sum(-1) < 40).all()


def test_planted_truncation_bugs_change_the_law():
    logits = torch.randn(1, 100, generator=torch.Generator().manual_seed(3))
    law = Law(torch.tensor([0.7]), torch.tensor([10]), torch.tensor([0.9]))
    right = sampling_probs(logits, law)
    assert ((sampling_probs(logits, law, bug=PlantedBug.TOP_K_OFF_BY_ONE) > 0).sum() ==
            (sampling_probs(logits, Law(law.temperature, torch.tensor([11]), law.top_p)) > 0).sum())
    double = sampling_probs(logits, law, bug=PlantedBug.DOUBLE_TEMPERATURE)
    assert torch.allclose(double, sampling_probs(logits, Law(torch.tensor([0.49]), law.top_k, law.top_p)), atol=1e-6)
    untruncated = sampling_probs(logits, law, bug=PlantedBug.TOP_P_DRAFT_ONLY, role="target")
    assert torch.equal(sampling_probs(logits, law, bug=PlantedBug.TOP_P_DRAFT_ONLY, role="draft"), right)
    assert (untruncated > 0).sum() == 10 > (right > 0).sum()


def test_inverse_cdf_frequencies():
    probs = torch.tensor([0.1, 0.0, 0.25, 0.4, 0.25])
    u = torch.rand(100_000, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    tokens = inverse_cdf(probs.expand(100_000, 5), u)
    counts = np.bincount(tokens.numpy(), minlength=5)
    assert counts[1] == 0
    assert stats.chisquare(counts[[0, 2, 3, 4]], 100_000 * probs[[0, 2, 3, 4]].numpy()).pvalue > 1e-3


N = 200_000


def chi2(observed, law) -> float:
    """Chi-square p-value of counts ``observed`` against the law ``law`` (renormalised in float64)."""
    law = np.asarray(law, dtype=np.float64)
    keep = law > 0
    assert observed[~keep].sum() == 0
    return stats.chisquare(observed[keep], observed.sum() * law[keep] / law.sum()).pvalue


def _verify_steps(q, p, bug=None, proposed=None):
    """Simulate N verify steps of one row with laws q [k+1, V] and p [k, V]; first committed token and counts."""
    g = torch.Generator().manual_seed(5)
    k = p.shape[0]
    drafts = torch.stack([torch.multinomial(p[j], N, replacement=True, generator=g) for j in range(k)], 1)
    accept_u = torch.rand(N, k, generator=g, dtype=torch.float64)
    sample_u = torch.rand(N, k + 1, generator=g, dtype=torch.float64)
    proposed = torch.full((N,), k) if proposed is None else proposed
    counts, token = rejection_sample(q.expand(N, -1, -1), p.expand(N, -1, -1), drafts, proposed, accept_u, sample_u,
                                     bug=bug)
    first = torch.where(counts > 0, drafts[:, 0], token)
    return first, counts, drafts, token


def _laws(seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.softmax(torch.randn(3, 8, generator=g) * 1.5, -1)
    p = torch.softmax(q[:2].log() + torch.randn(2, 8, generator=g), -1)  # a draft close to, not equal to, q
    return q, p


@pytest.mark.parametrize("seed", [10, 11])
def test_rejection_rule_is_lossless(seed):
    q, p = _laws(seed)
    first, counts, drafts, token = _verify_steps(q, p)
    observed = np.bincount(first.numpy(), minlength=8)
    assert chi2(observed, q[0]) > 1e-3
    rate = torch.minimum(p[0], q[0]).sum().item()
    assert abs((counts > 0).float().mean().item() - rate) < 4 * (rate * (1 - rate) / N) ** 0.5
    # the second token, given that the first draft was accepted, follows q_1 (recovered or bonus after d_1)
    second = torch.where(counts > 1, drafts[:, 1], token)[counts > 0]
    assert chi2(np.bincount(second.numpy(), minlength=8), q[1]) > 1e-3


def test_unproposed_slots_draw_from_the_target():
    q, p = _laws(12)
    first, counts, _, _ = _verify_steps(q, p, proposed=torch.zeros(N, dtype=torch.long))
    assert (counts == 0).all()
    assert chi2(np.bincount(first.numpy(), minlength=8), q[0]) > 1e-3


def test_one_hot_draft_is_lossless():
    q, _ = _laws(13)
    p = torch.zeros(2, 8)
    p[:, 3] = 1.0  # a prompt-lookup draft: always token 3
    first, _, _, _ = _verify_steps(q, p)
    assert chi2(np.bincount(first.numpy(), minlength=8), q[0]) > 1e-3


def test_planted_resample_from_target_is_detected():
    q, p = _laws(10)
    first, _, _, _ = _verify_steps(q, p, bug=PlantedBug.RESAMPLE_FROM_TARGET)
    observed = np.bincount(first.numpy(), minlength=8)
    assert chi2(observed, q[0]) < 1e-10
    overlap = torch.minimum(p[0], q[0])
    wrong = overlap + (1 - overlap.sum()) * q[0]  # the law the planted bug gives (planted.py)
    assert chi2(observed, wrong) > 1e-3


def test_typical_sample_accepts_plausible_drafts_and_draws_from_q():
    q = torch.log(torch.tensor([[[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]]]))
    counts, token = typical_sample(q, torch.tensor([[1]]), torch.tensor([1]), torch.tensor([[0.5, 0.1]]),
                                   epsilon=0.3, delta=0.09)
    assert counts.tolist() == [1] and token.tolist() == [0]  # b passes; bonus from q_1 at u = 0.1 -> a
    counts, token = typical_sample(q, torch.tensor([[2]]), torch.tensor([1]), torch.tensor([[0.95, 0.1]]),
                                   epsilon=0.3, delta=0.9)
    assert counts.tolist() == [0] and token.tolist() == [2]


def test_gumbel_at_single_keys_equals_the_full_noise():
    seeds, positions = torch.tensor([3, 4]), torch.tensor([[0, 7], [2, 2]])
    full = gumbel(seeds, positions, 30)
    rows, cols, tokens = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]), torch.tensor([0, 29, 5, 6])
    at = gumbel_at(seeds[rows], positions[rows, cols], tokens)
    assert torch.equal(at, full[rows, cols, tokens])


def test_truncation_of_a_flat_law_falls_back_to_the_full_sort():
    from transformers.generation.logits_process import TopPLogitsWarper

    logits = torch.randn(2, 5000, generator=torch.Generator().manual_seed(6)) * 0.1  # 1024 tokens hold < 0.9
    law = Law(torch.ones(2), torch.zeros(2, dtype=torch.long), torch.tensor([0.9, 0.1]))
    expected = TopPLogitsWarper(0.9)(None, logits.clone())
    ours = truncated_logits(logits, law)
    assert torch.equal(torch.isinf(ours[0]), torch.isinf(expected[0]))
    assert 300 < int(torch.isfinite(ours[1]).sum()) < 1024  # the fast path: the head holds mass >= 0.1
    assert torch.equal(torch.isinf(ours[1]), torch.isinf(TopPLogitsWarper(0.1)(None, logits[1:].clone())[0]))
