"""Teacher-forced scoring against the static decoder (CUDA graphs on CUDA, eager on CPU) and the dynamic decoder, on
CPU and on CUDA (skipped without a CUDA device): on a small random float32 Llama, the values ``score_batch`` gives
equal the log-probabilities each decoder recorded while generating the same tokens."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tais.engines.hf.greedy import greedy_decode
from tais.engines.hf.loading import LoadedModel
from tais.engines.hf.rows import RowState
from tais.engines.hf.scoring import score_batch
from tais.engines.hf.static_greedy import StaticGreedy
from tais.types import Request, SamplingParams, ScoringRequest

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="needs a CUDA device"))]


@pytest.fixture(scope="module", params=DEVICES)
def model(request):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=512, intermediate_size=1376, num_hidden_layers=4, num_attention_heads=8,
                      num_key_value_heads=4, vocab_size=4000, max_position_embeddings=1024)
    cfg.eos_token_id = None
    cfg.pad_token_id = 0
    return LlamaForCausalLM(cfg).to(request.param, torch.float32).eval()


def _rows():
    g = torch.Generator().manual_seed(1)
    return [RowState(request=Request(f"r/{i}", SamplingParams(max_tokens=40, logprobs=5), prompt="x"),
                     prompt_ids=torch.randint(1, 4000, (5 + 3 * i,), generator=g).tolist(), eos_ids=frozenset(),
                     top_k=5) for i in range(8)]


@pytest.mark.parametrize("decoder", ["static", "dynamic"])
def test_teacher_forced_equals_generation(model, decoder):
    rows = _rows()
    if decoder == "static":
        StaticGreedy(model, batch_size=len(rows), width=256, top_k=5).decode(rows, pad_id=0)
    else:
        greedy_decode(model, rows, pad_id=0)
    loaded = LoadedModel(model=model, tokenizer=SimpleNamespace(pad_token_id=0, eos_token_id=None), files=None,
                         dtype="float32", device=model.device.type)
    scored = score_batch(loaded, [ScoringRequest(r.request, tuple(r.token_ids), prompt_token_ids=tuple(r.prompt_ids),
                                                 top_k=5) for r in rows])
    worst = 0.0
    for row, s in zip(rows, scored):
        assert len(s.positions) == len(row.token_ids) == 40
        for record, pos in zip(row.records, s.positions):
            worst = max(worst, abs(record.logprob - pos.logprob), abs(record.top_logprobs[0] - pos.top1_logprob))
    print(f"{model.device.type} {decoder}: max |generation - teacher-forced| = {worst:.2e}")
    assert worst < 1e-4


def test_full_log_prob_rows_agree_with_the_scores(model):
    """``log_prob_rows`` (for exact distances between in-process arms) holds normalised rows whose forced-token
    values, top-1 and entropy are those ``score_batch`` reports."""
    from tais.engines.hf.scoring import log_prob_rows

    rows = _rows()
    loaded = LoadedModel(model=model, tokenizer=SimpleNamespace(pad_token_id=0, eos_token_id=None), files=None,
                         dtype="float32", device=model.device.type)
    requests = [ScoringRequest(r.request, tuple(range(7, 7 + 3 + i)), prompt_token_ids=tuple(r.prompt_ids), top_k=3)
                for i, r in enumerate(rows)]
    full, scored = log_prob_rows(loaded, requests), score_batch(loaded, requests)
    for req, rows_i, s in zip(requests, full, scored):
        assert rows_i.shape == (len(req.token_ids), 4000)
        torch.testing.assert_close(rows_i.exp().sum(-1), torch.ones(len(req.token_ids)), atol=1e-5, rtol=0)
        for j, pos in enumerate(s.positions):
            assert abs(float(rows_i[j, req.token_ids[j]]) - pos.logprob) < 1e-6
            assert int(rows_i[j].argmax()) == pos.top1_id
            assert abs(float(-(rows_i[j].exp() * rows_i[j]).sum()) - pos.entropy) < 1e-4
