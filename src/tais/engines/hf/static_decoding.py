"""Greedy and speculative decoding on :class:`~tais.engines.hf.static_llama.StaticLlama`, each iteration one
CUDA graph: the fast path for Llama-architecture models on CUDA (used by ``benchmarks/hf_gpu.py``).

Both loops keep all state on the device (next token, columns, output buffer, counters) and update it inside the
captured graph, so the host only replays graphs and reads the result at the end; decoding runs for a fixed number
of new tokens (no EOS stop), which is what a throughput benchmark needs.

Speculative iteration (strict acceptance, draft = another :class:`StaticLlama`, e.g. the target's first layers):

1. the draft catches up on ``[d_k of the previous step (a hole unless all k were accepted), t]`` and drafts
   ``d_1 .. d_k`` greedily (k forward passes of one or two tokens);
2. the target verifies ``[t, d_1 .. d_k]`` in one pass; ``a`` = length of the prefix where ``d_j`` equals the
   target's argmax; the row commits ``d_1 .. d_a`` and the argmax after ``d_a`` (the new ``t``);
3. rejected columns become holes in both caches; every row advances by its own ``a + 1`` tokens.
"""

from __future__ import annotations

from typing import Any

import torch

from tais.engines.hf.static_llama import GraphedLoop, StaticLlama


class StaticGreedy:
    """Batched greedy decoding of ``max_new`` tokens per row."""

    def __init__(self, model: Any, *, batch_size: int, prompt_len: int, max_new: int, capture: bool = True,
                 compile: bool = False) -> None:
        """``compile=True`` runs the step through ``torch.compile`` (kernel fusion) before capturing it."""
        self.device = model.lm_head.weight.device
        self.max_new = max_new
        self.prompt_len = prompt_len
        self.net = StaticLlama(model, batch_size=batch_size, width=prompt_len + max_new + 1)
        d = self.device
        self.tokens = torch.zeros((batch_size, 1), dtype=torch.long, device=d)
        self.ones = torch.ones((batch_size, 1), dtype=torch.bool, device=d)
        self.column = torch.zeros(1, dtype=torch.long, device=d)
        self.step_index = torch.zeros(1, dtype=torch.long, device=d)
        self.out = torch.zeros((batch_size, max_new + 1), dtype=torch.long, device=d)
        self._forward = torch.compile(self.net.forward, dynamic=False) if compile else self.net.forward
        self.loop = GraphedLoop(self._step, device=d, capture=capture)

    def _step(self) -> None:
        nxt = self._forward(self.tokens, self.ones, self.column)[:, -1].argmax(-1)
        self.tokens.copy_(nxt[:, None])
        self.out.index_copy_(1, self.step_index, nxt[:, None])
        self.column += 1
        self.step_index += 1

    @torch.inference_mode()
    def generate(self, prompts: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``max_new`` greedy tokens (batch, max_new) for left-padded ``prompts`` of width ``prompt_len``."""
        self.net.reset()
        first = self.net.prefill(prompts.to(self.device), valid.to(self.device)).argmax(-1)
        self.tokens.copy_(first[:, None])
        self.out[:, 0] = first
        self.column.fill_(prompts.shape[1])
        self.step_index.fill_(1)
        for _ in range(self.max_new - 1):
            self.loop.step()
        return self.out[:, : self.max_new].clone()


class StaticSpeculative:
    """Batched speculative decoding (strict acceptance) of at least ``max_new`` tokens per row."""

    def __init__(self, target: Any, draft_layers: int, *, batch_size: int, prompt_len: int, max_new: int, k: int,
                 capture: bool = True, check_every: int = 8) -> None:
        d = self.device = target.lm_head.weight.device
        self.k, self.max_new, self.check_every = k, max_new, check_every
        steps = max_new + check_every + 1
        width = prompt_len + (k + 1) * steps + 2
        self.target = StaticLlama(target, batch_size=batch_size, width=width)
        self.draft = StaticLlama(target, batch_size=batch_size, width=width + steps, layers=draft_layers)
        b = batch_size
        self.pending = torch.zeros(b, dtype=torch.long, device=d)
        self.previous = torch.zeros(b, dtype=torch.long, device=d)
        self.all_accepted = torch.zeros(b, dtype=torch.bool, device=d)
        self.target_column = torch.zeros(1, dtype=torch.long, device=d)
        self.draft_column = torch.zeros(1, dtype=torch.long, device=d)
        self.out = torch.zeros((b, max_new + (k + 1) * (check_every + 1) + 2), dtype=torch.long, device=d)
        self.trash = self.out.shape[1] - 1
        self.n_out = torch.zeros(b, dtype=torch.long, device=d)
        self.accepted = torch.zeros(b, dtype=torch.long, device=d)
        self.steps = torch.zeros(1, dtype=torch.long, device=d)
        self.ones1 = torch.ones((b, 1), dtype=torch.bool, device=d)
        self.ones_k1 = torch.ones((b, k + 1), dtype=torch.bool, device=d)
        self.two = torch.arange(2, device=d)
        self.k1 = torch.arange(k + 1, device=d)
        self.loop = GraphedLoop(self._step, device=d, capture=capture)

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
        argmax = self.target.forward(torch.cat([self.pending[:, None], proposal], 1), self.ones_k1, columns).argmax(-1)
        counts = (proposal == argmax[:, :k]).long().cumprod(1).sum(1)
        self.target.drop(columns, self.k1[None, :] > counts[:, None])
        self.target_column += k + 1
        if k > 1:
            fed = first_fed + torch.arange(k - 1, device=self.device)
            self.draft.drop(fed, torch.arange(1, k, device=self.device)[None, :] > counts[:, None])
        chosen = torch.where(self.k1[None, :] < counts[:, None], torch.cat([proposal, argmax[:, -1:]], 1), argmax)
        index = self.n_out[:, None] + self.k1[None, :]
        index = torch.where(self.k1[None, :] <= counts[:, None], index.clamp_max(self.trash), self.trash)
        self.out.scatter_(1, index, chosen)
        self.n_out += counts + 1
        self.pending.copy_(argmax.gather(1, counts[:, None])[:, 0])
        self.previous.copy_(proposal[:, -1])
        self.all_accepted.copy_(counts == k)
        self.accepted += counts
        self.steps += 1

    @torch.inference_mode()
    def generate(self, prompts: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """``max_new`` tokens per row (batch, max_new) and telemetry (acceptance, verify steps per row)."""
        prompts, valid = prompts.to(self.device), valid.to(self.device)
        for net in (self.target, self.draft):
            net.reset()
        first = self.target.prefill(prompts, valid).argmax(-1)
        self.draft.prefill(prompts, valid)
        width = prompts.shape[1]
        self.target_column.fill_(width)
        self.draft_column.fill_(width)
        self.pending.copy_(first)
        self.out.zero_()
        self.out[:, 0] = first
        self.n_out.fill_(1)
        self.all_accepted.zero_()
        self.accepted.zero_()
        self.steps.zero_()
        while True:
            for _ in range(self.check_every):
                self.loop.step()
            if int(self.n_out.min()) >= self.max_new:
                break
        steps = int(self.steps)
        telemetry = {
            "verify_steps": steps,
            "acceptance": float(self.accepted.sum()) / (self.k * steps * self.out.shape[0]),
            "tokens_per_step": (float(self.accepted.sum()) + steps * self.out.shape[0]) / (steps * self.out.shape[0]),
        }
        return self.out[:, : self.max_new].clone(), telemetry
