"""GPU benchmark: the hf engine's static-cache, CUDA-graph decoding vs transformers ``generate``, side by side in one
run, on a random-initialised ~1.1B Llama-architecture target in bfloat16.

Target: hidden 2048, 22 layers, 32 heads, 4 KV heads, intermediate 5632, vocab 32000 (TinyLlama's shape), random
weights (seed 0). Layers after the first ``--draft-layers`` have their output projections (attention ``o_proj`` and
MLP ``down_proj``) scaled by ``--late-scale``, so the first layers decide the argmax; the draft is those first layers
plus the final norm and LM head, sharing the target's weights. Acceptance is measured and reported.

Measured (each: 64-token random prompts, ``--new`` new tokens, no EOS):

- transformers ``generate`` greedy at batch 1 and at batch ``--batch``;
- transformers ``generate(assistant_model=<draft as a LlamaForCausalLM sharing the weights>)`` at batch 1;
- this engine's reference decoder, :class:`~tais.engines.hf.static_greedy.StaticGreedy` (what the ``hf`` engine
  runs for a target-only Llama arm on CUDA: rows, EOS checks every 16 steps, results committed per token), at
  batch 1 and ``--batch`` without log-probabilities, and at batch 1 with the top-5 recorded at every step;
- this engine's speculative decoder on the same path,
  :class:`~tais.engines.hf.static_speculative.StaticSpeculative` (strict, ``--k``; what the engine runs for a
  ``self`` / ``draft`` arm on CUDA, here with the early-exit draft), at batch 1 and ``--batch``.

Before timing, a float32 agreement check on a small random Llama (hidden 512, 4 layers): the static greedy and
speculative decoders (CUDA graphs on CUDA; a 2-layer early-exit draft, k = 3) against the engine's dynamic decoder
(transformers forward pass), 8 left-padded prompts of different lengths, top-5 log-probabilities, and an EOS token
chosen so that rows end at different steps: token ids and finish reasons must be equal row for row,
log-probabilities within 1e-3.

Roofline at batch 1: tokens/s x bytes of weights read per step / ``--hbm-tb-s`` (4.3 TB/s for an H200 here).

    python benchmarks/hf_gpu.py --out results.json          # on the H200
    python benchmarks/hf_gpu.py --tiny                       # a small CPU smoke run of the same code

Prints one line per system and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from tais.engines.hf.rows import RowState
from tais.engines.hf.static_greedy import StaticGreedy
from tais.engines.hf.static_speculative import StaticSpeculative
from tais.types import Request, SamplingParams


def build(args, device):
    torch.manual_seed(0)
    if args.tiny:
        cfg = LlamaConfig(hidden_size=128, intermediate_size=352, num_hidden_layers=6, num_attention_heads=4,
                          num_key_value_heads=2, vocab_size=1000, max_position_embeddings=4096)
    else:
        cfg = LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                          num_key_value_heads=4, vocab_size=32000, max_position_embeddings=4096)
    cfg.eos_token_id = None
    cfg.pad_token_id = 0
    dtype = torch.float32 if args.tiny else torch.bfloat16
    with torch.device(device):
        target = LlamaForCausalLM(cfg).to(dtype).eval()
    with torch.no_grad():
        for layer in target.model.layers[args.draft_layers:]:
            layer.self_attn.o_proj.weight.mul_(args.late_scale)
            layer.mlp.down_proj.weight.mul_(args.late_scale)
    dcfg = LlamaConfig(**{**cfg.to_dict(), "num_hidden_layers": args.draft_layers})
    with torch.device("meta"):
        draft = LlamaForCausalLM(dcfg)
    draft.model.embed_tokens = target.model.embed_tokens
    draft.model.layers = torch.nn.ModuleList(target.model.layers[: args.draft_layers])
    draft.model.norm = target.model.norm
    draft.model.rotary_emb = target.model.rotary_emb
    draft.lm_head = target.lm_head
    draft.eval()
    for m in (target, draft):
        m.generation_config.eos_token_id = None
        m.generation_config.pad_token_id = 0
    return target, draft


def first_differences(a: torch.Tensor, b: torch.Tensor) -> list[int]:
    """Per row, the index of the first token where ``a`` and ``b`` differ (their length when equal)."""
    differ = (a.cpu() != b.cpu()).long()
    return torch.where(differ.any(1), differ.argmax(1), torch.full((a.shape[0],), a.shape[1])).tolist()


def greedy_rows(prompts: torch.Tensor, new: int, top_k: int) -> list[RowState]:
    """One engine row per prompt, ``new`` tokens each (no EOS: every row decodes all of them)."""
    return [RowState(request=Request(f"b/{i}", SamplingParams(max_tokens=new, logprobs=top_k), prompt="-"),
                     prompt_ids=p, eos_ids=frozenset(), top_k=top_k) for i, p in enumerate(prompts.tolist())]


def run_greedy(decoder: StaticGreedy, prompts: torch.Tensor, new: int, top_k: int) -> torch.Tensor:
    rows = greedy_rows(prompts, new, top_k)
    decoder.decode(rows, pad_id=0)
    return torch.tensor([r.token_ids for r in rows])


def run_speculative(decoder: StaticSpeculative, prompts: torch.Tensor, new: int) -> tuple[torch.Tensor, dict]:
    """Tokens (batch, new) and the batch's acceptance and tokens per verify step."""
    rows = greedy_rows(prompts, new, 0)
    telemetry = decoder.decode(rows, pad_id=0)
    drafted, accepted = sum(t.drafted for t in telemetry), sum(t.accepted for t in telemetry)
    steps = sum(t.verify_steps for t in telemetry)
    return torch.tensor([r.token_ids for r in rows]), {"acceptance": accepted / drafted,
                                                       "tokens_per_step": (accepted + steps) / steps}


def check_static_against_dynamic(device) -> dict:
    """The float32 agreement check described in the module docstring."""
    from tais.engines.hf.greedy import greedy_decode

    torch.manual_seed(2)
    cfg = LlamaConfig(hidden_size=512, intermediate_size=1376, num_hidden_layers=4, num_attention_heads=8,
                      num_key_value_heads=2, vocab_size=32000, max_position_embeddings=4096)
    with torch.device(device):
        model = LlamaForCausalLM(cfg).float().eval()
    gen = torch.Generator().manual_seed(3)
    prompts = [torch.randint(3, cfg.vocab_size, (n,), generator=gen).tolist() for n in (5, 40, 17, 33, 8, 26, 12, 40)]

    def rows(eos: frozenset[int]) -> list[RowState]:
        return [RowState(request=Request(f"c/{i}", SamplingParams(max_tokens=96, logprobs=5), prompt="-"),
                         prompt_ids=p, eos_ids=eos, top_k=5) for i, p in enumerate(prompts)]

    probe = rows(frozenset())
    greedy_decode(model, probe, pad_id=0)
    eos = frozenset({probe[0].token_ids[20], probe[3].token_ids[50], probe[5].token_ids[9]})  # rows end apart
    dynamic, static = rows(eos), rows(eos)
    greedy_decode(model, dynamic, pad_id=0)
    decoder = StaticGreedy(model, batch_size=len(prompts), width=40 + 96, top_k=5)
    decoder.decode(static, pad_id=0)
    speculative = rows(eos)
    StaticSpeculative(model, model, draft_layers=2, batch_size=len(prompts), width=40 + 4 * 96, k=3,
                      top_k=5).decode(speculative, pad_id=0)
    gaps = [abs(a.logprob - b.logprob) for x, y in zip(dynamic, static + speculative)
            for a, b in zip(x.records, y.records)]

    def equal(ours: list[RowState]) -> int:
        return sum(x.token_ids == y.token_ids and x.finish_reason == y.finish_reason for x, y in zip(dynamic, ours))

    return {
        "rows": len(prompts),
        "rows_equal": equal(static),
        "speculative_rows_equal": equal(speculative),
        "lengths": [len(r.token_ids) for r in static],
        "max_logprob_difference": max(gaps),
        "graph": decoder.loop.graph is not None or decoder.loop.capture_error,
    }


KERNEL_CLASSES = (("gemm", ("gemm", "gemv", "cutlass", "sm90", "matmul", "dot")),
                  ("attention", ("flash", "attn", "fmha")),
                  ("reduce / softmax / norm", ("reduce", "softmax", "norm", "topk", "sort", "argmax", "max")),
                  ("copy", ("copy", "memcpy", "memset", "cat", "index")))


def kernel_class(name: str) -> str:
    """The class of a CUDA kernel, by name: gemm, attention, reduce / softmax / norm, copy, else elementwise.

    >>> kernel_class("sm90_xmma_gemm_bf16bf16_bf16f32"), kernel_class("void at::native::vectorized_elementwise_kernel")
    ('gemm', 'elementwise')
    """
    lowered = name.lower()
    return next((c for c, keys in KERNEL_CLASSES if any(k in lowered for k in keys)), "elementwise")


def profile_greedy(target, prompts, args, steps: int = 64) -> dict:
    """Kernels per decoding step and GPU time per kernel class of the static greedy decoder at batch 1."""
    from torch.profiler import ProfilerActivity, profile

    greedy = StaticGreedy(target, batch_size=1, width=args.prompt_len + steps + 1, top_k=0)
    run_greedy(greedy, prompts, steps, 0)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        run_greedy(greedy, prompts, steps, 0)
        torch.cuda.synchronize()
    by_class: dict[str, float] = {}
    kernels = 0
    for event in prof.key_averages():
        device_us = getattr(event, "device_time_total", 0.0) or getattr(event, "cuda_time_total", 0.0)
        if device_us <= 0:
            continue
        kernels += event.count
        by_class[kernel_class(event.key)] = by_class.get(kernel_class(event.key), 0.0) + device_us
    total = sum(by_class.values())
    return {"steps": steps, "kernels_per_step": round(kernels / steps, 1), "gpu_ms_per_step": round(total / steps / 1e3,
                                                                                                  4),
            "share": {k: round(v / total, 3) for k, v in sorted(by_class.items(), key=lambda kv: -kv[1])}}


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--new", type=int, default=256)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--draft-layers", type=int, default=2)
    ap.add_argument("--late-scale", type=float, default=0.02)
    ap.add_argument("--hbm-tb-s", type=float, default=4.3)
    ap.add_argument("--assisted-new", type=int, default=128, help="new tokens for the slow assisted baseline")
    ap.add_argument("--tiny", action="store_true", help="small model on CPU: a smoke run of the code path")
    ap.add_argument("--out", default=None, help="also write the JSON result here")
    ap.add_argument("--profile", action="store_true", help="also profile the static greedy decoder at batch 1")
    args = ap.parse_args()
    device = torch.device("cpu" if args.tiny or not torch.cuda.is_available() else "cuda")
    check = check_static_against_dynamic(device)
    print(f"float32 static vs dynamic: {check}", flush=True)
    if (check["rows_equal"] != check["rows"] or check["speculative_rows_equal"] != check["rows"]
            or check["max_logprob_difference"] > 1e-3):
        raise SystemExit("the static decoder does not agree with the dynamic one in float32")
    target, draft = build(args, device)
    vocab = target.config.vocab_size
    weight_bytes = sum(p.numel() * p.element_size() for n, p in target.named_parameters() if "embed_tokens" not in n)
    gen = torch.Generator().manual_seed(1)
    prompts = torch.randint(3, vocab, (args.batch, args.prompt_len), generator=gen)
    res: dict = {"benchmark": "hf_gpu", "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                 "torch": torch.__version__, "batch": args.batch, "prompt_len": args.prompt_len, "new": args.new,
                 "k": args.k, "draft_layers": args.draft_layers, "late_scale": args.late_scale,
                 "weight_bytes": weight_bytes, "float32_static_vs_dynamic": check}
    import transformers

    res["transformers"] = transformers.__version__

    def hf_generate(b, new, **kw):
        ids = prompts[:b].to(device)
        with torch.inference_mode():
            return target.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                   max_new_tokens=new, min_new_tokens=new, **kw)[:, args.prompt_len:]

    def report(name, tokens, seconds):
        res[name] = round(tokens / seconds, 2)
        print(f"{name}: {tokens} tokens in {seconds:.2f} s = {tokens / seconds:.1f} tok/s", flush=True)

    hf_generate(1, 8)  # warm-up
    hf1, s = timed(lambda: hf_generate(1, args.new), device)
    report("transformers_greedy_b1_tok_s", args.new, s)
    hfb, s = timed(lambda: hf_generate(args.batch, args.new), device)
    report(f"transformers_greedy_b{args.batch}_tok_s", args.batch * args.new, s)
    hf_generate(1, 8, assistant_model=draft)
    _, s = timed(lambda: hf_generate(1, args.assisted_new, assistant_model=draft), device)
    report("transformers_assisted_b1_tok_s", args.assisted_new, s)

    for b, top_k in ((1, 5), (1, 0), (args.batch, 0)):
        name = f"tais_greedy_b{b}" + (f"_top{top_k}" if top_k else "")
        greedy, build_s = timed(lambda b=b, top_k=top_k: StaticGreedy(target, batch_size=b,
                                                                      width=args.prompt_len + args.new, top_k=top_k),
                                device)
        run_greedy(greedy, prompts[:b], args.new, top_k)
        out, s = timed(lambda g=greedy, b=b, top_k=top_k: run_greedy(g, prompts[:b], args.new, top_k), device)
        report(f"{name}_tok_s", b * args.new, s)
        res[f"{name}_capture_s"] = round(build_s, 2)
        res[f"{name}_graph"] = greedy.loop.graph is not None or greedy.loop.capture_error
        del greedy
        if top_k:
            continue
        reference = hf1 if b == 1 else hfb
        res[f"{name}_rows_equal_transformers"] = int((out == reference.cpu()).all(1).sum())
        res[f"{name}_first_difference_vs_transformers"] = sorted(first_differences(out, reference))
        spec, build_s = timed(lambda b=b: StaticSpeculative(
            target, target, draft_layers=args.draft_layers, batch_size=b, k=args.k,
            width=args.prompt_len + (args.k + 1) * args.new), device)
        run_speculative(spec, prompts[:b], args.new)
        (sout, tele), s = timed(lambda sp=spec, b=b: run_speculative(sp, prompts[:b], args.new), device)
        report(f"tais_speculative_b{b}_tok_s", b * args.new, s)
        res[f"tais_speculative_b{b}_graph"] = spec.loop.graph is not None or spec.loop.capture_error
        res[f"tais_speculative_b{b}_acceptance"] = round(tele["acceptance"], 4)
        res[f"tais_speculative_b{b}_tokens_per_step"] = round(tele["tokens_per_step"], 3)
        res[f"tais_speculative_b{b}_rows_equal_tais_greedy"] = int((sout.cpu() == out.cpu()).all(1).sum())
        res[f"tais_speculative_b{b}_first_difference_vs_tais_greedy"] = sorted(first_differences(sout, out))
        print(f"  acceptance {tele['acceptance']:.3f}, tokens/verify step {tele['tokens_per_step']:.2f}", flush=True)
        del spec
        if device.type == "cuda":
            torch.cuda.empty_cache()

    roof = args.hbm_tb_s * 1e12 / weight_bytes
    res["roofline_b1_tok_s"] = round(roof, 1)
    res["tais_greedy_b1_roofline_fraction"] = round(res["tais_greedy_b1_tok_s"] / roof, 4)
    res["tais_greedy_b1_top5_roofline_fraction"] = round(res["tais_greedy_b1_top5_tok_s"] / roof, 4)
    res["transformers_greedy_b1_roofline_fraction"] = round(res["transformers_greedy_b1_tok_s"] / roof, 4)
    res[f"greedy_b{args.batch}_ratio_vs_transformers"] = round(
        res[f"tais_greedy_b{args.batch}_tok_s"] / res[f"transformers_greedy_b{args.batch}_tok_s"], 2)
    res["speculative_b1_ratio_vs_transformers_assisted"] = round(
        res["tais_speculative_b1_tok_s"] / res["transformers_assisted_b1_tok_s"], 2)
    res["speculative_b1_ratio_vs_tais_greedy_b1"] = round(
        res["tais_speculative_b1_tok_s"] / res["tais_greedy_b1_tok_s"], 2)
    res[f"speculative_b{args.batch}_ratio_vs_tais_greedy_b{args.batch}"] = round(
        res[f"tais_speculative_b{args.batch}_tok_s"] / res[f"tais_greedy_b{args.batch}_tok_s"], 2)
    if args.profile:
        res["profile_greedy_b1"] = profile_greedy(target, prompts[:1], args)
        print(f"profile, static greedy b1: {res['profile_greedy_b1']}", flush=True)
    line = json.dumps(res)
    if args.out:
        with open(args.out, "w") as f:
            f.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
