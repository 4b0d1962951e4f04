"""Reference decoding of the hf engine on the real SmolLM2-135M-Instruct (float32, CPU)."""

from __future__ import annotations

import asyncio
import math

import pytest
import torch

from conftest import SMOLLM2, benign_prompts, chat_requests
from tais.engines import create_engine
from tais.engines.hf.engine import HFEngine
from tais.engines.hf.rows import left_padded
from tais.types import ArmSpec, Request, SamplingParams

pytestmark = pytest.mark.slow  # every case runs the real SmolLM2

PROMPTS = benign_prompts()[:8]


@pytest.fixture(scope="module")
def engine(smollm2) -> HFEngine:
    engine = create_engine(ArmSpec(name="reference", backend="hf", model=SMOLLM2, options={"batch_size": 8}))
    assert isinstance(engine, HFEngine)
    return engine


@pytest.fixture(scope="module")
def completions(engine):
    async def run():
        return [c async for c in engine.generate(chat_requests(PROMPTS, max_tokens=64))]

    return asyncio.run(run())


def test_greedy_equals_transformers_generate_token_for_token(engine, completions):
    target = engine.target
    for start in range(0, len(PROMPTS), 8):
        batch = completions[start:start + 8]
        prompts = [target.tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True)
                   for p in PROMPTS[start:start + 8]]
        prompts = [p["input_ids"] if isinstance(p, dict) or hasattr(p, "keys") else p for p in prompts]
        tokens, valid = left_padded(prompts, target.pad_token_id)
        with torch.inference_mode():
            out = target.model.generate(input_ids=tokens, attention_mask=valid, do_sample=False, max_new_tokens=64,
                                        pad_token_id=target.pad_token_id)
        for row, completion in zip(out[:, tokens.shape[1]:].tolist(), batch):
            ours = list(completion.token_ids)
            assert row[: len(ours)] == ours, completion.item_id
            assert all(t == target.pad_token_id for t in row[len(ours):]), completion.item_id
            assert completion.prompt_tokens == len(prompts[batch.index(completion)])


def test_completion_fields(engine, completions):
    eos = engine.target.eos_token_ids
    assert [c.item_id for c in completions] == [f"p/{i}" for i in range(len(PROMPTS))]
    assert {c.finish_reason for c in completions} <= {"stop", "length"}
    for c in completions:
        assert c.output_tokens == len(c.token_ids) == len(c.logprobs) <= 64
        if c.finish_reason == "stop":
            assert c.token_ids[-1] in eos
        else:
            assert c.output_tokens == 64 and not eos & set(c.token_ids)
        assert c.text == engine.target.tokenizer.decode([t for t in c.token_ids if t not in eos],
                                                        skip_special_tokens=True)
        assert c.wall_s > 0 and c.spec is None
        for step, token in zip(c.logprobs, c.token_ids):
            assert step.token_id == token and len(step.top) == 5
            assert step.top[0].token_id == token  # greedy: the chosen token is the top-1
            assert step.logprob == pytest.approx(step.top[0].logprob)
            assert all(a.logprob >= b.logprob for a, b in zip(step.top, step.top[1:]))
            assert math.fsum(math.exp(t.logprob) for t in step.top) <= 1.0 + 1e-5


def test_stop_string_cuts_the_text_before_it(engine, completions):
    long = next(c for c in completions if c.finish_reason == "length")
    words = long.text.split()
    stop = " " + words[len(words) // 2]
    cut = long.text.index(stop)
    request = Request("stop/1", SamplingParams(max_tokens=64, logprobs=2, stop=(stop,)),
                      messages=chat_requests([PROMPTS[completions.index(long)]])[0].messages)
    (stopped,) = engine.generate_batch([request])
    assert stopped.finish_reason == "stop"
    assert stopped.text == long.text[:cut]
    assert stopped.token_ids == long.token_ids[: len(stopped.token_ids)]
    assert len(stopped.token_ids) < len(long.token_ids)
    assert len(stopped.logprobs[0].top) == 2


def test_raw_prompt_and_no_logprobs(engine):
    request = Request("raw/1", SamplingParams(max_tokens=5, logprobs=0), prompt="The capital of France is")
    (c,) = engine.generate_batch([request])
    assert c.logprobs is None and c.output_tokens == 5 and c.finish_reason == "length"
    assert c.prompt_tokens == len(engine.target.tokenizer("The capital of France is")["input_ids"])
    assert "Paris" in c.text


def test_describe_names_everything_that_changes_outputs(engine, smollm2):
    d = engine.describe()
    assert d["backend"] == "hf" and d["model"] == SMOLLM2 and d["model_sha256"] == smollm2.sha256
    assert d["torch"] == torch.__version__ and d["transformers"]
    assert (d["dtype"], d["device"], d["speculative"], d["batch_size"]) == ("float32", "cpu", None, 8)
    assert len(d["chat_template_sha256"]) == 64
