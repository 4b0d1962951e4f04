"""Batched speculative sampling at temperature > 0: the verify loop of :mod:`tais.engines.hf.speculative`, with the
draft model sampling and an acceptance rule for sampled tokens.

One verify step, for the active rows, each at output position ``t`` (its committed count):

1. the proposer drafts ``d_1 .. d_k`` at positions ``t .. t+k-1``: a model proposer samples them
   (:class:`tais.engines.hf.sampling.DraftSampler`), prompt lookup copies them (its law is one-hot);
2. the target is fed ``[last committed, d_1 .. d_k]`` and returns logits ``z_0 .. z_k`` [rows, k+1, vocab];
3. the acceptance rule gives each row its accepted count ``a`` and one more token at position ``t + a``:

   - ``strict``, sampler ``inverse-cdf``: the lossless rejection rule (:mod:`tais.engines.speculative.rejection`):
     accepted tokens, then a recovered token (from the residual) or a bonus token (from ``q``);
   - ``strict``, sampler ``gumbel``: drafter-invariant speculative decoding (Daliri, Musco and Suresh 2024,
     arXiv 2408.07978, "Coupling without Communication and Drafter-Invariant Speculative Decoding"): the target's
     token at each position is its perturbed argmax under the row's Gumbel noise; drafts are accepted while they
     equal it. The output is token-identical to target-only ``gumbel`` sampling with the same seed;
   - ``typical``: Medusa's typical acceptance on the target's truncated law, then a draw from ``q`` (lossy);

4. the row commits ``d_1 .. d_a`` and that token; rejected columns become holes in the target's cache. Each
   committed token's origin is recorded (:class:`tais.types.TokenOrigin`: the prefill token ``target``, then per
   round accepted at slots 1 .. a and the round's recovered token at slot a + 1, or its bonus token after all
   proposed drafts; ``typical`` and ``gumbel`` name their last token the same way, by whether a draft was rejected).

A ``planted_bug`` in the speculative config replaces the rule by a deliberately wrong one
(:mod:`tais.engines.speculative.planted`). Telemetry and the reported log-probabilities are those of
:mod:`tais.engines.hf.speculative`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tais.engines.hf.loading import LoadedModel
from tais.engines.hf.proposers import ModelProposer, Proposer
from tais.engines.hf.rows import RowState, left_padded, logprob_records, trimmed
from tais.engines.hf.sampling import DraftSampler, RowSampling, assign_seeds, choose, perturbed
from tais.engines.hf.sequence_cache import SequenceCache
from tais.engines.hf.speculative import _Counters, _drop_stopped
from tais.engines.speculative.acceptance import accepted_counts
from tais.engines.speculative.config import SpeculativeConfig
from tais.engines.speculative.noise import Stream, uniforms
from tais.engines.speculative.rejection import rejection_sample, typical_sample
from tais.engines.speculative.truncation import truncated_logits
from tais.types import TARGET_ORIGIN, SpecTelemetry, round_origins


@torch.inference_mode()
def speculative_sample(target: LoadedModel, rows: Sequence[RowState], config: SpeculativeConfig,
                       proposer: Proposer) -> list[SpecTelemetry]:
    """Decode ``rows`` by speculative sampling (results committed into the rows); telemetry per row."""
    k = config.k
    counters = [_Counters(k) for _ in rows]
    if not rows:
        return []
    assign_seeds(rows)
    bug = config.planted_bug
    top_k = max(r.top_k for r in rows)
    tokens, valid = left_padded([r.prompt_ids for r in rows], target.pad_token_id)
    cache = SequenceCache(target.model, len(rows))
    logits = cache.feed(tokens, valid, last=1)[:, -1]
    first = choose(logits[:, None], torch.zeros(len(rows), 1, dtype=torch.long, device=logits.device),
                   RowSampling.of(rows), bug=bug)[:, 0]
    for row, token, record in zip(rows, first.tolist(), logprob_records(logits, first, top_k)):
        row.commit(token, trimmed(record, row.top_k), TARGET_ORIGIN)
    sampler = DraftSampler(logits.shape[-1], bug)
    if isinstance(proposer, ModelProposer):
        proposer.picker = sampler
    proposer.start(rows)
    active = _drop_stopped(rows, list(range(len(rows))), cache, proposer)
    try:
        while active:
            committed = [rows[i].token_ids for i in active]
            sampling = RowSampling.of([rows[i] for i in active])
            start = torch.tensor([len(c) for c in committed], dtype=torch.long)  # [rows]: position of d_1
            sampler.prepare(sampling, start)
            drafts, proposed = proposer.propose(committed, k)
            drafts, proposed = drafts.to(cache.device), proposed.to(cache.device)
            pending = torch.tensor([c[-1] for c in committed], dtype=torch.long, device=cache.device)
            logits = cache.feed(torch.cat([pending[:, None], drafts], dim=1))  # [rows, k+1, vocab]
            positions = start.to(cache.device)[:, None] + torch.arange(k + 1, device=cache.device)  # [rows, k+1]
            counts, last = _verify(config, logits, drafts, proposed, positions, sampling, sampler,
                                   model_draft=isinstance(proposer, ModelProposer))
            cache.drop_last(k - counts)
            chosen = torch.cat([drafts, last[:, None]], dim=1)
            chosen.scatter_(1, counts[:, None], last[:, None])  # [rows, k+1]: d_1 .. d_a, then the token at a
            records = logprob_records(logits.reshape(-1, logits.shape[-1]), chosen.reshape(-1), top_k)
            _commit(rows, active, counters, chosen.tolist(), counts.tolist(), proposed.tolist(), records, k)
            active = _drop_stopped(rows, active, cache, proposer)
            cache.compact()
    finally:
        if isinstance(proposer, ModelProposer):
            proposer.picker = None
    return [c.frozen() for c in counters]


def _verify(config: SpeculativeConfig, logits: torch.Tensor, drafts: torch.Tensor, proposed: torch.Tensor,
            positions: torch.Tensor, sampling: RowSampling, sampler: DraftSampler,
            *, model_draft: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(accepted [rows], token [rows])`` for target ``logits`` [rows, k+1, vocab], ``drafts`` [rows, k],
    ``proposed`` [rows] and output ``positions`` [rows, k+1]."""
    bug = config.planted_bug
    z = truncated_logits(logits, sampling.law, bug=bug, role="target")  # [rows, k+1, vocab]
    sample_u = uniforms(sampling.seeds, positions, Stream.SAMPLE)  # [rows, k+1]
    if config.acceptance == "typical":
        return typical_sample(z, drafts, proposed, sample_u, epsilon=config.typical_epsilon,
                              delta=config.typical_delta)
    if sampling.gumbel:
        g = perturbed(z, positions, sampling)
        counts = accepted_counts("strict", g, drafts, proposed)
        return counts, g.argmax(-1).gather(1, counts[:, None])[:, 0]
    if model_draft:
        p = sampler.draft_probs().to(z.device)  # [rows, k, vocab]
    else:
        p = torch.nn.functional.one_hot(drafts, z.shape[-1]).float()  # prompt lookup: a point mass
    accept_u = uniforms(sampling.seeds, positions[:, :-1], Stream.ACCEPT)  # [rows, k]
    return rejection_sample(z.softmax(-1), p, drafts, proposed, accept_u, sample_u, bug=bug)


def _commit(rows: Sequence[RowState], active: list[int], counters: list[_Counters], chosen: list[list[int]],
            counts: list[int], proposed: list[int], records: list, k: int) -> None:
    for slot, i in enumerate(active):
        c = counters[i]
        c.verify_steps += 1
        c.drafted += proposed[slot]
        c.accepted += counts[slot]
        for j in range(counts[slot]):
            c.by_position[j] += 1
        origins = round_origins(counts[slot], proposed[slot])
        for j in range(counts[slot] + 1):
            if not rows[i].commit(chosen[slot][j], trimmed(records[slot * (k + 1) + j], rows[i].top_k), origins[j]):
                break
