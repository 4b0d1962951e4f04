"""Static-cache decoding of a Llama-architecture transformers model, shaped for CUDA graphs.

:class:`StaticLlama` runs the layers of a loaded ``LlamaForCausalLM`` (its own weights, norms, activation, rotary
embedding) against preallocated key/value buffers of fixed width, so that every decoding step has the same shapes and
touches the same memory: the condition for capturing it once as a CUDA graph and replaying it (gpt-fast's recipe).
``layers`` can be a prefix of the model's layers: ``StaticLlama(model, ..., layers=2)`` is a shared-weight draft made
of the first two layers, the final norm and the LM head.

Fewer kernels per layer (at batch 1 a decoding step is a chain of small kernels, and their number, not the bytes of
weights read, sets its time): the query, key and value projections run as one matrix product, and so do the MLP's
gate and up projections (:func:`fused_weights` concatenates each group once and re-points the model's own
parameters at slices of the result, so no weight is stored twice); RMSNorm is ``torch.nn.functional.rms_norm``;
the rotary embedding rotates queries and keys together, as ``x * cos + roll(x, d/2) * sin'`` with ``sin'`` the sine
with its first half negated (``roll(x, d/2) * sin'`` is transformers' ``rotate_half(x) * sin``); the residual
additions after the attention output and MLP down projections ride in the matrix product (``addmm``). A layer is
about 15 kernels instead of about 40. In float32 the results equal transformers' layer by layer up to rounding
order (the tests compare tokens with ``generate``).

Columns, holes and positions work as in :mod:`tais.engines.hf.sequence_cache`: a step writes the same columns for
every row; ``valid`` (batch, width) marks which columns each row attends to; a token's position id is the number of
valid columns of its row before it. A query attends to the valid columns at or before its own, and always to its
own column (so that a hole's query never has an empty softmax).

:class:`GraphedLoop` captures a whole decoding iteration (a greedy step, or a speculative draft-and-verify step with
its bookkeeping) as one CUDA graph; on CPU it just calls the function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

LLAMA_MODEL_TYPES = frozenset({"llama"})


@dataclass
class FusedLayer:
    """One decoder layer's weights, grouped for fewer kernels: ``qkv`` (q, k, v rows stacked), ``gate_up`` (gate
    rows then up rows); ``None`` biases where the model has none."""

    input_norm: torch.Tensor
    post_norm: torch.Tensor
    eps: float
    qkv: torch.Tensor
    qkv_bias: torch.Tensor | None
    o: torch.Tensor
    o_bias: torch.Tensor | None
    gate_up: torch.Tensor
    gate_up_bias: torch.Tensor | None
    down: torch.Tensor
    down_bias: torch.Tensor | None
    act: Callable[[torch.Tensor], torch.Tensor]


def _stacked(linears: list[Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Concatenate the weights (and biases) of ``linears`` along the output dimension and re-point each module's
    parameter at its slice of the result, so that the model and the fused tensor share storage."""
    weight = torch.cat([m.weight for m in linears], 0)
    biases = [m.bias for m in linears]
    bias = None if any(b is None for b in biases) else torch.cat(biases, 0)
    start = 0
    for m in linears:
        rows = m.weight.shape[0]
        m.weight.data = weight[start:start + rows]
        if bias is not None:
            m.bias.data = bias[start:start + rows]
        start += rows
    return weight, bias


@torch.no_grad()
def fused_weights(layer: Any) -> FusedLayer:
    """The :class:`FusedLayer` of a transformers ``LlamaDecoderLayer``, built once and kept on the layer."""
    cached = getattr(layer, "_tais_fused", None)
    attn, mlp = layer.self_attn, layer.mlp
    if cached is not None and cached.qkv.data_ptr() == attn.q_proj.weight.data_ptr():
        return cached
    qkv, qkv_bias = _stacked([attn.q_proj, attn.k_proj, attn.v_proj])
    gate_up, gate_up_bias = _stacked([mlp.gate_proj, mlp.up_proj])
    act = F.silu if isinstance(mlp.act_fn, torch.nn.SiLU) else mlp.act_fn
    fused = FusedLayer(
        input_norm=layer.input_layernorm.weight, post_norm=layer.post_attention_layernorm.weight,
        eps=float(layer.input_layernorm.variance_epsilon), qkv=qkv, qkv_bias=qkv_bias, o=attn.o_proj.weight,
        o_bias=attn.o_proj.bias, gate_up=gate_up, gate_up_bias=gate_up_bias, down=mlp.down_proj.weight,
        down_bias=mlp.down_proj.bias, act=act,
    )
    layer.__dict__["_tais_fused"] = fused
    return fused


def _residual_linear(h: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``h + x @ weight.T (+ bias)`` for 2-D ``h`` and ``x``, the addition fused into the product when bias-free."""
    if bias is None:
        return torch.addmm(h, x, weight.t())
    return h + F.linear(x, weight, bias)


class StaticLlama:
    """Fixed-width KV buffers and a forward pass over them for the first ``layers`` layers of a Llama model."""

    def __init__(self, model: Any, *, batch_size: int, width: int, layers: int | None = None) -> None:
        inner = model.model
        cfg = model.config
        self.embed = inner.embed_tokens
        self.layers = [fused_weights(layer) for layer in inner.layers[: layers or cfg.num_hidden_layers]]
        self.norm_weight = inner.norm.weight
        self.norm_eps = float(inner.norm.variance_epsilon)
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
    def forward(self, tokens: torch.Tensor, valid: torch.Tensor, columns: torch.Tensor, *,
                last_only: bool = False) -> torch.Tensor:
        """Write ``tokens`` (batch, T) into ``columns`` (T,), mark them ``valid`` (batch, T; bool), and return the
        logits (batch, T, vocab), or (batch, 1, vocab) of the last position with ``last_only``. Graph-safe: no host
        synchronisation."""
        batch, t = tokens.shape
        heads, kv_heads, d = self.heads, self.kv_heads, self.head_dim
        positions = self.lengths[:, None] + valid.long().cumsum(1) - 1
        positions = positions.clamp_min(0)
        self.valid[:, columns] = valid
        self.lengths += valid.long().sum(1)
        own = self._columns[None, :] == columns[:, None]  # (T, width)
        allowed = (self.valid[:, None, :] & (self._columns[None, :] <= columns[:, None])[None]) | own[None]
        group = heads // kv_heads
        # queries of the heads sharing one KV head attend as one group of rows: no KV expansion
        allowed = allowed[:, None, None].expand(batch, 1, group, t, self.width).reshape(batch, 1, group * t, -1)
        mask = torch.zeros(allowed.shape, dtype=self.keys.dtype, device=allowed.device)
        mask.masked_fill_(~allowed, float("-inf"))
        h = self.embed(tokens)
        cos, sin = self.rotary(h, positions)
        cos = cos[:, :, None, :]
        half = d // 2
        sin = torch.cat([-sin[..., :half], sin[..., half:]], -1)[:, :, None, :]
        h = h.reshape(batch * t, -1)
        for i, layer in enumerate(self.layers):
            x = F.rms_norm(h, h.shape[-1:], layer.input_norm, layer.eps)
            qkv = F.linear(x, layer.qkv, layer.qkv_bias).view(batch, t, heads + 2 * kv_heads, d)
            qk = qkv[:, :, : heads + kv_heads]
            qk = torch.addcmul(qk * cos, torch.roll(qk, half, -1), sin)
            q, k, v = qk[:, :, :heads], qk[:, :, heads:], qkv[:, :, heads + kv_heads:]
            self.keys[i].index_copy_(2, columns, k.transpose(1, 2))
            self.values[i].index_copy_(2, columns, v.transpose(1, 2))
            q = q.transpose(1, 2).reshape(batch, kv_heads, group * t, d)
            o = F.scaled_dot_product_attention(q, self.keys[i], self.values[i], attn_mask=mask)
            o = o.reshape(batch, heads, t, d).transpose(1, 2).reshape(batch * t, heads * d)
            h = _residual_linear(h, o, layer.o, layer.o_bias)
            x = F.rms_norm(h, h.shape[-1:], layer.post_norm, layer.eps)
            gate, up = F.linear(x, layer.gate_up, layer.gate_up_bias).chunk(2, -1)
            h = _residual_linear(h, layer.act(gate) * up, layer.down, layer.down_bias)
        h = h.view(batch, t, -1)
        if last_only:
            h = h[:, -1:]
        return self.lm_head(F.rms_norm(h, h.shape[-1:], self.norm_weight, self.norm_eps))

    def prefill(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Feed left-padded prompts into columns 0..P-1; logits of the last position (batch, vocab)."""
        columns = torch.arange(tokens.shape[1], device=tokens.device)
        return self.forward(tokens, valid.bool(), columns, last_only=True)[:, -1]

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
