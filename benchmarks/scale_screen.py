"""Wall time and peak memory of ``tais screen`` and ``tais verify`` on a large run store.

What it builds, per size N (completions in the store, default 100,000 / 300,000 / 1,000,000 side by side):

1. A *template* run through the public CLI: ``tais run`` on a two-arm mock config (reference and candidate) over
   the smoke battery with ``logprobs: 5``, so the store, its plan and its scores have exactly the format
   ``tais run`` writes today.
2. A synthetic store of N completions, N / 2 per arm, spread over the template's three tasks (refusal, compliance,
   multiple choice), made by :func:`scale_store` (the one function that knows the store's table layout): every
   completion has 16 tokens with the top-5 logprobs at each step (as a run with ``logprobs: 5`` stores them); about a
   third of the candidate's completions diverge from the reference at a near-tie (the candidate's token is the
   reference's second choice, 0.05 nats below its first), at a position that varies with the item; 4% of pairs flip
   their outcome, about 58:42 towards the reference-only cell (a shift like the one seen at scale in
   issue 10).
3. ``tais screen DIR`` (read the run back, analyse, write evidence.json / report.md / report.html) and then
   ``tais verify DIR`` (re-derive the evidence and compare), each in its own child process, timed by the wall clock;
   peak RSS from ``os.wait4``'s resource usage of that child.

A size whose linear extrapolation from the largest measured size would pass ``--max-gb`` of peak RSS or
``--max-minutes`` of wall time is not run: its column shows the extrapolation, marked ``~`` (say so when you quote it).

Usage: ``python benchmarks/scale_screen.py [--sizes 100000 1000000] [--work DIR] [--max-gb 10] [--max-minutes 10]``.
The last line is JSON. Goal (for a streaming rewrite of the screen): under 60 s and under 1 GB each at 1,000,000.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tais.store import RunStore, canonical_json, sha256_text
from tais.types import Completion, Score, StepLogprobs, TopLogprob

GOAL_S, GOAL_GB = 60.0, 1.0
TOKENS = 16
DIVERGENT = 1 / 3
FLIPS = 0.04
TOWARDS_B = 1240 / (1240 + 746)
PLACEHOLDER = "@@ITEM@@"

TEMPLATE_CONFIG = """\
name: scale-template
battery: [{benchmark: smoke, limit: 4}]
sampling: {max_tokens: 16, logprobs: 5}
thresholds: {margin: 0.03}
arms:
  - name: reference
    role: reference
    backend: mock
    model: mock
    options: {keywords: [lock, steal, fake, break, password, hack, poison, stalk], batch_size: 4}
  - name: candidate
    backend: mock
    model: mock
    options: {keywords: [lock, steal, fake, break, password, hack, poison, stalk], batch_size: 3}
"""


def tais(*args: str) -> list[str]:
    return [sys.executable, "-m", "tais.cli.main", *args]


def template_run(work: Path) -> Path:
    """A real two-arm run of the mock engine, written by ``tais run``; returns its directory."""
    out = work / "template"
    if (out / "store.sqlite").exists():
        return out
    config = work / "template.yaml"
    config.write_text(TEMPLATE_CONFIG)
    subprocess.run(tais("run", str(config), "--out", str(out), "--quiet"), check=False, stdout=subprocess.DEVNULL)
    if not (out / "store.sqlite").exists():
        raise SystemExit("the template run wrote no store")
    return out


def token_text(token_id: int) -> str:
    return f" t{token_id}"


def completion_json(ids: list[int], outcome_text: str) -> str:
    """Canonical JSON of a completion with these token ids and the top-5 at each step (its own token first, the
    runner-up 0.05 nats below it, three more far below), with the item id left as a placeholder."""
    steps = []
    for token in ids:
        alternatives = [token, token + 1000] + [token + 2000 + k for k in range(3)]
        top = tuple(TopLogprob(token_text(t), -0.05 - 0.05 * k - (0.5 * k if k > 1 else 0.0), t)
                    for k, t in enumerate(alternatives))
        steps.append(StepLogprobs(token_text(token), top[0].logprob, token, top))
    text = outcome_text + "".join(token_text(t) for t in ids)
    c = Completion(item_id=PLACEHOLDER, text=text, token_ids=tuple(ids), logprobs=tuple(steps), finish_reason="length",
                   prompt_tokens=30, output_tokens=len(ids), wall_s=0.01)
    return canonical_json(c.to_dict())


def variants(outcome_texts: dict[str, str]) -> dict[tuple, str]:
    """The completion shapes: (arm, text, divergence position or None) -> canonical JSON with a placeholder id.
    The reference's tokens are 100..115; a divergent candidate emits token 1100 + p (the reference's second choice at
    position p) and from there on tokens 500 + i (another continuation)."""
    ref_ids = list(range(100, 100 + TOKENS))
    out = {}
    for look, prefix in outcome_texts.items():
        out[("ref", look, None)] = completion_json(ref_ids, prefix)
        for p in range(TOKENS):
            ids = ref_ids[:p] + [1100 + p] + [500 + i for i in range(p + 1, TOKENS)]
            out[("cand", look, p)] = completion_json(ids, prefix)
    return out


def plan_rows(template: RunStore) -> tuple[str, str, dict]:
    """(config sha256, config text, plan) of the template's run, read back through the store's public table dump."""
    columns, rows = template.table_rows("runs")
    row = dict(zip(columns, rows[-1]))
    return row["config_sha256"], row["config_text"], json.loads(row["plan_json"])


def scale_store(template_dir: Path, out_dir: Path, n_completions: int) -> dict[str, int]:
    """Write ``out_dir/store.sqlite``: the template run scaled to ``n_completions`` (see the module docstring).

    This is the one place that knows the store's internals: the plan's keys (``tasks``, ``arms``, ``requests``) and
    the column order of the ``completions``, ``timings`` and ``scores`` tables, which it bulk-inserts in one
    transaction (``RunStore.add_completion`` commits each row, hours at this size). Everything else goes through the
    store's public methods. Returns the counts it wrote."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "store.sqlite"
    with RunStore(template_dir / "store.sqlite", create=False) as template:
        config_sha, config_text, plan = plan_rows(template)
        arms = [(a, *template.arm(a["fingerprint"])) for a in plan["arms"]]
        tasks = [(t, template.task(t["content_sha256"])) for t in plan["tasks"]]
    per_arm = n_completions // 2
    per_task = [per_arm // len(tasks) + (1 if i < per_arm % len(tasks) else 0) for i in range(len(tasks))]
    big_tasks = []
    for (meta, task), count in zip(tasks, per_task):
        items = tuple(replace(task.items[i % len(task.items)], id=f"{task.name}/{i:07d}",
                              prompt=f"{task.items[i % len(task.items)].prompt} (synthetic {i})")
                      for i in range(count))
        big_tasks.append(replace(task, items=items))
    texts = {"refusal": "I'm sorry, but I can't help with that.", "compliance": "Sure, here is how.",
             "A": "The answer is A.", "B": "The answer is B."}
    shapes = variants(texts)
    # (task outcome kind, y) -> (text of the completion, label of its score)
    looks = {("refusal", 1): "refusal", ("refusal", 0): "compliance", ("compliance", 1): "compliance",
             ("compliance", 0): "refusal", ("multiple_choice", 1): "A", ("multiple_choice", 0): "B"}
    ref, cand = (a for a, *_ in arms if a["role"] == "reference"), (a for a, *_ in arms if a["role"] != "reference")
    ref, cand = next(ref), next(cand)
    flips = {"b": 0, "c": 0, "divergent": 0}
    with RunStore(path) as store:
        shas = store.put_tasks(big_tasks)
        for arm, spec, describe in arms:
            store.put_arm(arm["fingerprint"], arm["name"], spec, describe)
        new_plan = dict(plan)
        new_plan["tasks"] = [dict(meta, content_sha256=shas[meta["name"]]) for meta, _ in tasks]
        new_plan["requests"] = {item.id: [hashlib.sha256(item.id.encode()).hexdigest()]
                                for task in big_tasks for item in task.items}
        store.add_run(config_sha, config_text, new_plan)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    counter = 0
    for (meta, _), task in zip(tasks, big_tasks):
        scorer = meta["scorer_id"]
        for item in task.items:
            counter += 1
            request = new_plan["requests"][item.id][0]
            y_ref = 1 if counter % 4 else 0
            divergent = (counter * 7919) % 1000 < DIVERGENT * 1000
            y_cand = y_ref
            if divergent and (counter * 104729) % 1000 < FLIPS / DIVERGENT * 1000:
                towards_b = (counter * 13) % 1000 < TOWARDS_B * 1000
                y_ref, y_cand = (1, 0) if towards_b else (0, 1)
                flips["b" if towards_b else "c"] += 1
            flips["divergent"] += divergent
            position = counter % TOKENS
            for arm, y, kind in ((ref, y_ref, "ref"), (cand, y_cand, "cand" if divergent else "ref")):
                look = looks[(task.outcome, y)]
                text = shapes[(kind, look, position if kind == "cand" else None)].replace(PLACEHOLDER, item.id)
                key = (arm["fingerprint"], item.id, 0, request)
                db.execute("INSERT INTO completions VALUES (?, ?, ?, ?, ?, ?)", (*key, text, sha256_text(text)))
                db.execute("INSERT INTO timings VALUES (?, ?, ?, ?, ?)", (*key, 0.01))
                score = canonical_json(Score(item.id, y, look, scorer).to_dict())
                db.execute("INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?)", (*key, scorer, score, sha256_text(score)))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return {"completions": 2 * sum(per_task), **flips}


def measure(command: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in GB, exit code) of one child process."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        child.returncode = code
        if code not in (0, 1, 3):
            err.seek(0)
            print(f"  {' '.join(command[3:5])} exited {code}: {err.read().decode(errors='replace')[-300:]}",
                  file=sys.stderr)
    return wall, usage.ru_maxrss / 1024**2, code  # ru_maxrss is in KiB on Linux


def run_size(work: Path, template: Path, n: int) -> dict:
    run_dir = work / f"run-{n}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    t0 = time.perf_counter()
    counts = scale_store(template, run_dir, n)
    build_s = time.perf_counter() - t0
    store_gb = (run_dir / "store.sqlite").stat().st_size / 1024**3
    print(f"  N={n:,}: store built in {build_s:.0f} s ({store_gb:.2f} GB; {counts})", flush=True)
    screen = measure(tais("screen", str(run_dir)))
    print(f"  N={n:,}: screen {screen[0]:.1f} s, {screen[1]:.2f} GB, exit {screen[2]}", flush=True)
    verify = measure(tais("verify", str(run_dir)))
    print(f"  N={n:,}: verify {verify[0]:.1f} s, {verify[1]:.2f} GB, exit {verify[2]}", flush=True)
    report_mb = sum(p.stat().st_size for p in run_dir.glob("report.*")) / 1024**2
    shutil.rmtree(run_dir)
    return {"n": n, "measured": True, "store_gb": round(store_gb, 3), "report_mb": round(report_mb, 1),
            "screen_s": round(screen[0], 2), "screen_gb": round(screen[1], 3), "screen_exit": screen[2],
            "verify_s": round(verify[0], 2), "verify_gb": round(verify[1], 3), "verify_exit": verify[2],
            **counts}


def extrapolate(measured: list[dict], n: int) -> dict:
    """Linear in N from the two largest measured sizes (through the origin from one)."""
    if len(measured) == 1:
        base = measured[0]
        return {"n": n, "measured": False, **{k: round(base[k] * n / base["n"], 2) for k in
                                              ("screen_s", "screen_gb", "verify_s", "verify_gb")}}
    lo, hi = measured[-2], measured[-1]
    out = {"n": n, "measured": False}
    for k in ("screen_s", "screen_gb", "verify_s", "verify_gb"):
        slope = (hi[k] - lo[k]) / (hi["n"] - lo["n"])
        out[k] = round(hi[k] + slope * (n - hi["n"]), 2)
    return out


def table(rows: list[dict]) -> str:
    def cell(row: dict, key: str, unit: str) -> str:
        return f"{'' if row['measured'] else '~'}{row[key]:,.1f} {unit}"

    lines = [f"{'':<14}" + "".join(f"{row['n']:>16,}" for row in rows)]
    for key, unit, label in (("screen_s", "s", "screen wall"), ("screen_gb", "GB", "screen peak"),
                             ("verify_s", "s", "verify wall"), ("verify_gb", "GB", "verify peak")):
        lines.append(f"{label:<14}" + "".join(f"{cell(row, key, unit):>16}" for row in rows))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--max-gb", type=float, default=10.0)
    parser.add_argument("--max-minutes", type=float, default=10.0)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tais-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    template = template_run(work)
    print(f"scale_screen: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"work {work}", flush=True)
    rows: list[dict] = []
    for n in sorted(args.sizes):
        measured = [r for r in rows if r["measured"]]
        if measured:
            guess = extrapolate(measured, n)
            if max(guess["screen_gb"], guess["verify_gb"]) > args.max_gb or \
                    max(guess["screen_s"], guess["verify_s"]) > 60 * args.max_minutes:
                print(f"  N={n:,}: not run (extrapolated {guess}); over --max-gb / --max-minutes", flush=True)
                rows.append(guess)
                continue
        rows.append(run_size(work, template, n))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    print(table(rows))
    print("(~ = extrapolated linearly from the measured sizes, not run)")
    largest = rows[-1]
    print(json.dumps({"benchmark": "scale_screen", "cpus": os.cpu_count(), "rows": rows,
                      "goal": {"seconds": GOAL_S, "gb": GOAL_GB, "n": 1_000_000},
                      "meets_goal": largest["n"] >= 1_000_000 and largest["measured"]
                      and max(largest["screen_s"], largest["verify_s"]) < GOAL_S
                      and max(largest["screen_gb"], largest["verify_gb"]) < GOAL_GB}))


if __name__ == "__main__":
    main()
