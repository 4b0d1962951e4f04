"""Per-row decoding state: the tokens a row has committed, their log-probabilities, and when the row stops.

A row stops at the first of:

- an EOS token (``finish_reason`` ``stop``; the EOS token is kept in ``token_ids`` and ``logprobs`` so that the
  step is visible to divergence forensics, and left out of the text);
- a stop string appearing in the decoded text (``stop``; the text is cut before the stop string, the tokens up to
  the one that completed it are kept);
- ``max_tokens`` committed tokens (``length``).

Tokens committed past the stopping point (a speculative step can commit several at once) are discarded.

    >>> row = RowState(request=Request("a", prompt="x"), prompt_ids=[5], eos_ids=frozenset({2}), top_k=0)
    >>> _ = row.commit(7, None), row.commit(2, None)
    >>> row.finish_reason, row.token_ids
    ('stop', [7, 2])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from tais.types import Completion, Request, SpecTelemetry, StepLogprobs, TopLogprob


@dataclass
class LogprobRecord:
    """Log-probability of the committed token and the model's top-k at one step (ids and values, best first)."""

    logprob: float
    top_ids: tuple[int, ...]
    top_logprobs: tuple[float, ...]


@dataclass
class RowState:
    request: Request
    prompt_ids: list[int]
    eos_ids: frozenset[int]
    top_k: int
    token_ids: list[int] = field(default_factory=list)
    records: list[LogprobRecord | None] = field(default_factory=list)
    finish_reason: str | None = None
    text_cut: int | None = None
    tokenizer: Any = None
    seed: int | None = None  # the row seed of a sampling decoder's noise (None: greedy)
    origins: list[int] | None = None  # each committed token's TokenOrigin code (None: the decoder records none)

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    @property
    def max_tokens(self) -> int:
        return self.request.sampling.max_tokens

    def commit(self, token_id: int, record: LogprobRecord | None, origin: int | None = None) -> bool:
        """Append one token (with its :class:`tais.types.TokenOrigin` code where the decoder records origins, from its
        first token on); return False (and append nothing) if the row had already stopped."""
        if self.done:
            return False
        if origin is not None:
            if self.origins is None and not self.token_ids:
                self.origins = []
            if self.origins is None or len(self.origins) != len(self.token_ids):
                raise ValueError("a decoder records token origins from a row's first token on, for every token")
            self.origins.append(origin)
        self.token_ids.append(int(token_id))
        self.records.append(record)
        if token_id in self.eos_ids:
            self.finish_reason = "stop"
        elif self.request.sampling.stop and self._stop_string_found():
            self.finish_reason = "stop"
        elif len(self.token_ids) >= self.max_tokens:
            self.finish_reason = "length"
        return True

    def _stop_string_found(self) -> bool:
        text = self.tokenizer.decode([t for t in self.token_ids if t not in self.eos_ids], skip_special_tokens=True)
        hits = [text.find(s) for s in self.request.sampling.stop if s and s in text]
        if hits:
            self.text_cut = min(hits)
            return True
        return False

    def completion(self, tokenizer: Any, *, wall_s: float, spec: SpecTelemetry | None,
                   token_text: TokenText) -> Completion:
        text = tokenizer.decode([t for t in self.token_ids if t not in self.eos_ids], skip_special_tokens=True)
        if self.text_cut is not None:
            text = text[: self.text_cut]
        logprobs = None
        if self.top_k > 0:
            logprobs = tuple(
                StepLogprobs(
                    token=token_text(t),
                    logprob=r.logprob,
                    token_id=t,
                    top=tuple(TopLogprob(token_text(i), v, i) for i, v in zip(r.top_ids, r.top_logprobs)),
                )
                for t, r in zip(self.token_ids, self.records)
                if r is not None
            )
        return Completion(
            item_id=self.request.item_id,
            replicate=self.request.replicate,
            text=text,
            token_ids=tuple(self.token_ids),
            logprobs=logprobs,
            finish_reason=self.finish_reason or "length",
            prompt_tokens=len(self.prompt_ids),
            output_tokens=len(self.token_ids),
            wall_s=wall_s,
            spec=spec,
            seed=self.seed,
            origins=None if self.origins is None else tuple(self.origins),
        )


class TokenText:
    """Decoded text of single token ids, memoised (the text shown in logprobs)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._memo: dict[int, str] = {}

    def __call__(self, token_id: int) -> str:
        if token_id not in self._memo:
            self._memo[token_id] = self.tokenizer.decode([token_id])
        return self._memo[token_id]


def logprob_tensors(logits: torch.Tensor, chosen: torch.Tensor,
                    top_k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """On the logits' device, for ``logits`` (..., vocab) and ``chosen`` (...): the float32 log-softmax value of the
    chosen token (...), and the top ``top_k`` values and ids (..., top_k), best first. Every decoder reports
    log-probabilities through this one computation, so that they agree wherever the logits do."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    values, ids = logp.topk(top_k, dim=-1)
    return logp.gather(-1, chosen.to(logp.device)[..., None])[..., 0], values, ids


def logprob_records(logits: torch.Tensor, chosen: torch.Tensor, top_k: int) -> list[LogprobRecord | None]:
    """One record per row of ``logits`` (N, vocab): log-softmax value of ``chosen`` (N,) and the top ``top_k``."""
    if top_k <= 0:
        return [None] * logits.shape[0]
    chosen_lp, values, ids = logprob_tensors(logits, chosen, top_k)
    chosen_list, value_list, id_list = chosen_lp.cpu().tolist(), values.cpu().tolist(), ids.cpu().tolist()
    return [LogprobRecord(c, tuple(i), tuple(v)) for c, i, v in zip(chosen_list, id_list, value_list)]


class BufferedRecords:
    """Host copies of a device decoder's per-step buffers (chosen token's log-probability, top-k values and ids;
    leading dimensions (rows, steps, ...)) for rows ``[:n]`` and steps ``[start:stop]``; ``get(k, i, j, ...)`` is
    row ``i``'s record at index ``j, ...``, cut to ``k`` alternatives (None when nothing was recorded)."""

    def __init__(self, logprob: torch.Tensor, top_logprobs: torch.Tensor, top_ids: torch.Tensor, *, top_k: int,
                 n: int, start: int, stop: int) -> None:
        self.top_k = top_k
        if top_k > 0:
            self.logprob = logprob[:n, start:stop].tolist()
            self.top_logprobs = top_logprobs[:n, start:stop].tolist()
            self.top_ids = top_ids[:n, start:stop].tolist()

    def get(self, k: int, i: int, *index: int) -> LogprobRecord | None:
        if self.top_k <= 0:
            return None
        logprob, values, ids = self.logprob[i], self.top_logprobs[i], self.top_ids[i]
        for x in index:
            logprob, values, ids = logprob[x], values[x], ids[x]
        return trimmed(LogprobRecord(logprob, tuple(ids), tuple(values)), k)


def trimmed(record: LogprobRecord | None, k: int) -> LogprobRecord | None:
    """A record cut to a row's own top-k (rows of one batch may ask for fewer alternatives than the batch computed)."""
    if record is None or k <= 0:
        return None
    if len(record.top_ids) == k:
        return record
    return LogprobRecord(record.logprob, record.top_ids[:k], record.top_logprobs[:k])


def left_padded(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (batch, longest) left-padded with ``pad_id``, and the validity mask (1 = real token)."""
    width = max(len(p) for p in prompts)
    tokens = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    valid = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        if p:
            tokens[i, width - len(p):] = torch.tensor(list(p), dtype=torch.long)
            valid[i, width - len(p):] = 1
    return tokens, valid
