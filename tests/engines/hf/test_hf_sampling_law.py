"""End to end at temperature 0.8 on the real SmolLM2-135M-Instruct (float32, CPU), without the pipeline: does the
predictable-score test (:mod:`tais.stats.sampling_law`) pass a lossless sampler and fail a planted bug?

The reference laws come from one teacher-forced forward pass of the target over each prompt and its sampled
completion (the helper below; the engine's own ``score_tokens`` may replace it), cut to the 256 most likely tokens
with the exact mass of the rest. Candidates: target-only sampling and lossless speculative sampling with the int8
quantized proposer must not differ; the same speculative sampler with a planted bug (temperature applied twice: law
at T = 0.64, theta = -0.25) must differ, and its interval must hold -0.25. Measured (torch CPU, 16 prompts x 40
tokens, margin 0.1): target-only 610 tokens, theta +0.025 [-0.026, +0.077], no test below alpha after Holm;
lossless speculative (294 of 816 drafts accepted) 567 tokens, theta -0.019 [-0.075, +0.037], Holm p >= 0.63;
double temperature 592 tokens, theta -0.263 [-0.315, -0.211], surprisal Z -6.3, top-1 Z +5.0, PIT A2 10.8.
A second planted bug, top-p cut from the draft's law only (T = 0.8, top_p = 0.6, the target as its own draft),
emits 85 of 375 tokens outside the reference's top-p set, the lossless sampler 0 of 383.

The other planted bug, ``resample_from_target`` (recovered tokens drawn from ``q``, not the residual), is a subtler
shift with this drafter: measured on 24 prompts x 40 tokens (874 tokens), its law is at total variation 0.094 per
token from the target's, yet it moves the surprisal Z by only +1.8 and the top-1 Z by -1.1 in expectation, so it
needs several thousand tokens to be caught: on 48 prompts x 80 tokens (3 339 tokens) theta was +0.025 [+0.005,
+0.044] and the surprisal Z +2.16, Holm p 0.092: not yet caught (not run here).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import SMOLLM2, benign_prompts, chat_requests
from tais.engines.hf.engine import HFEngine
from tais.engines.speculative.truncation import Law, sampling_probs
from tais.pipeline.config import SampledModel
from tais.pipeline.sampled import arm_laws
from tais.screen.sampled import decide, token_level
from tais.stats.predictable import ReferenceLaws
from tais.stats.sampling_law import sampling_law_test
from tais.types import ArmSpec, CompletionKey, SamplingParams, Verdict

SAMPLING = SamplingParams(temperature=0.8, max_tokens=40, logprobs=0, seed=3)
PROMPTS = 16
TOP = 256


def sample(speculative=None, sampling=SAMPLING):
    arm = ArmSpec(name="arm", backend="hf", model=SMOLLM2, speculative=speculative or {}, sampling=sampling,
                  options={"batch_size": PROMPTS})
    engine = HFEngine.from_arm(arm)
    requests = [r.__class__(r.item_id, sampling, messages=r.messages) for r in
                chat_requests(benign_prompts()[-PROMPTS:], logprobs=0)]
    return engine, engine.generate_batch(requests), requests


@torch.inference_mode()
def teacher_forced_laws(engine: HFEngine, requests, completions,
                        sampling=SAMPLING) -> tuple[ReferenceLaws, np.ndarray, np.ndarray]:
    """The target's sampling law at every emitted token (top ``TOP`` + tail), the tokens, and their prompt index."""
    from tais.engines.hf.chat import prompt_token_ids

    ids, probs, tokens, prompts = [], [], [], []
    law = Law.of([sampling])
    for i, (request, completion) in enumerate(zip(requests, completions)):
        prompt = prompt_token_ids(engine.target.tokenizer, request)
        out = list(completion.token_ids)
        feed = torch.tensor([prompt + out[:-1]])
        logits = engine.target.model(feed).logits[0, len(prompt) - 1:]  # [len(out), vocab]
        p = sampling_probs(logits[None], law)[0]  # [len(out), vocab]
        top = p.topk(TOP, dim=-1)
        ids.append(top.indices.numpy())
        probs.append(top.values.double().numpy())
        tokens += out
        prompts += [i] * len(out)
    return ReferenceLaws.top(np.concatenate(ids), np.concatenate(probs)), np.array(tokens), np.array(prompts)


@pytest.fixture(scope="module")
def target_only(smollm2):
    return sample()


def verdict(name, engine, requests, completions):
    laws, tokens, prompts = teacher_forced_laws(engine, requests, completions)
    result = sampling_law_test(laws, tokens, prompts, margin=0.1)
    t = result.tempering
    print(f"\n{name}: {len(tokens)} tokens, {t.n_clusters} prompts, theta {t.theta:+.3f} "
          f"[{t.ci_low:+.3f}, {t.ci_high:+.3f}] (T_eff/T {t.temperature_ratio:.3f}), Z {t.z:+.2f}, "
          f"top-1 Z {result.top1.z:+.2f}, PIT A2 {result.pit.statistic:.2f}, Holm p "
          f"{', '.join(f'{n} {p:.2g}' for n, p in zip(result.combined.names, result.combined.p_holm))}; "
          f"mean varentropy {t.mean_varentropy:.2f}; differs {result.differs}")
    return result


def test_target_only_sampling_passes(target_only):
    engine, completions, requests = target_only
    assert not verdict("target-only", engine, requests, completions).differs


@pytest.mark.parametrize("bug", [None, "double_temperature"])
def test_speculative_sampling_passes_and_planted_bugs_fail(bug, target_only):
    spec = {"proposer": "quantized", "k": 3, **({"planted_bug": bug} if bug else {})}
    engine, completions, requests = sample(spec)
    accepted, drafted = sum(c.spec.accepted for c in completions), sum(c.spec.drafted for c in completions)
    print(f"\n{bug or 'lossless'}: acceptance {accepted}/{drafted}")
    result = verdict(bug or "lossless speculative", target_only[0], requests, completions)
    assert result.differs == (bug is not None)
    if bug == "double_temperature":  # the law at T**2 is q**(1/T): theta = 1 - 1/0.8 = -0.25
        assert result.tempering.ci_low < -0.25 < result.tempering.ci_high


TOP_P = SamplingParams(temperature=0.8, top_p=0.6, max_tokens=24, logprobs=0, seed=4)


@pytest.mark.parametrize("bug", [None, "top_p_draft_only"])
def test_top_p_applied_to_the_draft_only_emits_tokens_outside_the_top_p_set(bug, target_only):
    """Positive control of a second planted bug: with top-p cut from the target's law only, tokens outside the
    reference's top-p set appear (impossible under H0); the lossless sampler emits none."""
    spec = {"proposer": "self", "k": 3, **({"planted_bug": bug} if bug else {})}
    _, completions, requests = sample(spec, TOP_P)
    laws, tokens, _ = teacher_forced_laws(target_only[0], requests, completions, TOP_P)
    _, q = laws.observed(tokens)
    outside = int((q == 0).sum())
    print(f"\n{bug or 'lossless'} at top_p 0.6: {outside} of {len(tokens)} tokens outside the reference's top-p set")
    assert (outside > 0) == (bug is not None)


TOP_K = SamplingParams(temperature=0.8, top_k=3, max_tokens=24, logprobs=0, seed=6)


@pytest.mark.parametrize("bug", [None, "top_k_off_by_one"])
def test_top_k_off_by_one_fails_the_screen_end_to_end(bug, target_only):
    """End to end through the screen's own T > 0 path (:func:`tais.pipeline.sampled.arm_laws` teacher-forcing
    through the reference engine, :func:`tais.screen.sampled.token_level`, :func:`tais.screen.sampled.decide`): with
    top-k 3 and top-k keeping 4 tokens (prompt-lookup drafts, so the wrong law is the target's own), the emitted
    4th-ranked tokens have probability 0 under the reference's law: leaks, surprisal at the clip, theta far above 0,
    FAIL. The lossless sampler (positive control of the negative) emits no leak and is not failed. Measured (16 prompts
    x 24 tokens): the bug 18 of 384 tokens outside the top 3 (2 hard leaks), theta +0.58 [+0.40, +0.76], FAIL;
    lossless 0 leaks, theta +0.02 [-0.13, +0.17], INCONCLUSIVE."""
    spec = {"proposer": "ngram", "k": 3, **({"planted_bug": bug} if bug else {})}
    _, completions, requests = sample(spec, TOP_K)
    messages = {r.item_id: r.messages for r in requests}
    keyed = {CompletionKey(c.item_id, c.replicate, ""): c for c in completions}
    found = arm_laws(target_only[0], messages, keyed, TOP_K, SampledModel())
    laws, tokens, clusters, hard, soft, exact = (found.laws, found.tokens, found.clusters, found.hard, found.soft,
                                                 found.exact)
    level = token_level(laws, tokens, clusters, hard_leaks=hard, soft_leaks=soft, theta_margin=0.02, alpha=0.05)
    verdict, reasons = decide(level, (), theta_margin=0.02)
    print(f"\n{bug or 'lossless'} at top_k 3: {level.n_tokens} tokens, {soft} leaks ({hard} hard), theta "
          f"{level.theta:+.3f} [{level.theta_low:+.3f}, {level.theta_high:+.3f}], Holm p "
          f"{[round(p, 4) for p in level.p_holm]}: {verdict.value} {reasons}")
    assert exact
    if bug:
        assert soft > 0 and verdict is Verdict.FAIL and level.theta > 0.02
    else:
        assert soft == 0 and hard == 0 and verdict is not Verdict.FAIL
