"""Teacher-forced scoring of the hf engine on the real SmolLM2-135M-Instruct (float32, CPU): re-scoring the tokens
the engine generated gives back the log-probabilities it reported while generating them."""

from __future__ import annotations

import asyncio
import math

import pytest
from conftest import SMOLLM2, benign_prompts, chat_requests

from tais.engines import create_engine
from tais.engines.hf.engine import HFEngine
from tais.engines.mock import MockEngine
from tais.errors import CannotTeacherForce, EngineError
from tais.types import ArmSpec, ScoringRequest

PROMPTS = benign_prompts()[:50]


@pytest.fixture(scope="module")
def engine(smollm2) -> HFEngine:
    engine = create_engine(ArmSpec(name="reference", backend="hf", model=SMOLLM2,
                                   options={"batch_size": 25, "decoder": "dynamic"}))
    assert isinstance(engine, HFEngine)
    return engine


@pytest.fixture(scope="module")
def generated(engine):
    requests = chat_requests(PROMPTS, max_tokens=64, logprobs=5)

    async def run():
        return [c async for c in engine.generate(requests)]

    return requests, asyncio.run(run())


def test_teacher_forced_logprobs_equal_generation_logprobs(engine, generated):
    requests, completions = generated
    scored = engine.score_tokens([ScoringRequest(r, c.token_ids, top_k=5) for r, c in zip(requests, completions)])
    positions = 0
    for c, s in zip(completions, scored):
        assert (s.item_id, s.token_ids) == (c.item_id, c.token_ids)
        assert len(s.positions) == len(c.logprobs) == len(c.token_ids)
        for step, pos in zip(c.logprobs, s.positions):
            positions += 1
            assert abs(pos.logprob - step.logprob) < 1e-4
            assert abs(pos.top1_logprob - step.top[0].logprob) < 1e-4
            assert pos.exact and 0.0 <= pos.tail_mass < 1.0
            assert 0.0 <= pos.entropy <= math.log(49152)
            # greedy took the argmax: the forced token is the model's own top-1 (up to an exact tie)
            assert pos.top1_id == step.token_id or abs(pos.top1_logprob - pos.logprob) < 1e-4
            for (tid, lp), alt in zip(pos.top, step.top):
                assert abs(lp - alt.logprob) < 1e-4
    assert positions > 50 * 30


def test_a_forced_token_the_model_would_not_choose_gets_its_own_low_logprob(engine, generated):
    """Positive control: forcing a different token at position 3 changes position 3's forced logprob (to the
    model's value for that token, found in the top-5) while the top-1 there stays the generated token."""
    requests, completions = generated
    c = completions[0]
    alternative = c.logprobs[3].top[1]
    forced = (*c.token_ids[:3], alternative.token_id, *c.token_ids[4:])
    [s] = engine.score_tokens([ScoringRequest(requests[0], forced, top_k=5)])
    assert abs(s.positions[3].logprob - alternative.logprob) < 1e-4
    assert s.positions[3].top1_id == c.token_ids[3]
    assert s.positions[3].logprob < s.positions[3].top1_logprob


def test_empty_token_sequence_scores_no_positions(engine, generated):
    requests, _ = generated
    [s] = engine.score_tokens([ScoringRequest(requests[0], ())])
    assert s.positions == ()


def test_an_engine_without_scoring_raises_cannot_teacher_force():
    with pytest.raises(CannotTeacherForce, match="cannot teacher-force") as info:
        MockEngine().score_tokens([])
    assert isinstance(info.value, EngineError) and info.value.exit_code == 2
