"""Speculative decoding on the static path: strict (lossless) batched speculative decoding over
:class:`~tais.engines.hf.static_llama.StaticLlama`, each draft-and-verify iteration one CUDA graph, with the same
results as :mod:`tais.engines.hf.speculative` under ``strict`` acceptance (tokens, per-token top-k
log-probabilities from the target, EOS / stop strings / max_tokens, telemetry per row).

The draft is a Llama-architecture model sharing the target's tokenizer: another model, the target itself (the
``self`` proposer), or the target's first ``draft_layers`` layers with its final norm and LM head (an early-exit
draft that shares the target's weights). One iteration, for every row at once:

1. the draft catches up on ``[d_k of the previous iteration (a hole unless all k were accepted), t]`` and drafts
   ``d_1 .. d_k`` greedily (k forward passes of one or two tokens);
2. the target verifies ``[t, d_1 .. d_k]`` in one pass; ``a`` = length of the prefix where ``d_j`` equals the
   target's argmax; the row commits the target's argmaxes at positions ``0 .. a`` (``d_1 .. d_a`` and the bonus
   token), and the bonus becomes the new ``t``;
3. rejected columns become holes in both caches (:meth:`StaticLlama.drop`); every row advances by its own ``a + 1``.

Inside the graph, each iteration records the target's argmaxes (k + 1 per row), the accepted count ``a`` and, when
asked, the log-probability and top-k at each of the k + 1 positions. The host replays ``check_every`` iterations,
reads them back, commits them into the rows and stops once every row has stopped.

Worked example (k = 2, one row): the target's argmaxes are (x, y, z) and the draft proposed (x, w): a = 1, the row
commits x y; the column of ``w``'s verification becomes a hole; the next iteration feeds y.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from tais.engines.hf.rows import BufferedRecords, RowState, left_padded, logprob_records, logprob_tensors, trimmed
from tais.engines.hf.static_llama import GraphedLoop, StaticLlama
from tais.types import SpecTelemetry


class StaticSpeculative:
    """Batched strict speculative decoding on fixed-width KV buffers, one CUDA graph per iteration on CUDA."""

    def __init__(self, target: Any, draft: Any, *, batch_size: int, width: int, k: int, top_k: int = 0,
                 draft_layers: int | None = None, check_every: int = 8, capture: bool = True) -> None:
        """``width`` bounds prompt length + (k + 1) x new tokens of any batch decoded (every iteration takes k + 1
        columns of each cache, accepted or not)."""
        d = self.device = target.lm_head.weight.device
        self.k, self.top_k, self.batch_size, self.check_every = k, top_k, batch_size, check_every
        self.target = StaticLlama(target, batch_size=batch_size, width=width)
        self.draft = StaticLlama(draft, batch_size=batch_size, width=width, layers=draft_layers)
        self.width = self.target.width
        b = batch_size
        iterations = self.width // (k + 1) + 1
        self.pending = torch.zeros(b, dtype=torch.long, device=d)
        self.previous = torch.zeros(b, dtype=torch.long, device=d)
        self.all_accepted = torch.zeros(b, dtype=torch.bool, device=d)
        self.target_column = torch.zeros(1, dtype=torch.long, device=d)
        self.draft_column = torch.zeros(1, dtype=torch.long, device=d)
        self.iteration = torch.zeros(1, dtype=torch.long, device=d)
        self.out_argmax = torch.zeros((b, iterations, k + 1), dtype=torch.long, device=d)
        self.out_counts = torch.zeros((b, iterations), dtype=torch.long, device=d)
        self.out_logprob = torch.zeros((b, iterations, k + 1), dtype=torch.float32, device=d)
        self.out_top_logprobs = torch.zeros((b, iterations, k + 1, max(top_k, 1)), dtype=torch.float32, device=d)
        self.out_top_ids = torch.zeros((b, iterations, k + 1, max(top_k, 1)), dtype=torch.long, device=d)
        self.ones1 = torch.ones((b, 1), dtype=torch.bool, device=d)
        self.ones_k1 = torch.ones((b, k + 1), dtype=torch.bool, device=d)
        self.two = torch.arange(2, device=d)
        self.k1 = torch.arange(k + 1, device=d)
        self.loop = GraphedLoop(self._step, device=d, capture=capture)

    def fits(self, n_rows: int, width: int, top_k: int) -> bool:
        """Whether a batch of ``n_rows`` rows needing ``width`` columns and ``top_k`` alternatives can run here
        (rows asking for fewer alternatives than recorded get theirs cut)."""
        return n_rows <= self.batch_size and width <= self.width and top_k <= self.top_k

    def _record(self, logits: torch.Tensor, argmax: torch.Tensor, counts: torch.Tensor) -> None:
        self.out_argmax.index_copy_(1, self.iteration, argmax[:, None])
        self.out_counts.index_copy_(1, self.iteration, counts[:, None])
        if self.top_k > 0:
            chosen_lp, values, ids = logprob_tensors(logits, argmax, self.top_k)
            self.out_logprob.index_copy_(1, self.iteration, chosen_lp[:, None])
            self.out_top_logprobs.index_copy_(1, self.iteration, values[:, None])
            self.out_top_ids.index_copy_(1, self.iteration, ids[:, None])

    def _step(self) -> None:
        k = self.k
        catch_up = torch.stack([self.previous, self.pending], 1)
        valid = torch.stack([self.all_accepted, self.ones1[:, 0]], 1)
        logits = self.draft.forward(catch_up, valid, self.draft_column + self.two)[:, -1]
        self.draft_column += 2
        drafts = [logits.argmax(-1)]
        first_fed = self.draft_column.clone()
        for _ in range(k - 1):
            logits = self.draft.forward(drafts[-1][:, None], self.ones1, self.draft_column)[:, -1]
            self.draft_column += 1
            drafts.append(logits.argmax(-1))
        proposal = torch.stack(drafts, 1)
        columns = self.target_column + self.k1
        logits = self.target.forward(torch.cat([self.pending[:, None], proposal], 1), self.ones_k1, columns)
        argmax = logits.argmax(-1)
        counts = (proposal == argmax[:, :k]).long().cumprod(1).sum(1)
        self.target.drop(columns, self.k1[None, :] > counts[:, None])
        self.target_column += k + 1
        if k > 1:
            fed = first_fed + self.k1[: k - 1]
            self.draft.drop(fed, self.k1[None, 1:k] > counts[:, None])
        self._record(logits, argmax, counts)
        self.pending.copy_(argmax.gather(1, counts[:, None])[:, 0])
        self.previous.copy_(proposal[:, -1])
        self.all_accepted.copy_(counts == k)
        self.iteration += 1

    @torch.inference_mode()
    def decode(self, rows: Sequence[RowState], *, pad_id: int) -> list[SpecTelemetry]:
        """Decode ``rows`` until each has stopped (results committed into the rows); telemetry per row."""
        if not rows:
            return []
        prompts = [r.prompt_ids for r in rows] + [[pad_id]] * (self.batch_size - len(rows))
        tokens, valid = left_padded(prompts, pad_id)
        tokens, valid = tokens.to(self.device), valid.to(self.device)
        max_new = max(r.max_tokens for r in rows)
        if tokens.shape[1] + (self.k + 1) * max_new > self.width:
            raise ValueError(f"{tokens.shape[1]} prompt + {max_new} new tokens (k={self.k}) exceed the decoder's "
                             f"{self.width} columns")
        for net in (self.target, self.draft):
            net.reset()
        logits = self.target.prefill(tokens, valid)
        self.draft.prefill(tokens, valid)
        first = logits.argmax(-1)
        self.target_column.fill_(tokens.shape[1])
        self.draft_column.fill_(tokens.shape[1])
        self.pending.copy_(first)
        self.all_accepted.zero_()
        self.iteration.zero_()
        self._commit_first(rows, logits, first)
        counters: list[list[Any]]
        counters = [[0, 0, 0, [0] * self.k] for _ in rows]  # drafted, accepted, verify steps, by position
        done = 0
        while done < max_new - 1 and not all(r.done for r in rows):
            chunk = min(self.check_every, max_new - 1 - done)
            for _ in range(chunk):
                self.loop.step()
            self._commit(rows, counters, done, done + chunk)
            done += chunk
        return [SpecTelemetry(d, a, v, tuple(p)) for d, a, v, p in counters]

    def _commit_first(self, rows: Sequence[RowState], logits: torch.Tensor, first: torch.Tensor) -> None:
        n = len(rows)
        for row, token, record in zip(rows, first[:n].tolist(), logprob_records(logits[:n], first[:n], self.top_k)):
            row.commit(token, trimmed(record, row.top_k))

    def _commit(self, rows: Sequence[RowState], counters: list[list[Any]], start: int, stop: int) -> None:
        argmax = self.out_argmax[: len(rows), start:stop].tolist()
        counts = self.out_counts[: len(rows), start:stop].tolist()
        records = BufferedRecords(self.out_logprob, self.out_top_logprobs, self.out_top_ids, top_k=self.top_k,
                                  n=len(rows), start=start, stop=stop)
        for i, row in enumerate(rows):
            c = counters[i]
            for it in range(stop - start):
                if row.done:
                    break
                a = counts[i][it]
                c[0], c[1], c[2] = c[0] + self.k, c[1] + a, c[2] + 1
                for j in range(a):
                    c[3][j] += 1
                for j in range(a + 1):
                    if not row.commit(argmax[i][it][j], records.get(row.top_k, i, it, j)):
                        break
