"""The draft log-ratio of the T > 0 phase (tais.pipeline.draft_ratio): from torch log-softmax rows, after each law's
temperature / top-k / top-p, it equals the numpy log-ratio of laws built independently here; a draft with a wider or
narrower vocabulary is cut or padded as the sampler does; which arms have a known draft."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tais.pipeline.draft_ratio import DraftPlan, draft_plan, ratio_scores
from tais.stats.predictable import log_ratio_scores
from tais.types import ArmSpec, SamplingParams


def law(logits: np.ndarray, temperature: float, top_k: int = 0) -> np.ndarray:
    """Softmax of logits / T, top-k cut (no ties in these draws), in numpy."""
    z = logits / temperature
    if top_k:
        kth = np.sort(z, axis=1)[:, -top_k][:, None]
        z = np.where(z >= kth, z, -np.inf)
    p = np.exp(z - z.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


@pytest.mark.parametrize("top_k", [0, 4])
def test_ratio_scores_equal_the_numpy_log_ratio_of_independently_built_laws(top_k):
    rng = np.random.default_rng(2)
    ref_logits = rng.normal(size=(7, 12)) * 2
    draft_logits = ref_logits + rng.normal(size=(7, 12))
    tokens = [int(np.argmax(r)) for r in ref_logits]
    ref_rows = torch.log_softmax(torch.tensor(ref_logits, dtype=torch.float32), -1)
    draft_rows = torch.log_softmax(torch.tensor(draft_logits, dtype=torch.float32), -1)
    sampling = SamplingParams(temperature=0.8, top_k=top_k)
    got = ratio_scores(ref_rows, draft_rows, tokens, sampling, sampling)
    want = log_ratio_scores(law(ref_logits, 0.8, top_k), law(draft_logits, 0.8, top_k), tokens)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    assert np.all(got[2] > 0)


def test_a_draft_vocabulary_is_cut_or_padded_to_the_reference_s():
    rng = np.random.default_rng(5)
    ref = torch.log_softmax(torch.tensor(rng.normal(size=(3, 6)), dtype=torch.float32), -1)
    base = rng.normal(size=(3, 6))
    wide = torch.log_softmax(torch.tensor(np.concatenate([base, rng.normal(size=(3, 2))], 1), dtype=torch.float32), -1)
    narrow = torch.log_softmax(torch.tensor(base[:, :5], dtype=torch.float32), -1)
    sampling = SamplingParams(temperature=1.0)
    cut = ratio_scores(ref, wide, [0, 1, 2], sampling, sampling)
    same = ratio_scores(ref, torch.log_softmax(torch.tensor(base, dtype=torch.float32), -1), [0, 1, 2], sampling,
                        sampling)
    for a, b in zip(cut, same):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # extra draft columns dropped, then renormalised
    padded = ratio_scores(ref, narrow, [0, 1, 5], sampling, sampling)
    assert padded[0][2] == -10.0  # token 5 is outside the narrow draft's vocabulary: log d = -inf, clipped


def test_draft_plan_per_arm_kind():
    quantized = draft_plan(ArmSpec("q", "hf", "m", speculative={"proposer": "quantized", "k": 3}))
    assert isinstance(quantized, DraftPlan) and quantized.own and quantized.spec.name == "q"
    assert "point mass" in draft_plan(ArmSpec("n", "hf", "m", speculative={"proposer": "ngram"}))
    assert "d = q" in draft_plan(ArmSpec("s", "hf", "m", speculative={"proposer": "self"}))
    assert draft_plan(ArmSpec("t", "hf", "m")) is None
    vllm = draft_plan(ArmSpec("v", "vllm", "m", speculative={"model": "hf:org/d", "num_speculative_tokens": 4}))
    assert isinstance(vllm, DraftPlan) and vllm.spec.model == "hf:org/d" and not vllm.own
    assert "names no draft" in draft_plan(ArmSpec("g", "vllm", "m", speculative={"method": "ngram"}))


def test_which_draft_log_ratio_is_tested_and_why_not():
    from tais.pipeline.sampled import ArmLaws, measured_draft
    from tais.screen.sampled import DraftScores
    from tais.stats.predictable import ReferenceLaws

    laws = ReferenceLaws.full(np.tile([0.5, 0.5], (3, 1)))
    ratio = DraftScores("d", np.zeros(3), np.zeros(3), np.array([0.2, 0.3, 0.1]))
    plan = draft_plan(ArmSpec("q", "hf", "m", speculative={"proposer": "quantized"}))

    def found(exact=True):
        return ArmLaws(laws, np.zeros(3, dtype=int), np.zeros(3, dtype=int), 0, 0, exact)

    assert measured_draft(plan, found(), ratio) == (ratio, "")
    assert measured_draft(None, found(), None) == (None, "")
    assert "point mass" in measured_draft("the ngram proposer's draft is a point mass", found(), None)[1]
    assert "listed" in measured_draft(plan, found(exact=False), None)[1]
    same = DraftScores("d", np.zeros(3), np.zeros(3), np.zeros(3))  # d = q everywhere: lambda undefined, skipped
    assert measured_draft(plan, found(), same) == (None, "the draft's law equals the reference's at every token "
                                                         "(Var h = 0): no draft log-ratio")


def test_a_vllm_arms_draft_law_is_its_temperature_alone_as_vllms_proposer_drafts():
    """vLLM's draft proposer (0.32, ``compute_probs_and_sample_next_token``) divides the draft's logits by the
    request's temperature and ignores top-k / top-p; tais's own proposers draft under the arm's whole law."""
    arm_law = SamplingParams(temperature=0.8, top_k=4, top_p=0.95)
    block = {"num_speculative_tokens": 4, "draft_sample_method": "probabilistic"}
    vllm = draft_plan(ArmSpec("v", "vllm", "m", draft="hf:org/d", sampling=arm_law, speculative=block))
    served = draft_plan(ArmSpec("s", "vllm-server", "m", draft="hf:org/d", sampling=arm_law, speculative=block))
    own = draft_plan(ArmSpec("h", "hf", "m", draft="hf:org/d", sampling=arm_law, speculative={"proposer": "draft"}))
    assert isinstance(vllm, DraftPlan) and isinstance(served, DraftPlan) and isinstance(own, DraftPlan)
    assert vllm.law == served.law == SamplingParams(temperature=0.8) and own.law == arm_law
    assert vllm.label == "draft hf:org/d (hf, float32)"
    greedy = draft_plan(ArmSpec("g", "vllm", "m", draft="hf:org/d", sampling=arm_law,
                                speculative={"num_speculative_tokens": 4}))
    assert isinstance(greedy, DraftPlan) and "drafts greedily" in greedy.label and greedy.law == vllm.law
    rng = np.random.default_rng(8)
    ref_logits = rng.normal(size=(6, 10)) * 2
    draft_logits = ref_logits + rng.normal(size=(6, 10))
    tokens = [int(np.argmax(r)) for r in ref_logits]
    rows = [torch.log_softmax(torch.tensor(x, dtype=torch.float32), -1) for x in (ref_logits, draft_logits)]
    reference = SamplingParams(temperature=0.8, top_k=4)  # the reference's law: cut to its top 4
    got = ratio_scores(*rows, tokens, reference, vllm.law)
    want = log_ratio_scores(law(ref_logits, 0.8, 4), law(draft_logits, 0.8), tokens)  # the draft's: not cut
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
