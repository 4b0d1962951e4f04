"""A batch of token sequences held in one model's KV cache, where each row may hold a different number of valid
tokens.

Terms:

- **column**: one slot along the cache's sequence axis; every forward pass appends the same number of columns to
  every row.
- **valid**: a column whose key/value the row attends to. Left padding, and draft tokens the target rejected, are
  *holes*: columns that stay in the cache with mask 0 and are never attended to again.
- **length** of a row: its number of valid columns. A token fed to the model gets position id = the row's length
  before it, so RoPE positions stay contiguous across holes.

This is how rows that accept different numbers of draft tokens share one batched cache without re-padding or
falling back to batch 1: the verify pass appends k+1 columns to every row, then :meth:`SequenceCache.drop_last`
turns each row's rejected tail into holes. Worked example (k = 2, two rows, ``1`` = valid)::

    after prefill         row 0: 0 1 1 1        row 1: 1 1 1 1          lengths (3, 4)
    verify [t, d1, d2]    row 0: 0 1 1 1 1 1 1  row 1: 1 1 1 1 1 1 1   lengths (6, 7)
    row 0 accepts 2,      drop_last((0, 2))
    row 1 accepts 0       row 0: 0 1 1 1 1 1 1  row 1: 1 1 1 1 1 0 0   lengths (6, 5)

Holes accumulate; :meth:`compact` moves each row's valid columns to the right end of a narrower cache when more
than half of the columns are holes.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from transformers import DynamicCache


class SequenceCache:
    """One model's KV cache for ``batch_size`` rows plus the column mask and per-row lengths."""

    def __init__(self, model: Any, batch_size: int) -> None:
        self.model = model
        self.device = next(model.parameters()).device if _has_parameters(model) else torch.device("cpu")
        self.cache = DynamicCache(config=getattr(model, "config", None))
        self.mask = torch.zeros((batch_size, 0), dtype=torch.long, device=self.device)
        self.lengths = torch.zeros(batch_size, dtype=torch.long, device=self.device)

    @property
    def columns(self) -> int:
        return int(self.mask.shape[1])

    @torch.inference_mode()
    def feed(self, tokens: torch.Tensor, valid: torch.Tensor | None = None, *, last: int = 0) -> torch.Tensor:
        """Append ``tokens`` (batch, T) to the cache and return the logits (batch, T, vocab), or only those of the
        ``last`` positions when ``last`` > 0 (a prefill needs only the final position's).

        ``valid`` (batch, T; 1 = real token, 0 = hole) defaults to all ones. The logits at a hole are meaningless."""
        tokens = tokens.to(self.device)
        if valid is None:
            valid = torch.ones_like(tokens, dtype=torch.long)
        valid = valid.to(self.device, dtype=torch.long)
        positions = (self.lengths[:, None] + valid.cumsum(1) - 1).clamp_min(0)
        mask = torch.cat([self.mask, valid], dim=1)
        out = self.model(
            input_ids=tokens,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=self.cache,
            use_cache=True,
            logits_to_keep=last,
        )
        self.mask = mask
        self.lengths = self.lengths + valid.sum(1)
        return out.logits

    def drop_last(self, counts: torch.Tensor) -> None:
        """Turn the last ``counts[i]`` valid columns of each row i into holes."""
        counts = counts.to(self.device, dtype=torch.long)
        if not bool((counts > 0).any()):
            return
        from_end = self.mask.flip(1).cumsum(1).flip(1)  # valid columns at or after each column
        drop = (self.mask == 1) & (from_end <= counts[:, None])
        self.mask = self.mask.masked_fill(drop, 0)
        self.lengths = self.lengths - counts

    def select_rows(self, rows: torch.Tensor) -> None:
        """Keep only ``rows`` (indices into the current batch), in that order."""
        rows = rows.to(self.device)
        self.cache.batch_select_indices(rows)
        self.mask = self.mask[rows]
        self.lengths = self.lengths[rows]

    def compact(self, *, max_hole_fraction: float = 0.5) -> None:
        """Drop holes when more than ``max_hole_fraction`` of the cache is holes: each row's valid columns are moved,
        in order, to the right end of a cache whose width is the longest row's length."""
        if self.columns == 0:
            return
        holes = 1.0 - float(self.mask.sum()) / self.mask.numel()
        if holes <= max_hole_fraction:
            return
        width = int(self.lengths.max())
        order = torch.argsort(self.mask, dim=1, stable=True)[:, -width:]  # valid columns last, in original order
        new_mask = torch.gather(self.mask, 1, order)
        for layer in self.cache.layers:
            # transformers types a layer as a union with linear-attention layers (no keys, values): this cache holds
            # only attention layers
            layer = cast(Any, layer)
            index = order[:, None, :, None].expand(-1, layer.keys.shape[1], -1, layer.keys.shape[3])
            layer.keys = torch.gather(layer.keys, 2, index)
            layer.values = torch.gather(layer.values, 2, index)
        self.mask = new_mask


def _has_parameters(model: Any) -> bool:
    return any(True for _ in model.parameters())
