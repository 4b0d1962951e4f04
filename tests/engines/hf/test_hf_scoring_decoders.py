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
