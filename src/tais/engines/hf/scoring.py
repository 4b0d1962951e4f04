"""Teacher-forced scoring on a loaded transformers model: the model's own distribution at every position of given
token ids, in one forward pass per batch.

Each sequence is the prompt's token ids followed by the ids to score (never re-tokenised text). The batch is
left-padded, with the attention mask and position ids counting only real tokens, so every row's last column is its
last forced token and the logits that predict forced token ``j`` of a row with ``n`` forced tokens sit ``n - j``
columns from the right end: one pass that keeps the logits of the last ``max n`` + 1 columns covers the batch.
Worked example (prompt ``a b``, forced ``x y``; pad ``p``; ``^`` marks the columns whose logits are used)::

    columns   p  a  b  x  y
    logits          ^  ^        b predicts x, x predicts y (y's own logits predict nothing forced)

Everything is computed in float32 from the model's logits, so the values equal the log-probabilities the engine
reports while generating the same tokens (same ``logprob_tensors``); the full distribution is seen, so the top-1 and
the entropy are exact (``exact=True``).

Cost on a CPU (SmolLM2-135M, 32 prompts x 64 tokens, 1 thread, 2 shared cores; ``benchmarks/teacher_forcing.py``):
scoring costs 0.19-0.20 of generating the same tokens (batch 8). The forward pass is ~90% of it, three quarters of
that in matrix products running at ~115 GFLOP/s (about 800 GFLOP for 3,300 prompt + forced tokens: most of one
core's float32 peak), so what is left is the arithmetic itself; the per-row reductions (log-softmax, entropy, top-k)
are ~8%. The output projection runs once per batch over every kept column: computing it a few positions at a time
(to keep the logits in cache) was tried and is a third slower, since each chunk reads the whole 113 MB projection
matrix again. Batches of 4, 8 and 16 cost the same within 5%. Sorting a call's rows by prompt + forced length
(less padding) was tried too: in bfloat16 a row's values depend on its place in the batch, so the scores would no
longer match the full rows of :func:`log_prob_rows` computed in request order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tais.engines.hf.chat import prompt_token_ids
from tais.engines.hf.loading import LoadedModel
from tais.engines.hf.rows import left_padded
from tais.errors import EngineError
from tais.types import PositionScore, ScoringRequest, TokenScores


def sequence_ids(loaded: LoadedModel, request: ScoringRequest) -> tuple[list[int], list[int]]:
    """(prompt ids, forced ids) of one scoring request: the given prompt ids, else the prompt rendered as the engine
    renders it for generation."""
    prompt = (list(request.prompt_token_ids) if request.prompt_token_ids is not None
              else prompt_token_ids(loaded.tokenizer, request.request))
    return prompt, [int(t) for t in request.token_ids]


def forced_logits(loaded: LoadedModel, pairs: Sequence[tuple[list[int], list[int]]], widest: int) -> torch.Tensor:
    """The logits [batch, widest, vocab] that predict each row's forced tokens, right-aligned (row i's forced token
    j sits at column ``widest - len(forced_i) + j``), from one left-padded forward pass over prompt + forced ids."""
    tokens, valid = left_padded([p + f for p, f in pairs], loaded.pad_token_id)  # [batch, width]
    positions = (valid.cumsum(1) - 1).clamp_min(0)  # [batch, width]
    device = next(loaded.model.parameters()).device
    return loaded.model(input_ids=tokens.to(device), attention_mask=valid.to(device),
                        position_ids=positions.to(device), use_cache=False,
                        logits_to_keep=widest + 1).logits[:, :-1]


@torch.inference_mode()
def score_batch(loaded: LoadedModel, requests: Sequence[ScoringRequest]) -> list[TokenScores]:
    """Teacher-forced scores of one batch (one forward pass), in request order."""
    pairs = [sequence_ids(loaded, r) for r in requests]
    for r, (prompt, _) in zip(requests, pairs):
        if not prompt:
            raise EngineError(f"scoring request {r.request.item_id!r} has an empty prompt")
    widest = max(len(forced) for _, forced in pairs)
    if widest == 0:
        return [_scores(r, []) for r in requests]
    logits = forced_logits(loaded, pairs, widest)  # [batch, widest, vocab]
    return [_scores(r, row_positions(logits[i, widest - len(f):], f, r.top_k))
            for i, (r, (_, f)) in enumerate(zip(requests, pairs))]


def row_positions(logits: torch.Tensor, forced: Sequence[int], top_k: int) -> list[PositionScore]:
    """Scores at each forced position of one row from its logits (``logits`` [n, vocab] predicting ``forced`` [n]),
    in float32 with the full distribution (one row at a time keeps the working set small)."""
    if not forced:
        return []
    logp = torch.log_softmax(logits.float(), dim=-1)  # [n, vocab]
    entropy = -torch.linalg.vecdot(logp.exp(), logp)  # [n]
    values, ids = logp.topk(max(1, top_k), dim=-1)  # [n, top_k]
    chosen = logp.gather(-1, torch.tensor(list(forced), device=logp.device)[:, None])[:, 0]  # [n]
    rows = zip(chosen.cpu().tolist(), entropy.cpu().tolist(), values.cpu().tolist(), ids.cpu().tolist())
    return [PositionScore(logprob=c, top1_id=i[0], top1_logprob=v[0], top=tuple(zip(i, v)), entropy=h, exact=True)
            for c, h, v, i in rows]


@torch.inference_mode()
def log_prob_rows(loaded: LoadedModel, requests: Sequence[ScoringRequest]) -> list[torch.Tensor]:
    """The full float32 log-softmax rows at every forced position of each request (one forward pass for the batch):
    ``out[i]`` is [len(token_ids), vocab] on the CPU. For exact distribution distances between two in-process
    models; a batch of 16 completions of 64 tokens over a 49k vocabulary holds ~200 MB."""
    pairs = [sequence_ids(loaded, r) for r in requests]
    widest = max((len(f) for _, f in pairs), default=0)
    if widest == 0:
        return [torch.zeros((0, 0)) for _ in requests]
    logits = forced_logits(loaded, pairs, widest)  # [batch, widest, vocab]
    return [torch.log_softmax(logits[i, widest - len(f):].float(), dim=-1).cpu() for i, (_, f) in enumerate(pairs)]


def _scores(request: ScoringRequest, positions: list[PositionScore]) -> TokenScores:
    return TokenScores(item_id=request.request.item_id, replicate=request.request.replicate,
                       token_ids=tuple(int(t) for t in request.token_ids), positions=tuple(positions))


def score_tokens(loaded: LoadedModel, requests: Sequence[ScoringRequest], *, batch_size: int = 8) -> list[TokenScores]:
    """Teacher-forced scores of every request (batches of ``batch_size``, rows sorted by length within the call so
    a batch pads little), in request order."""
    order = sorted(range(len(requests)), key=lambda i: len(requests[i].token_ids))
    out: list[TokenScores | None] = [None] * len(requests)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        for i, scores in zip(chunk, score_batch(loaded, [requests[i] for i in chunk])):
            out[i] = scores
    return out  # type: ignore[return-value]  # the loop fills every index
