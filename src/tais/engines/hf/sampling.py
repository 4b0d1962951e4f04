"""Target-only sampling at temperature > 0: batched like greedy decoding, with per-row counter-based noise.

Each row draws its token at output position ``t`` (0 = the first generated token) from its sampling law
(:mod:`tais.engines.speculative.truncation`: temperature, then top-k, then top-p) with noise keyed by
``(row seed, t)`` (:mod:`tais.engines.speculative.noise`), so its tokens depend on its seed only, not on the other
rows of the batch. Two samplers (``SamplingParams.sampler``):

- ``inverse-cdf``: the token whose cumulative-probability interval (token-id order) holds the uniform ``u(seed, t)``;
- ``gumbel`` (seed-coupled): ``argmax_x (z_x + G(seed, t, x))`` with ``z`` the truncated logits (cut tokens -inf)
  and ``G`` standard Gumbel noise, one per token id (Gumbel-max: an exact draw from the law). A draft under the same
  noise proposes the same token whenever its own perturbed argmax agrees, so speculative decoding with an exact-match
  verifier gives the same tokens as this decoder (:mod:`tais.engines.hf.speculative_sampling`).

A row at temperature 0 takes the argmax in either sampler. The prefill and the cache are greedy decoding's
(:mod:`tais.engines.hf.greedy`); the reported log-probabilities are the target's raw log-softmax (before temperature
and truncation), as greedy decoding reports them and as vLLM does by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from tais.engines.hf.rows import RowState, left_padded, logprob_records, trimmed
from tais.engines.hf.sequence_cache import SequenceCache
from tais.engines.speculative.noise import Stream, gumbel, gumbel_at, row_seed, uniforms
from tais.engines.speculative.planted import PlantedBug
from tais.engines.speculative.truncation import Law, inverse_cdf, truncated_logits


@dataclass(frozen=True)
class RowSampling:
    """The sampling settings of a batch's rows: ``seeds`` [rows] (int64 row seeds), their laws, and the sampler."""

    seeds: torch.Tensor  # [rows]
    law: Law
    sampler: str

    @classmethod
    def of(cls, rows: Sequence[RowState]) -> RowSampling:
        samplers = {r.request.sampling.sampler for r in rows}
        if len(samplers) != 1:
            raise ValueError(f"one batch needs one sampler, got {sorted(samplers)}")
        seeds = [r.seed if r.seed is not None else 0 for r in rows]
        return cls(torch.tensor(seeds, dtype=torch.long), Law.of([r.request.sampling for r in rows]), samplers.pop())

    @property
    def gumbel(self) -> bool:
        return self.sampler == "gumbel"


def assign_seeds(rows: Sequence[RowState]) -> None:
    """Give every row its row seed (:func:`tais.engines.speculative.noise.row_seed`), recorded in its completion."""
    for r in rows:
        r.seed = row_seed(r.request.sampling.seed, r.request.item_id, r.request.replicate)


def choose(logits: torch.Tensor, positions: torch.Tensor, sampling: RowSampling, *, stream: Stream = Stream.SAMPLE,
           bug: PlantedBug | None = None, role: str = "target") -> torch.Tensor:
    """Token ids [rows, n] drawn from ``logits`` [rows, n, vocab] at output ``positions`` [rows, n]."""
    z = truncated_logits(logits, sampling.law, bug=bug, role=role)
    if sampling.gumbel:
        return perturbed(z, positions, sampling).argmax(-1)
    return inverse_cdf(z.softmax(-1), uniforms(sampling.seeds, positions, stream))


def perturbed(truncated: torch.Tensor, positions: torch.Tensor, sampling: RowSampling) -> torch.Tensor:
    """Truncated logits [rows, n, vocab] plus the rows' Gumbel noise at ``positions`` [rows, n] (evaluated on the
    tokens the truncation keeps only, where it cuts any: a cut token stays -inf)."""
    kept = torch.isfinite(truncated)  # [rows, n, vocab]
    if bool(kept.all()):
        return truncated + gumbel(sampling.seeds, positions, truncated.shape[-1]).to(truncated.device)
    at = kept.nonzero()  # [m, 3]: row, column, token id
    noise = gumbel_at(sampling.seeds.to(at.device)[at[:, 0]], positions[at[:, 0], at[:, 1]], at[:, 2])
    out = truncated.clone()
    out[kept] = truncated[kept] + noise.to(truncated.device)
    return out


@torch.inference_mode()
def sample_decode(model, rows: Sequence[RowState], *, pad_id: int) -> None:
    """Decode every row of ``rows`` by sampling until each has stopped (results are committed into the rows)."""
    if not rows:
        return
    assign_seeds(rows)
    sampling = RowSampling.of(rows)
    tokens, valid = left_padded([r.prompt_ids for r in rows], pad_id)
    cache = SequenceCache(model, len(rows))
    logits = cache.feed(tokens, valid, last=1)[:, -1]
    top_k = max(r.top_k for r in rows)
    while True:
        positions = torch.tensor([[len(r.token_ids)] for r in rows], device=logits.device)
        chosen = choose(logits[:, None], positions, sampling)[:, 0]
        records = logprob_records(logits, chosen, top_k)
        ids = chosen.tolist()
        for row, token, record in zip(rows, ids, records):
            row.commit(token, trimmed(record, row.top_k))
        if all(r.done for r in rows):
            return
        feed = torch.tensor([[pad_id if r.done else t] for r, t in zip(rows, ids)], dtype=torch.long)
        logits = cache.feed(feed)[:, -1]


class DraftSampler:
    """The draft model's choice at temperature > 0 (a :class:`~tais.engines.hf.proposers.ModelProposer`'s
    ``picker``): each call draws the next draft position of every active row under the same law as the target
    (``inverse-cdf``: from its own noise stream, keeping the draft laws for the rejection rule; ``gumbel``: the
    perturbed argmax under the target's own noise)."""

    def __init__(self, vocab: int, bug: PlantedBug | None) -> None:
        self.vocab, self.bug = vocab, bug
        self.sampling: RowSampling | None = None
        self.positions: torch.Tensor | None = None
        self.probs: list[torch.Tensor] = []

    def prepare(self, sampling: RowSampling, positions: torch.Tensor) -> None:
        """Start a verify step: the active rows' settings and the position [rows] of their first draft token."""
        self.sampling, self.positions, self.probs = sampling, positions, []

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:  # logits [rows, draft vocab]
        assert self.sampling is not None and self.positions is not None, "prepare() first"
        logits = _to_vocab(logits.float(), self.vocab)
        positions = (self.positions + len(self.probs)).to(logits.device)[:, None]  # [rows, 1]
        z = truncated_logits(logits[:, None], self.sampling.law, bug=self.bug, role="draft")  # [rows, 1, vocab]
        if self.sampling.gumbel:
            self.probs.append(z[:, 0])  # the law is not needed under an exact-match verifier
            return perturbed(z, positions, self.sampling).argmax(-1)[:, 0]
        probs = z.softmax(-1)
        self.probs.append(probs[:, 0])
        return inverse_cdf(probs, uniforms(self.sampling.seeds, positions, Stream.DRAFT))[:, 0]

    def draft_probs(self) -> torch.Tensor:
        """The draft laws of this step, [rows, k, vocab]."""
        return torch.stack(self.probs, dim=1)


def _to_vocab(logits: torch.Tensor, vocab: int) -> torch.Tensor:
    """Draft logits [rows, V'] cut or padded (with -inf) to the target's vocabulary size."""
    if logits.shape[-1] >= vocab:
        return logits[:, :vocab]
    pad = torch.full((logits.shape[0], vocab - logits.shape[-1]), float("-inf"), device=logits.device)
    return torch.cat([logits, pad], dim=-1)
