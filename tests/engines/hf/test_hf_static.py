"""The static-cache decoders (the CUDA-graph path, run eagerly on CPU here) on the real SmolLM2-135M-Instruct in
float32: greedy and speculative (a draft made of the first layers, and the full model as its own draft) equal
transformers' ``generate(do_sample=False)`` token for token; the engine's ``static`` decoder gives the same
completions as its ``dynamic`` one (tokens, text, finish reasons, top-k log-probabilities), with EOS, stop strings,
per-request ``max_tokens`` and top-k, and a last batch smaller than the others."""

from __future__ import annotations

import pytest
import torch

from conftest import SMOLLM2, benign_prompts, chat_requests
from tais.engines.hf.chat import prompt_token_ids
from tais.engines.hf.engine import HFEngine
from tais.engines.hf.loading import load_model
from tais.engines.hf.rows import RowState, left_padded
from tais.engines.hf.static_greedy import StaticGreedy
from tais.engines.hf.static_speculative import StaticSpeculative
from tais.errors import ConfigError
from tais.types import ArmSpec, Request, SamplingParams

pytestmark = pytest.mark.slow  # every case runs the real SmolLM2

NEW = 24


@pytest.fixture(scope="module")
def case(smollm2):
    loaded = load_model(SMOLLM2)
    requests = chat_requests(benign_prompts()[10:14])
    tokens, valid = left_padded([prompt_token_ids(loaded.tokenizer, r) for r in requests], loaded.pad_token_id)
    with torch.inference_mode():
        expected = loaded.model.generate(input_ids=tokens, attention_mask=valid, do_sample=False, max_new_tokens=NEW,
                                         min_new_tokens=NEW, pad_token_id=loaded.pad_token_id)[:, tokens.shape[1]:]
    return loaded, tokens, valid, expected


def rows_for(loaded, requests, *, eos=True) -> list[RowState]:
    return [RowState(request=r, prompt_ids=prompt_token_ids(loaded.tokenizer, r), top_k=int(r.sampling.logprobs or 0),
                     eos_ids=loaded.eos_token_ids if eos else frozenset(), tokenizer=loaded.tokenizer)
            for r in requests]


def test_static_greedy_equals_generate(case):
    loaded, tokens, valid, expected = case
    rows = rows_for(loaded, chat_requests(benign_prompts()[10:14], max_tokens=NEW, logprobs=0), eos=False)
    greedy = StaticGreedy(loaded.model, batch_size=len(rows), width=tokens.shape[1] + NEW, check_every=5)
    assert greedy.decode(rows, pad_id=loaded.pad_token_id) == NEW
    assert [r.token_ids for r in rows] == expected.tolist()
    assert {r.finish_reason for r in rows} == {"length"}


@pytest.mark.parametrize("draft_layers", [30, 8])
def test_static_speculative_equals_generate(case, draft_layers):
    loaded, tokens, valid, expected = case
    rows = rows_for(loaded, chat_requests(benign_prompts()[10:14], max_tokens=NEW, logprobs=0), eos=False)
    spec = StaticSpeculative(loaded.model, loaded.model, draft_layers=draft_layers, batch_size=len(rows),
                             width=tokens.shape[1] + 4 * NEW, k=3, check_every=2)
    telemetry = spec.decode(rows, pad_id=loaded.pad_token_id)
    assert [r.token_ids for r in rows] == expected.tolist()
    assert all(t.verify_steps > 0 and t.drafted == 3 * t.verify_steps for t in telemetry)
    assert all(sum(t.accepted_by_position) == t.accepted for t in telemetry)
    if draft_layers == 30:  # the whole model drafting for itself
        assert all(t.accepted == t.drafted for t in telemetry)
    else:
        assert sum(t.accepted for t in telemetry) < sum(t.drafted for t in telemetry)


SHORT = ["Reply with one word: what colour is grass?", "Answer yes or no: is ice cold?",
         "Name one planet. Only the name.", "What is 2+2? Answer with the number only."]


def test_static_greedy_stops_once_every_row_has_ended(case):
    loaded = case[0]
    rows = rows_for(loaded, chat_requests(SHORT, max_tokens=200, logprobs=0))
    greedy = StaticGreedy(loaded.model, batch_size=6, width=512, check_every=4)
    steps = greedy.decode(rows, pad_id=loaded.pad_token_id)
    longest = max(len(r.token_ids) for r in rows)
    assert {r.finish_reason for r in rows} == {"stop"} and longest < 200
    assert longest <= steps < longest + 4  # the chunk holding the last EOS, and no more


def static_and_dynamic(batch_size: int, speculative: dict | None = None) -> tuple[HFEngine, HFEngine]:
    draft = SMOLLM2 if speculative and speculative["proposer"] == "draft" else None
    return tuple(  # type: ignore[return-value]  # a two-item generator: the pair
        HFEngine.from_arm(ArmSpec(name=decoder, backend="hf", model=SMOLLM2, speculative=speculative, draft=draft,
                                  options={"batch_size": batch_size, "decoder": decoder}))
        for decoder in ("static", "dynamic")
    )


def assert_same_completions(ours, theirs) -> None:
    for a, b in zip(ours, theirs, strict=True):
        assert (a.item_id, a.token_ids, a.text, a.finish_reason) == (b.item_id, b.token_ids, b.text, b.finish_reason)
        assert (a.prompt_tokens, a.output_tokens) == (b.prompt_tokens, b.output_tokens)
        assert_same_logprobs(a.logprobs, b.logprobs)


def assert_same_logprobs(a, b) -> None:
    assert (a is None) == (b is None)
    for x, y in zip(a or (), b or ()):
        assert x.token_id == y.token_id and x.logprob == pytest.approx(y.logprob, abs=1e-4)
        assert [t.logprob for t in x.top] == pytest.approx([t.logprob for t in y.top], abs=1e-4)
        for i, (s, t) in enumerate(zip(x.top, y.top)):  # alternatives in the same order, up to exact near ties
            neighbours = [u.logprob for u in y.top[max(i - 1, 0):i + 2]]
            assert s.token_id == t.token_id or sorted(abs(v - t.logprob) for v in neighbours)[1] < 1e-4


def test_engine_static_decoder_equals_dynamic(case):
    static, dynamic = static_and_dynamic(batch_size=5)
    prompts = SHORT + benign_prompts()[20:28]
    requests = [
        Request(f"r/{i}", SamplingParams(max_tokens=(24, 48, 96)[i % 3], logprobs=(5, 0, 2)[i % 3]),
                messages=chat_requests([p])[0].messages)
        for i, p in enumerate(prompts)
    ]
    requests[5] = Request("r/stop", SamplingParams(max_tokens=96, logprobs=5, stop=(".",)),
                          messages=requests[5].messages)

    async def run(engine):
        return [c async for c in engine.generate(requests)]

    import asyncio

    ours, theirs = asyncio.run(run(static)), asyncio.run(run(dynamic))
    assert {c.finish_reason for c in ours} == {"stop", "length"}
    assert any(c.finish_reason == "stop" and c.token_ids[-1] in static.target.eos_token_ids for c in ours)
    assert_same_completions(ours, theirs)
    assert ours[5].finish_reason == "stop" and "." not in ours[5].text
    assert static.describe()["decoder"] == "static" and dynamic.describe()["decoder"] == "dynamic"
    assert static._static.width == 256 and static._static.batch_size == 5  # one decoder served all three batches


@pytest.mark.parametrize("proposer", ["self", "draft"])
def test_engine_static_speculative_equals_dynamic(case, proposer):
    """``draft``: SmolLM2 as its own draft model, loaded through the arm's ``draft`` source."""
    static, dynamic = static_and_dynamic(batch_size=4, speculative={"proposer": proposer, "k": 3})
    requests = [
        Request(f"s/{i}", SamplingParams(max_tokens=(20, 40)[i % 2], logprobs=(5, 0)[i % 2]),
                messages=chat_requests([p])[0].messages)
        for i, p in enumerate(SHORT + benign_prompts()[30:32])
    ]
    ours, theirs = static.generate_batch(requests[:4]) + static.generate_batch(requests[4:]), [
        *dynamic.generate_batch(requests[:4]), *dynamic.generate_batch(requests[4:])]
    assert_same_completions(ours, theirs)
    assert {c.finish_reason for c in ours} == {"stop", "length"}
    for a, b in zip(ours, theirs):
        assert a.spec == b.spec and a.spec.accepted == a.spec.drafted > 0  # self-drafting: every draft accepted
    assert static.describe()["decoder"] == "static" and static.describe()["speculative"]["proposer"] == proposer


def test_decoder_option(case):
    auto = HFEngine.from_arm(ArmSpec(name="a", backend="hf", model=SMOLLM2))
    assert auto.decoder == "dynamic"  # auto picks static on CUDA only
    for options, speculative, words in [
        ({"decoder": "fast"}, None, "options.decoder: Input should be 'auto', 'static' or 'dynamic' (got 'fast')"),
        ({"decoder": "static"}, {"proposer": "ngram", "k": 2},
         "options.decoder: the static decoder cannot run this arm: proposer 'ngram' (it drafts with a model"),
        ({"decoder": "static"}, {"proposer": "self", "acceptance": "typical"},
         "options.decoder: the static decoder cannot run this arm: acceptance 'typical' (it verifies strictly)"),
    ]:
        with pytest.raises(ConfigError) as info:
            HFEngine.from_arm(ArmSpec(name="a", backend="hf", model=SMOLLM2, options=options, speculative=speculative))
        assert words in str(info.value)
