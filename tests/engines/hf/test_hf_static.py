"""The static-cache decoders (the CUDA-graph path, run eagerly on CPU here) on the real SmolLM2-135M-Instruct in
float32: greedy and speculative (a draft made of the first layers, and the full model as its own draft) equal
transformers' ``generate(do_sample=False)`` token for token."""

from __future__ import annotations

import pytest
import torch

from conftest import SMOLLM2, benign_prompts, chat_requests
from tais.engines.hf.chat import prompt_token_ids
from tais.engines.hf.loading import load_model
from tais.engines.hf.rows import left_padded
from tais.engines.hf.static_decoding import StaticGreedy, StaticSpeculative

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


def test_static_greedy_equals_generate(case):
    loaded, tokens, valid, expected = case
    greedy = StaticGreedy(loaded.model, batch_size=tokens.shape[0], prompt_len=tokens.shape[1], max_new=NEW)
    assert torch.equal(greedy.generate(tokens, valid), expected)


@pytest.mark.parametrize("draft_layers", [30, 8])
def test_static_speculative_equals_generate(case, draft_layers):
    loaded, tokens, valid, expected = case
    spec = StaticSpeculative(loaded.model, draft_layers, batch_size=tokens.shape[0], prompt_len=tokens.shape[1],
                             max_new=NEW, k=3, check_every=2)
    out, telemetry = spec.generate(tokens, valid)
    assert torch.equal(out, expected)
    if draft_layers == 30:
        assert telemetry["acceptance"] == 1.0 and telemetry["tokens_per_step"] == 4.0
    else:
        assert telemetry["acceptance"] < 1.0
