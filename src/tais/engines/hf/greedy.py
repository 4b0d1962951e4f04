"""Reference decoding: batched greedy with a KV cache and left padding.

One prefill pass over the left-padded prompts, then one forward pass per step that feeds every row its last token;
each row takes the argmax of its logits (ties go to the lowest token id, as ``torch.argmax``). Rows that have
stopped keep being fed a pad token until every row has stopped, so each step runs the same shapes as transformers'
``generate(do_sample=False)`` and the two agree token for token in float32.

Worked example (two prompts of lengths 2 and 3, pad ``p``)::

    prefill   [p a b]   [c d e]      -> argmax x, y
    step 1    [x]       [y]          -> ...
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tais.engines.hf.rows import RowState, left_padded, logprob_records, trimmed
from tais.engines.hf.sequence_cache import SequenceCache


@torch.inference_mode()
def greedy_decode(model, rows: Sequence[RowState], *, pad_id: int) -> None:
    """Decode every row of ``rows`` greedily until each has stopped (results are committed into the rows)."""
    if not rows:
        return
    tokens, valid = left_padded([r.prompt_ids for r in rows], pad_id)
    cache = SequenceCache(model, len(rows))
    logits = cache.feed(tokens, valid, last=1)[:, -1]
    top_k = max(r.top_k for r in rows)
    while True:
        chosen = logits.argmax(-1)
        records = logprob_records(logits, chosen, top_k)
        ids = chosen.tolist()
        for row, token, record in zip(rows, ids, records):
            row.commit(token, trimmed(record, row.top_k))
        if all(r.done for r in rows):
            return
        feed = torch.tensor([[pad_id if r.done else t] for r, t in zip(rows, ids)], dtype=torch.long)
        logits = cache.feed(feed)[:, -1]
