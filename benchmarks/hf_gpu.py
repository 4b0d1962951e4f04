"""GPU benchmark: the hf engine's static-cache, CUDA-graph decoding vs transformers ``generate``, side by side in one
run, on a random-initialised ~1.1B Llama-architecture target in bfloat16.

Target: hidden 2048, 22 layers, 32 heads, 4 KV heads, intermediate 5632, vocab 32000 (TinyLlama's shape), random
weights (seed 0). Layers after the first ``--draft-layers`` have their output projections (attention ``o_proj`` and
MLP ``down_proj``) scaled by ``--late-scale``, so the first layers decide the argmax; the draft is those first layers
plus the final norm and LM head, sharing the target's weights. Acceptance is measured and reported.

Measured (each: 64-token random prompts, ``--new`` new tokens, no EOS):

- transformers ``generate`` greedy at batch 1 and at batch ``--batch``;
- transformers ``generate(assistant_model=<draft as a LlamaForCausalLM sharing the weights>)`` at batch 1;
- this engine: :class:`~tais.engines.hf.static_decoding.StaticGreedy` at batch 1 and ``--batch``;
  :class:`~tais.engines.hf.static_decoding.StaticSpeculative` (strict, ``--k``) at batch 1 and ``--batch``.

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

from tais.engines.hf.static_decoding import StaticGreedy, StaticSpeculative


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
    ap.add_argument("--compile", action="store_true", help="also time greedy batch 1 with torch.compile fusion")
    ap.add_argument("--out", default=None, help="also write the JSON result here")
    args = ap.parse_args()
    device = torch.device("cpu" if args.tiny or not torch.cuda.is_available() else "cuda")
    target, draft = build(args, device)
    vocab = target.config.vocab_size
    weight_bytes = sum(p.numel() * p.element_size() for n, p in target.named_parameters() if "embed_tokens" not in n)
    gen = torch.Generator().manual_seed(1)
    prompts = torch.randint(3, vocab, (args.batch, args.prompt_len), generator=gen)
    valid = torch.ones_like(prompts)
    res: dict = {"benchmark": "hf_gpu", "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                 "torch": torch.__version__, "batch": args.batch, "prompt_len": args.prompt_len, "new": args.new,
                 "k": args.k, "draft_layers": args.draft_layers, "late_scale": args.late_scale,
                 "weight_bytes": weight_bytes}
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

    for b in (1, args.batch):
        greedy, build_s = timed(lambda: StaticGreedy(target, batch_size=b, prompt_len=args.prompt_len,
                                                     max_new=args.new), device)
        greedy.generate(prompts[:b], valid[:b])
        out, s = timed(lambda: greedy.generate(prompts[:b], valid[:b]), device)
        report(f"tais_greedy_b{b}_tok_s", b * args.new, s)
        reference = hf1 if b == 1 else hfb
        res[f"tais_greedy_b{b}_rows_equal_transformers"] = int((out.cpu() == reference.cpu()).all(1).sum())
        res[f"tais_greedy_b{b}_first_difference_vs_transformers"] = sorted(first_differences(out, reference))
        res[f"tais_greedy_b{b}_capture_s"] = round(build_s, 2)
        res[f"tais_greedy_b{b}_graph"] = greedy.loop.graph is not None or greedy.loop.capture_error
        del greedy
        spec, build_s = timed(lambda: StaticSpeculative(target, args.draft_layers, batch_size=b,
                                                        prompt_len=args.prompt_len, max_new=args.new, k=args.k), device)
        spec.generate(prompts[:b], valid[:b])
        (sout, tele), s = timed(lambda: spec.generate(prompts[:b], valid[:b]), device)
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

    if args.compile:
        try:
            greedy, build_s = timed(lambda: StaticGreedy(target, batch_size=1, prompt_len=args.prompt_len,
                                                         max_new=args.new, compile=True), device)
            res["tais_greedy_compiled_b1_build_s"] = round(build_s, 1)
            greedy.generate(prompts[:1], valid[:1])
            cout, s = timed(lambda: greedy.generate(prompts[:1], valid[:1]), device)
            report("tais_greedy_compiled_b1_tok_s", args.new, s)
            res["tais_greedy_compiled_b1_graph"] = greedy.loop.graph is not None or greedy.loop.capture_error
            res["tais_greedy_compiled_b1_first_difference_vs_transformers"] = first_differences(cout, hf1)
        except Exception as exc:  # the compiled variant is optional; record why it did not run
            res["tais_greedy_compiled_b1_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            print(res["tais_greedy_compiled_b1_error"], flush=True)

    roof = args.hbm_tb_s * 1e12 / weight_bytes
    res["roofline_b1_tok_s"] = round(roof, 1)
    res["tais_greedy_b1_roofline_fraction"] = round(res["tais_greedy_b1_tok_s"] / roof, 4)
    if "tais_greedy_compiled_b1_tok_s" in res:
        res["tais_greedy_compiled_b1_roofline_fraction"] = round(res["tais_greedy_compiled_b1_tok_s"] / roof, 4)
    res["transformers_greedy_b1_roofline_fraction"] = round(res["transformers_greedy_b1_tok_s"] / roof, 4)
    res[f"greedy_b{args.batch}_ratio_vs_transformers"] = round(
        res[f"tais_greedy_b{args.batch}_tok_s"] / res[f"transformers_greedy_b{args.batch}_tok_s"], 2)
    res["speculative_b1_ratio_vs_transformers_assisted"] = round(
        res["tais_speculative_b1_tok_s"] / res["transformers_assisted_b1_tok_s"], 2)
    res["speculative_b1_ratio_vs_tais_greedy_b1"] = round(res["tais_speculative_b1_tok_s"] / res["tais_greedy_b1_tok_s"], 2)
    res[f"speculative_b{args.batch}_ratio_vs_tais_greedy_b{args.batch}"] = round(
        res[f"tais_speculative_b{args.batch}_tok_s"] / res[f"tais_greedy_b{args.batch}_tok_s"], 2)
    line = json.dumps(res)
    if args.out:
        with open(args.out, "w") as f:
            f.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
