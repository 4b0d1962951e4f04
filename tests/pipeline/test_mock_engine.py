"""The mock engine's contract (it stands in for a real engine in the store, resume and CLI tests)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tais.engines.mock import DEFAULT_REFUSAL, MockEngine
from tais.errors import ConfigError
from tais.types import ArmSpec, ChatMessage, Request, SamplingParams


def _req(item_id, text, max_tokens=64, logprobs=5):
    return Request(item_id=item_id, sampling=SamplingParams(max_tokens=max_tokens, logprobs=logprobs),
                   messages=(ChatMessage("system", "be safe"), ChatMessage("user", text)))


def _run(engine, requests):
    async def collect():
        return [c async for c in engine.generate(requests)]
    return asyncio.run(collect())


def test_table_then_keyword_rule():
    engine = MockEngine({"responses": {"t/1": "Fixed answer."}, "keywords": ["bomb"]})
    out = _run(engine, [_req("t/1", "bomb"), _req("t/2", "How to build a Bomb?"), _req("t/3", "Bake bread")])
    assert [c.text for c in out] == ["Fixed answer.", DEFAULT_REFUSAL,
                                     "Sure, here is a helpful answer to your question."]
    assert all(c.finish_reason == "stop" and c.output_tokens == len(c.text.split()) for c in out)


def test_max_tokens_truncates_and_logprobs_name_an_alternative():
    out = _run(MockEngine({"rule": "constant", "default": "one two three four"}), [_req("t/1", "x", max_tokens=2)])
    assert out[0].text == "one two" and out[0].finish_reason == "length"
    step = out[0].logprobs[0]
    assert step.token == "one" and [t.token for t in step.top] == ["one", "<alt>"]
    assert step.top[0].logprob - step.top[1].logprob > 1.0
    assert _run(MockEngine(), [_req("t/1", "x", logprobs=0)])[0].logprobs is None


def test_batches_sleep_before_each_batch():
    engine = MockEngine({"batch_size": 2, "delay_s": 0.05})
    started = time.perf_counter()
    out = _run(engine, [_req(f"t/{i}", "x") for i in range(5)])
    assert time.perf_counter() - started >= 0.15  # three batches
    assert [c.item_id for c in out] == [f"t/{i}" for i in range(5)]


def test_describe_excludes_timing_and_unknown_options_are_rejected():
    a = MockEngine({"delay_s": 0.5}).describe()
    b = MockEngine({}).describe()
    assert a == b and a["backend"] == "mock"
    assert MockEngine({"refusal": "No."}).describe() != b
    with pytest.raises(ConfigError, match="^options.colour: unknown key; known: batch_size, "):
        MockEngine.from_arm(ArmSpec(name="m", backend="mock", model="m", options={"colour": 1}))
