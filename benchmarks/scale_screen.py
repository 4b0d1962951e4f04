"""Time and peak memory of ``tais screen`` and ``tais verify`` on synthetic run stores of 100,000 and 1,000,000
completions, side by side, to show how both grow with the run.

The store (:func:`build_store`, the one place it is made) is written through the run store API (``put_tasks``,
``put_arm``, ``add_completions``, ``add_scores``, ``add_run``), as ``tais run`` writes it: two arms (a reference and a
speculative candidate), five tasks, one replicate, so N completions are N/2 items. Every completion has 16 output
tokens with token ids and top-5 logprobs at each step (about 1.9 KB of canonical JSON, like an OpenAI-compatible
server's answer). About a third of the candidate's completions diverge from the reference at a random step: most to
the reference's second choice 0.05 nats below its own (near-tie), some to a token outside its top-5 (leak); a few of
those flip the refusal outcome. After the store is built, ``tais run``'s first screen is taken by ``tais screen``
(which writes evidence.json and keeps the Merkle leaves), then ``tais verify`` checks it.

Each command runs as ``python -m tais.cli.main ...`` in a child of a small wrapper process that reports the wall
time and ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` of its one child: the peak resident memory of that command
alone. Goal: each under 60 s and 1 GB at 1,000,000 completions.

With ``--baseline SRC`` (the ``src`` folder of another tais checkout, e.g. ``git archive COMMIT src | tar -x``),
each store is also screened and verified by that tais, first, one command after the other: before and after side by
side on the same machine and load. A tais that writes plans of version 3 reads the same store; for an older one the
store is copied with its run plan rewritten in the version-2 layout (request hashes inline, which every tais since
the RunPlan reads).

Usage: ``python benchmarks/scale_screen.py [--sizes 100000 1000000] [--dir DIR] [--baseline SRC]``; the last line
is JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tais.pipeline.fingerprint import arm_fingerprint
from tais.store import (
    STORE_FILENAME,
    PlannedArm,
    PlannedItem,
    PlannedTask,
    RunPlan,
    RunStore,
    canonical_json,
    sha256_text,
)
from tais.types import (
    ArmSpec,
    Completion,
    CompletionKey,
    Item,
    Role,
    SamplingParams,
    Score,
    StepLogprobs,
    Task,
    Thresholds,
    TopLogprob,
)

GOAL_S = 60.0
GOAL_RSS_MB = 1024.0
TASKS = 5
TOKENS = 16
VOCAB = 2000
BATCH = 5000
SCORER = "refusal-rules@1"
DESCRIBE = {"engine": "synthetic", "model": "synthetic"}
CONFIG = "name: scale\n"


def _vocabulary(rng: random.Random) -> list[StepLogprobs]:
    """One reference step per token id: the token chosen at -0.05 nats, its top-5 with the runner-up 0.05 below."""
    steps = []
    for i in range(VOCAB):
        others = rng.sample(range(VOCAB), 4)
        top = (TopLogprob(f" w{i}", -0.05, i), TopLogprob(f" w{others[0]}", -0.10, others[0]),
               *(TopLogprob(f" w{o}", -2.0 - k, o) for k, o in enumerate(others[1:])))
        steps.append(StepLogprobs(f" w{i}", -0.05, i, top))
    return steps


def _completion(item_id: str, ids: list[int], vocabulary: list[StepLogprobs]) -> Completion:
    steps = tuple(vocabulary[i] if i < VOCAB else StepLogprobs(f" x{i}", -0.01, i, ()) for i in ids)
    return Completion(item_id=item_id, text="".join(s.token for s in steps), token_ids=tuple(ids), logprobs=steps,
                      output_tokens=len(ids), prompt_tokens=24, wall_s=0.01)


def _spec(name: str, role: Role) -> ArmSpec:
    speculative = {"method": "ngram", "num_speculative_tokens": 4} if role is Role.CANDIDATE else {}
    return ArmSpec(name, "openai", "synthetic", role=role, speculative=speculative,
                   sampling=SamplingParams(max_tokens=TOKENS))


def build_store(run_dir: Path, completions: int, seed: int = 0) -> dict[str, int]:
    """A finished two-arm run of ``completions`` completions in ``run_dir/store.sqlite`` (see the module docstring);
    returns counts of what it planted."""
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng)
    items_per_task = completions // 2 // TASKS
    tasks = [Task(f"task{t}", tuple(Item(f"task{t}/{i}", f"prompt {t}/{i}") for i in range(items_per_task)),
                  "refusal", "refusal-rules") for t in range(TASKS)]
    arms = []
    for name, role in (("reference", Role.REFERENCE), ("speculative", Role.CANDIDATE)):
        spec = _spec(name, role)
        arms.append(PlannedArm(name, role, arm_fingerprint(DESCRIBE, spec, order="as-listed", order_seed=0)))
    planted = {"divergent": 0, "leaks": 0, "flips": 0}
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunStore(run_dir / STORE_FILENAME) as store:
        keys = store.put_tasks(tasks)
        for arm in arms:
            spec = _spec(arm.name, arm.role)
            store.put_arm(arm.fingerprint, arm.name, {**spec.to_dict(), "order": "as-listed", "order_seed": 0},
                          DESCRIBE)
        planned = []
        for task in tasks:
            items = tuple(PlannedItem(item.id, (hashlib.sha256(item.id.encode()).hexdigest(),)) for item in task.items)
            planned.append(PlannedTask(task.name, keys[task.name], task.scorer, SCORER, items))
            batches: dict[str, list] = {a.name: [] for a in arms}
            score_batches: dict[str, list] = {a.name: [] for a in arms}
            for item in items:
                key = CompletionKey(item.item_id, 0, item.request_sha256[0])
                ids = [rng.randrange(VOCAB) for _ in range(TOKENS)]
                refuses = rng.random() < 0.6
                cand_ids, cand_refuses = ids, refuses
                if rng.random() < 1 / 3:
                    planted["divergent"] += 1
                    position = rng.randrange(TOKENS)
                    leak = rng.random() < 0.05
                    planted["leaks"] += leak
                    swap = VOCAB + 1 if leak else vocabulary[ids[position]].top[1].token_id
                    cand_ids = ids[:position] + [swap] + [rng.randrange(VOCAB) for _ in range(TOKENS - position - 1)]
                    if rng.random() < 0.02:
                        cand_refuses = not refuses
                        planted["flips"] += 1
                for arm, arm_ids, refused in ((arms[0], ids, refuses), (arms[1], cand_ids, cand_refuses)):
                    batches[arm.name].append((key, _completion(item.item_id, arm_ids, vocabulary), 0.002))
                    score_batches[arm.name].append(
                        (key, Score(item.item_id, int(refused), "refusal" if refused else "compliance", SCORER)))
                if len(batches[arms[0].name]) >= BATCH:
                    _flush(store, arms, batches, score_batches)
            _flush(store, arms, batches, score_batches)
        plan = RunPlan("scale", 1, Thresholds(), tuple(planned), tuple(arms))
        store.add_run(sha256_text(CONFIG), CONFIG, plan)
    planted["completions"] = 2 * TASKS * items_per_task
    return planted


def _flush(store: RunStore, arms, batches, score_batches) -> None:
    for arm in arms:
        store.add_completions(arm.fingerprint, batches[arm.name])
        store.add_scores(arm.fingerprint, SCORER, score_batches[arm.name])
        batches[arm.name].clear()
        score_batches[arm.name].clear()


_WRAPPER = ("import resource, subprocess, sys, time, json; t = time.perf_counter(); "
            "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
            "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "print(json.dumps({'rc': rc, 'wall_s': time.perf_counter() - t, 'cpu_s': u.ru_utime + u.ru_stime, "
            "'max_rss_mb': u.ru_maxrss / 1024}))")


def measure(*command: str, src: Path | None = None) -> dict[str, float]:
    """Wall time and peak RSS of one ``tais`` command, run as the only child of a wrapper process (with the tais of
    ``src`` first on the path when given)."""
    env = {**os.environ} | ({"PYTHONPATH": str(src)} if src is not None else {})
    out = subprocess.run([sys.executable, "-c", _WRAPPER, sys.executable, "-m", "tais.cli.main", *command],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def as_version_2(run_dir: Path, copy: Path) -> None:
    """Copy a built run directory with its plan in the version-2 layout (every item's request hashes inline in the
    plan's JSON), which a tais from before the plan kept its items in the store reads."""
    copy.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / STORE_FILENAME, copy / STORE_FILENAME)
    with RunStore(copy / STORE_FILENAME, create=False) as store:
        plan = store.latest_run().plan
        data = {**plan.to_dict(), "plan_version": 2, "tasks": [
            {"name": t.name, "content_sha256": t.content_sha256, "scorer": t.scorer, "scorer_id": t.scorer_id,
             "items": [{"item_id": i.item_id, "request_sha256": list(i.request_sha256)} for i in t.items]}
            for t in plan.tasks]}
    db = sqlite3.connect(copy / STORE_FILENAME)
    try:
        db.execute("UPDATE runs SET plan_json=?", (canonical_json(data),))
        db.commit()
    finally:
        db.close()


def baseline_plan_version(src: Path) -> int:
    """The run plan version the tais of ``src`` writes (2 before the plan kept its items in the store)."""
    out = subprocess.run([sys.executable, "-c", "import tais.store as s; print(getattr(s, 'PLAN_VERSION', 2))"],
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(src)})
    return int(out.stdout.strip())


def _screen_and_verify(run_dir: Path, src: Path | None = None) -> dict[str, float]:
    screen = measure("screen", str(run_dir), src=src)
    verify = measure("verify", str(run_dir), src=src)
    assert verify["rc"] == 0, f"tais verify failed on {run_dir}"
    return {"screen_s": round(screen["wall_s"], 1), "screen_cpu_s": round(screen["cpu_s"], 1),
            "screen_rss_mb": round(screen["max_rss_mb"]), "screen_exit": screen["rc"],
            "verify_s": round(verify["wall_s"], 1), "verify_cpu_s": round(verify["cpu_s"], 1),
            "verify_rss_mb": round(verify["max_rss_mb"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dir", type=Path, default=None, help="folder for the run stores (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="the src folder of another tais: screen and verify each store with it too")
    args = parser.parse_args()
    rows = []
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="tais-scale-", dir=args.dir))
    try:
        for size in args.sizes:
            run_dir = base / f"run-{size}"
            started = time.perf_counter()
            planted = build_store(run_dir, size)
            build_s = time.perf_counter() - started
            row: dict = {"completions": planted["completions"], "divergent_pairs": planted["divergent"],
                         "build_s": round(build_s, 1)}
            if args.baseline is not None and baseline_plan_version(args.baseline.resolve()) >= 3:
                measured = _screen_and_verify(run_dir, args.baseline.resolve())  # the same store, first
                row["baseline"] = measured
                print(f"{size:>9,} baseline: {measured}", flush=True)
            elif args.baseline is not None:
                as_version_2(run_dir, base / f"baseline-{size}")
                measured = _screen_and_verify(base / f"baseline-{size}", args.baseline.resolve())
                row["baseline"] = measured
                print(f"{size:>9,} baseline: {measured}", flush=True)
                shutil.rmtree(base / f"baseline-{size}", ignore_errors=True)
            measured = _screen_and_verify(run_dir)
            row |= measured
            row["evidence_mb"] = round((run_dir / "evidence.json").stat().st_size / 2**20, 1)
            row["store_mb"] = round((run_dir / STORE_FILENAME).stat().st_size / 2**20)
            rows.append(row)
            print(f"{planted['completions']:>9,} completions ({planted['divergent']:,} divergent pairs): built in "
                  f"{build_s:.0f} s; screen {row['screen_s']:.1f} s (cpu {row['screen_cpu_s']:.1f} s) "
                  f"{row['screen_rss_mb']:.0f} MB; verify {row['verify_s']:.1f} s (cpu {row['verify_cpu_s']:.1f} s) "
                  f"{row['verify_rss_mb']:.0f} MB; evidence {row['evidence_mb']:.1f} MB, store "
                  f"{row['store_mb']:.0f} MB", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    largest = rows[-1]
    result = {
        "benchmark": "scale_screen", "rows": rows, "cores": cores, "machine": platform.machine(),
        "goal_s": GOAL_S, "goal_rss_mb": GOAL_RSS_MB,
        "meets_goal": all(largest[k] < GOAL_S for k in ("screen_s", "verify_s"))
        and all(largest[k] < GOAL_RSS_MB for k in ("screen_rss_mb", "verify_rss_mb")),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
