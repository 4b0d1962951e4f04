"""Batched speculative decoding: every row of the batch advances by its own number of tokens at each verify step,
in one batched forward pass of the target, with no fall-back to batch 1.

One verify step, for the active rows (those that have not stopped):

1. the proposer drafts ``d_1 .. d_k`` per row (:mod:`tais.engines.hf.proposers`);
2. the target is fed ``[t, d_1 .. d_k]`` (``t`` = the row's last committed token, not yet in the target's cache)
   and returns logits ``z_0 .. z_k``;
3. the acceptance rule gives each row its accepted count ``a`` (:mod:`tais.engines.speculative.acceptance`);
   the row commits ``d_1 .. d_a`` and then argmax ``z_a``;
4. the ``k - a`` rejected columns of each row become holes in the target's cache
   (:class:`tais.engines.hf.sequence_cache.SequenceCache`); rows that stopped leave the batch.

Worked example, k = 2, strict: row 0 drafts (x, y) and the target's argmaxes are (x, y, z): a = 2, commits x y z.
Row 1 drafts (u, v) and the argmaxes are (w, ., .): a = 0, commits w. Both in the same forward pass.

The log-probabilities reported for a committed token come from the target's logits at that position, exactly as
in greedy decoding. Telemetry per row: drafted (real proposals), accepted, verify steps, accepted by position; each
committed token's origin (:class:`tais.types.TokenOrigin`: at T = 0 a round's "recovered" token is the target's
argmax at the first mismatch, useful forensics for where a divergence began).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tais.engines.hf.loading import LoadedModel
from tais.engines.hf.proposers import Proposer
from tais.engines.hf.rows import RowState, left_padded, logprob_records, trimmed
from tais.engines.hf.sequence_cache import SequenceCache
from tais.engines.speculative.acceptance import accepted_counts
from tais.engines.speculative.config import SpeculativeConfig
from tais.types import TARGET_ORIGIN, SpecTelemetry, round_origins


class _Counters:
    def __init__(self, k: int) -> None:
        self.drafted = 0
        self.accepted = 0
        self.verify_steps = 0
        self.by_position = [0] * k

    def frozen(self) -> SpecTelemetry:
        return SpecTelemetry(self.drafted, self.accepted, self.verify_steps, tuple(self.by_position))


@torch.inference_mode()
def speculative_decode(
    target: LoadedModel, rows: Sequence[RowState], config: SpeculativeConfig, proposer: Proposer
) -> list[SpecTelemetry]:
    """Decode ``rows`` with speculative decoding (results committed into the rows); telemetry per row."""
    k = config.k
    counters = [_Counters(k) for _ in rows]
    if not rows:
        return []
    top_k = max(r.top_k for r in rows)
    tokens, valid = left_padded([r.prompt_ids for r in rows], target.pad_token_id)
    cache = SequenceCache(target.model, len(rows))
    logits = cache.feed(tokens, valid, last=1)[:, -1]
    first = logits.argmax(-1)
    for row, token, record in zip(rows, first.tolist(), logprob_records(logits, first, top_k)):
        row.commit(token, trimmed(record, row.top_k), TARGET_ORIGIN)
    proposer.start(rows)
    active = list(range(len(rows)))
    active = _drop_stopped(rows, active, cache, proposer)
    while active:
        committed = [rows[i].token_ids for i in active]
        drafts, proposed = proposer.propose(committed, k)
        drafts, proposed = drafts.to(cache.device), proposed.to(cache.device)
        pending = torch.tensor([c[-1] for c in committed], dtype=torch.long, device=cache.device)
        logits = cache.feed(torch.cat([pending[:, None], drafts], dim=1))
        counts = accepted_counts(config.acceptance, logits, drafts, proposed,
                                 epsilon=config.typical_epsilon, delta=config.typical_delta)
        cache.drop_last(k - counts)
        argmax = logits.argmax(-1)
        positions = torch.arange(k + 1, device=cache.device)[None, :]
        padded = torch.cat([drafts, argmax[:, -1:]], dim=1)
        chosen = torch.where(positions < counts[:, None], padded, argmax)
        records = logprob_records(logits.reshape(-1, logits.shape[-1]), chosen.reshape(-1), top_k)
        chosen_ids, count_list, proposed_list = chosen.tolist(), counts.tolist(), proposed.tolist()
        for slot, i in enumerate(active):
            c = counters[i]
            c.verify_steps += 1
            c.drafted += proposed_list[slot]
            c.accepted += count_list[slot]
            for j in range(count_list[slot]):
                c.by_position[j] += 1
            origins = round_origins(count_list[slot], proposed_list[slot])
            for j in range(count_list[slot] + 1):
                if not rows[i].commit(chosen_ids[slot][j], trimmed(records[slot * (k + 1) + j], rows[i].top_k),
                                      origins[j]):
                    break
        active = _drop_stopped(rows, active, cache, proposer)
        cache.compact()
    return [c.frozen() for c in counters]


def _drop_stopped(rows: Sequence[RowState], active: list[int], cache: SequenceCache, proposer: Proposer) -> list[int]:
    keep = [slot for slot, i in enumerate(active) if not rows[i].done]
    if len(keep) == len(active):
        return active
    if keep:
        index = torch.tensor(keep, dtype=torch.long)
        cache.select_rows(index)
        proposer.select_rows(index)
    return [active[slot] for slot in keep]
