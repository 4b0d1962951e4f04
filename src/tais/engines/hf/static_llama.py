"""Static-cache decoding of a Llama-architecture transformers model, shaped for CUDA graphs.

:class:`StaticLlama` runs the layers of a loaded ``LlamaForCausalLM`` (its own weights, norms, MLPs, rotary
embedding) against preallocated key/value buffers of fixed width, so that every decoding step has the same shapes and
touches the same memory: the condition for capturing it once as a CUDA graph and replaying it (gpt-fast's recipe).
``layers`` can be a prefix of the model's layers: ``StaticLlama(model, ..., layers=2)`` is a shared-weight draft made
of the first two layers, the final norm and the LM head.

Columns, holes and positions work as in :mod:`tais.engines.hf.sequence_cache`: a step writes the same columns for
every row; ``valid`` (batch, width) marks which columns each row attends to; a token's position id is the number of
valid columns of its row before it. A query attends to the valid columns at or before its own, and always to its
own column (so that a hole's query never has an empty softmax).

:class:`GraphedLoop` captures a whole decoding iteration (a greedy step, or a speculative draft-and-verify step with
its bookkeeping) as one CUDA graph; on CPU it just calls the function.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb


class StaticLlama:
    """Fixed-width KV buffers and a forward pass over them for the first ``layers`` layers of a Llama model."""

    def __init__(self, model: Any, *, batch_size: int, width: int, layers: int | None = None) -> None:
        inner = model.model
        cfg = model.config
        self.embed = inner.embed_tokens
        self.layers = list(inner.layers[: layers or cfg.num_hidden_layers])
        self.norm = inner.norm
        self.rotary = inner.rotary_emb
        self.lm_head = model.lm_head
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        weight = self.lm_head.weight
        width = -(-width // 16) * 16  # a multiple of 16 keeps the fused attention kernels eligible
        shape = (len(self.layers), batch_size, self.kv_heads, width, self.head_dim)
        self.keys = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
        self.values = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
        self.valid = torch.zeros((batch_size, width), dtype=torch.bool, device=weight.device)
        self.lengths = torch.zeros(batch_size, dtype=torch.long, device=weight.device)
        self.width = width
        self._columns = torch.arange(width, device=weight.device)

    def reset(self) -> None:
        self.valid.zero_()
        self.lengths.zero_()

    @torch.inference_mode()
    def forward(self, tokens: torch.Tensor, valid: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """Write ``tokens`` (batch, T) into ``columns`` (T,), mark them ``valid`` (batch, T; bool), and return the
        logits (batch, T, vocab). Graph-safe: no host synchronisation."""
        batch, t = tokens.shape
        positions = self.lengths[:, None] + valid.long().cumsum(1) - 1
        positions = positions.clamp_min(0)
        self.valid[:, columns] = valid
        self.lengths += valid.long().sum(1)
        own = self._columns[None, :] == columns[:, None]  # (T, width)
        allowed = (self.valid[:, None, :] & (self._columns[None, :] <= columns[:, None])[None]) | own[None]
        group = self.heads // self.kv_heads
        # queries of the heads sharing one KV head attend as one group of rows: no KV expansion
        allowed = allowed[:, None, None].expand(batch, 1, group, t, self.width).reshape(batch, 1, group * t, -1)
        mask = torch.zeros(allowed.shape, dtype=self.keys.dtype, device=allowed.device)
        mask.masked_fill_(~allowed, float("-inf"))
        h = self.embed(tokens)
        cos, sin = self.rotary(h, positions)
        for i, layer in enumerate(self.layers):
            x = layer.input_layernorm(h)
            attn = layer.self_attn
            q = attn.q_proj(x).view(batch, t, self.heads, self.head_dim).transpose(1, 2)
            k = attn.k_proj(x).view(batch, t, self.kv_heads, self.head_dim).transpose(1, 2)
            v = attn.v_proj(x).view(batch, t, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            self.keys[i].index_copy_(2, columns, k)
            self.values[i].index_copy_(2, columns, v)
            q = q.reshape(batch, self.kv_heads, group * t, self.head_dim)
            o = F.scaled_dot_product_attention(q, self.keys[i], self.values[i], attn_mask=mask)
            o = o.view(batch, self.heads, t, self.head_dim)
            h = h + attn.o_proj(o.transpose(1, 2).reshape(batch, t, -1))
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        return self.lm_head(self.norm(h))

    def prefill(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Feed left-padded prompts into columns 0..P-1; logits of the last position (batch, vocab)."""
        columns = torch.arange(tokens.shape[1], device=tokens.device)
        return self.forward(tokens, valid.bool(), columns)[:, -1]

    def drop(self, columns: torch.Tensor, rejected: torch.Tensor) -> None:
        """Turn ``columns`` (T,) into holes where ``rejected`` (batch, T; bool) is set. Graph-safe."""
        kept = self.valid[:, columns] & ~rejected
        self.lengths -= (self.valid[:, columns] & rejected).long().sum(1)
        self.valid[:, columns] = kept


class GraphedLoop:
    """``step()`` replays one captured CUDA graph of ``fn`` (which must read and write only static tensors); on a
    CPU, with ``capture=False``, or when capture fails (``capture_error`` then says why), it calls ``fn``
    directly."""

    def __init__(self, fn: Callable[[], None], *, device: torch.device, capture: bool = True,
                 warmup: Callable[[], None] | None = None) -> None:
        self.fn = fn
        self.graph = None
        self.capture_error: str | None = None
        if capture and device.type == "cuda":
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(2):
                    fn()
                    if warmup is not None:
                        warmup()
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(graph):
                    fn()
            except RuntimeError as exc:  # a step that cannot be captured still runs, eagerly
                self.capture_error = str(exc).splitlines()[0]
            else:
                self.graph = graph
            if warmup is not None:
                warmup()

    def step(self) -> None:
        if self.graph is not None:
            self.graph.replay()
        else:
            self.fn()
