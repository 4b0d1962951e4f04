"""Reference decoding on the static path: batched greedy over :class:`~tais.engines.hf.static_llama.StaticLlama`,
each step one CUDA graph, with the same results as :mod:`tais.engines.hf.greedy` (token ids, per-step top-k
log-probabilities, EOS / stop strings / max_tokens).

One step, captured once and replayed: feed every row its last token into the next column, take the argmax, and
record into device buffers, at the step's index, the chosen token, its log-probability and the top-k
(:func:`tais.engines.hf.rows.logprob_tensors`, as the dynamic decoder). The host replays
``check_every`` steps, then reads those steps back, commits them into the rows (which apply EOS, stop strings and
each row's own ``max_tokens``), and stops once every row has stopped: at most ``check_every - 1`` steps are run past
the last row's end. A row that has stopped keeps decoding its own continuation; rows never see each other's columns,
so this changes nothing for the others.

Worked example (two rows, ``check_every`` 4; row 0 ends with EOS at its 3rd token, row 1 at its 6th)::

    prefill            -> token 1 of both rows is read and committed
    replay steps 2..5  -> read: row 0 commits 2, 3 (EOS; 4, 5 discarded), row 1 commits 2..5
    replay steps 6..9  -> read: row 1 commits 6 (EOS); every row has stopped: done after 9 of max_tokens steps

A decoder is built for a batch size, a column width (prompt + new tokens) and a top-k, and serves any batch that fits
(fewer rows are padded with dummy rows, whose results are dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from tais.engines.hf.rows import BufferedRecords, RowState, left_padded, logprob_tensors
from tais.engines.hf.static_llama import GraphedLoop, StaticLlama


class StaticGreedy:
    """Batched greedy decoding on fixed-width KV buffers, one CUDA graph per step on CUDA (eager elsewhere)."""

    def __init__(self, model: Any, *, batch_size: int, width: int, top_k: int = 0, check_every: int = 16,
                 capture: bool = True) -> None:
        """``width`` bounds prompt length + new tokens of any batch decoded; ``top_k`` alternatives are recorded per
        step (0: none)."""
        self.device = model.lm_head.weight.device
        self.batch_size, self.top_k, self.check_every = batch_size, top_k, check_every
        self.net = StaticLlama(model, batch_size=batch_size, width=width)
        self.width = self.net.width
        d, b, steps = self.device, batch_size, self.net.width
        self.tokens = torch.zeros((b, 1), dtype=torch.long, device=d)
        self.ones = torch.ones((b, 1), dtype=torch.bool, device=d)
        self.column = torch.zeros(1, dtype=torch.long, device=d)
        self.step_index = torch.zeros(1, dtype=torch.long, device=d)
        self.out_ids = torch.zeros((b, steps), dtype=torch.long, device=d)
        self.out_logprob = torch.zeros((b, steps), dtype=torch.float32, device=d)
        self.out_top_logprobs = torch.zeros((b, steps, max(top_k, 1)), dtype=torch.float32, device=d)
        self.out_top_ids = torch.zeros((b, steps, max(top_k, 1)), dtype=torch.long, device=d)
        self.loop = GraphedLoop(self._step, device=d, capture=capture)

    def fits(self, n_rows: int, width: int, top_k: int) -> bool:
        """Whether a batch of ``n_rows`` rows needing ``width`` columns and ``top_k`` alternatives can run here
        (rows asking for fewer alternatives than recorded get theirs cut)."""
        return n_rows <= self.batch_size and width <= self.width and top_k <= self.top_k

    def _record(self, logits: torch.Tensor) -> torch.Tensor:
        chosen = logits.argmax(-1)
        self.out_ids.index_copy_(1, self.step_index, chosen[:, None])
        if self.top_k > 0:
            chosen_lp, values, ids = logprob_tensors(logits, chosen, self.top_k)
            self.out_logprob.index_copy_(1, self.step_index, chosen_lp[:, None])
            self.out_top_logprobs.index_copy_(1, self.step_index, values[:, None])
            self.out_top_ids.index_copy_(1, self.step_index, ids[:, None])
        return chosen

    def _step(self) -> None:
        chosen = self._record(self.net.forward(self.tokens, self.ones, self.column)[:, -1])
        self.tokens.copy_(chosen[:, None])
        self.column += 1
        self.step_index += 1

    @torch.inference_mode()
    def decode(self, rows: Sequence[RowState], *, pad_id: int) -> int:
        """Decode ``rows`` until each has stopped (results committed into the rows); returns the steps run."""
        if not rows:
            return 0
        prompts = [r.prompt_ids for r in rows] + [[pad_id]] * (self.batch_size - len(rows))
        tokens, valid = left_padded(prompts, pad_id)
        max_new = max(r.max_tokens for r in rows)
        if tokens.shape[1] + max_new > self.width:
            raise ValueError(f"{tokens.shape[1]} prompt + {max_new} new tokens exceed the decoder's {self.width}")
        self.net.reset()
        self.step_index.zero_()
        self.tokens.copy_(self._record(self.net.prefill(tokens.to(self.device), valid.to(self.device)))[:, None])
        self.column.fill_(tokens.shape[1])
        self.step_index.fill_(1)
        self._commit(rows, 0, 1)
        done = 1
        while done < max_new and not all(r.done for r in rows):
            chunk = min(self.check_every, max_new - done)
            for _ in range(chunk):
                self.loop.step()
            self._commit(rows, done, done + chunk)
            done += chunk
        return done

    def _commit(self, rows: Sequence[RowState], start: int, stop: int) -> None:
        ids = self.out_ids[: len(rows), start:stop].tolist()
        records = BufferedRecords(self.out_logprob, self.out_top_logprobs, self.out_top_ids, top_k=self.top_k,
                                  n=len(rows), start=start, stop=stop)
        for i, row in enumerate(rows):
            for j, token in enumerate(ids[i]):
                if not row.commit(token, records.get(row.top_k, i, j)):
                    break
