"""The model proposer's cache bookkeeping when a row's committed tokens are all fed already: a sampler that recovers
the rejected draft token itself (typical acceptance at T > 0, planted ``resample_from_target``) commits a prefix of
what the draft fed. The next drafts must be the draft model's own continuation of the committed tokens, for that row
alone (it crashed: nothing to feed) and beside a row with new tokens (it read the logits of a padding column).
A tiny random Llama (:func:`tais.testing.drafts.tiny_llama`) drafting greedily, checked against full forward passes."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from tais.engines.hf.proposers import ModelProposer
from tais.testing.drafts import tiny_llama

PROMPTS = ([1, 5, 9], [2, 7, 4, 11])


def continuation(model, ids: list[int], n: int) -> list[int]:
    """The model's greedy continuation of ``ids``, one full forward pass per token."""
    out = list(ids)
    with torch.no_grad():
        for _ in range(n):
            out.append(int(model(torch.tensor([out])).logits[0, -1].argmax()))
    return out[len(ids):]


def proposer(model, prompts):
    p = ModelProposer(model, None, pad_id=0)
    p.start([SimpleNamespace(prompt_ids=list(x)) for x in prompts])
    return p


def test_a_row_whose_committed_tokens_were_all_fed_drafts_their_continuation():
    model = tiny_llama(seed=3)
    p = proposer(model, PROMPTS[:1])
    drafts, _ = p.propose([[3]], 3)  # the draft fed 3, d1, d2
    d1 = int(drafts[0, 0])
    assert drafts[0].tolist() == continuation(model, [*PROMPTS[0], 3], 3)
    again, _ = p.propose([[3, d1]], 2)  # committed: a prefix of what was fed
    assert again[0].tolist() == continuation(model, [*PROMPTS[0], 3, d1], 2)


def test_beside_a_row_with_new_tokens_each_row_drafts_its_own_continuation():
    model = tiny_llama(seed=4)
    p = proposer(model, PROMPTS)
    drafts, _ = p.propose([[3], [6]], 3)
    d = drafts[0].tolist()
    committed = [[3, d[0], d[1]], [6, 8]]  # row 0: all fed already; row 1: a token the draft did not propose
    again, _ = p.propose(committed, 2)
    for row, (prompt, done) in enumerate(zip(PROMPTS, committed)):
        assert again[row].tolist() == continuation(model, [*prompt, *done], 2), row
