"""``tais run`` end to end on 100,000 items against an instant OpenAI-compatible server, and which stage takes what.

The server is tais's loopback server (``tais.testing.loopback``) in its own process on 127.0.0.1: it answers each
chat request at once with up to 8 tokens, top-5 logprobs and token ids. The config screens two ``openai`` arms
(a reference and a candidate that differs only in an ``extra_body`` field, so a second fingerprint) on one custom
task of N prompts written to a JSONL file, scored by ``refusal-rules``: 2 N completions, generated, committed,
scored, screened (streaming analysis) and reported, all by :func:`tais.pipeline.run.run_config` in this process.

Stages, timed by wrapping the pipeline's own functions (their wall time inside the run):

- ``battery``: loading the battery (``load_battery``) and storing it (``RunStore.put_tasks``);
- ``requests``: request hashes and request objects (``plan_tasks``, ``build_requests``) and the resume check
  (``RunStore.missing``);
- ``store commit``: ``RunStore.add_completion`` (each completion committed in its own transaction);
- ``http + engine``: the rest of the generation loop (``_generate``: sending, receiving, parsing);
- ``scoring``: ``score_arm``; ``analysis``: the streaming screen; ``reports``: writing the reports and keeping the
  Merkle leaves;
- ``rescore``: the token evidence's teacher-forced re-scoring (``rescore_phase``; with ``--token-evidence auto``
  only): every reference completion under the reference's target and the candidate's own target (KL), and every
  differing candidate completion under both: two scoring requests (``/tokenize``, then ``/v1/completions`` with
  ``prompt_logprobs``) per scoring; ``rescore commit``: its ``RunStore.add_scorings`` (a transaction per 32
  scorings), not counted in ``rescore``;
- ``other``: the remainder (config, engine start-up, run record).

The loopback server shares the machine's cores with tais: each run also reports the CPU seconds the server process
used (``server_cpu_s``), so that what is the server's (it stands in for a real one) can be told from tais's.

Usage: ``python benchmarks/run_end_to_end.py [--items 100000] [--concurrency 32] [--token-evidence off|auto|both]
[--compare] [--baseline SRC]``; the last line is JSON with ``completions_per_s`` (completions / total wall time of the
last run; goal >= 2,000/s). ``--token-evidence both`` runs the screen with the token evidence off, then auto, side by
side against the same server (``auto_over_off``: the ratio of their rates). ``--compare`` first runs the same screen
with the writes ``tais run`` did before (one transaction per completion, scorers handed every step's logprobs), side
by side. ``--baseline SRC`` (the ``src`` folder of another tais checkout, e.g. ``git archive main src | tar -x -C
/tmp/main``) first runs this benchmark, same size and modes, with that tais in a child process, served by this tais's
loopback server: before and after on the same machine and load (``speedup``, ``speedup_auto``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from openai_ingest import start_server  # noqa: E402

import tais.pipeline.run as run_module  # noqa: E402
import tais.pipeline.stream as stream_module  # noqa: E402
from tais.interfaces import Scorer  # noqa: E402
from tais.pipeline.config import load_config  # noqa: E402
from tais.store import RunStore  # noqa: E402

GOAL = 2000.0


class Timers:
    """Seconds spent inside each wrapped function, by stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, stage: str, function: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - started
        return timed


@contextmanager
def patched(target: Any, name: str, replacement: Any) -> Iterator[None]:
    original = getattr(target, name)
    setattr(target, name, replacement)
    try:
        yield
    finally:
        setattr(target, name, original)


def write_config(folder: Path, items: int, url: str, concurrency: int, token_evidence: str = "off") -> Path:
    with open(folder / "prompts.jsonl", "w", encoding="utf-8") as handle:
        for i in range(items):
            handle.write(json.dumps({"id": f"p{i}", "prompt": f"benchmark prompt number {i}"}) + "\n")
    def arm(name: str, role: str, variant: int) -> str:
        return (f"  - name: {name}\n    role: {role}\n    backend: openai\n    model: smollm2\n"
                f"    options: {{base_url: \"{url}/v1\", concurrency: {concurrency}, "
                f"extra_body: {{return_token_ids: true, variant: {variant}}}}}\n")

    config = (
        "name: end-to-end\n"
        "battery:\n  - {name: bench, source: \"file:prompts.jsonl\", columns: {prompt: prompt, id: id},\n"
        "     outcome: refusal,\n"
        "     scorer: refusal-rules}\n"
        "sampling: {max_tokens: 8, logprobs: 5}\n"
        f"token_evidence: {token_evidence}\n"
        "arms:\n" + arm("reference", "reference", 0) + arm("candidate", "candidate", 1)
    )
    path = folder / "screen.yaml"
    path.write_text(config)
    return path


def run(config_path: Path, out: Path, *, old_writes: bool = False) -> tuple[float, dict[str, float], Any]:
    """One ``tais run``; ``old_writes`` restores what ``tais run`` did before this benchmark's fixes: one transaction
    per completion (``COMMIT_MAX = 1``) and scorers handed completions with every step's logprobs."""
    timers = Timers()
    generate = run_module._generate

    async def timed_generate(*args: Any, **kwargs: Any) -> int:
        started = time.perf_counter()
        try:
            return await generate(*args, **kwargs)
        finally:
            timers.seconds["generating"] += time.perf_counter() - started

    patches = [
        (run_module, "_generate", timed_generate),
        (run_module, "load_battery", timers.wrap("battery", run_module.load_battery)),
        (RunStore, "put_tasks", timers.wrap("battery", RunStore.put_tasks)),
        (run_module, "plan_tasks", timers.wrap("requests", run_module.plan_tasks)),
        (run_module, "build_requests", timers.wrap("requests", run_module.build_requests)),
        (RunStore, "missing", timers.wrap("requests", RunStore.missing)),
        (RunStore, "add_completion", timers.wrap("store commit", RunStore.add_completion)),
        (RunStore, "add_completions", timers.wrap("store commit", RunStore.add_completions)),
        (run_module, "score_arm", timers.wrap("scoring", run_module.score_arm)),
        (run_module, "rescore_phase", timers.wrap("rescore", run_module.rescore_phase)),
        (RunStore, "add_scorings", timers.wrap("rescore commit", RunStore.add_scorings)),
        (stream_module, "_stream", timers.wrap("analysis", stream_module._stream)),
        (stream_module, "write_reports", timers.wrap("reports", stream_module.write_reports)),
        (stream_module, "keep_leaves", timers.wrap("reports", stream_module.keep_leaves)),
    ]
    if old_writes:
        patches += [(run_module, "COMMIT_MAX", 1), (Scorer, "reads_logprobs", True)]
    config = load_config(config_path)
    started = time.perf_counter()
    with _all(patches):
        outcome = run_module.run_config(config, out_dir=out)
    total = time.perf_counter() - started
    stages = dict(timers.seconds)
    stages["http + engine"] = max(stages.pop("generating", 0.0) - stages.get("store commit", 0.0), 0.0)
    if "rescore" in stages:  # the scorings' commits are inside the phase: the rest of it is http + engine
        stages["rescore"] = max(stages["rescore"] - stages.get("rescore commit", 0.0), 0.0)
    stages["other"] = max(total - sum(stages.values()), 0.0)
    return total, stages, outcome


@contextmanager
def _all(patches: list) -> Iterator[None]:
    if not patches:
        yield
        return
    target, name, replacement = patches[0]
    with patched(target, name, replacement), _all(patches[1:]):
        yield


def server_cpu_s(process: subprocess.Popen) -> float:
    """CPU seconds (user + system) the loopback server process has used so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_loopback(server_src: Path | None) -> tuple[subprocess.Popen, str]:
    """The loopback server in its own process, from ``server_src`` (a tais ``src`` folder) when given: a baseline
    run of another tais is then served by the same server code as this one, so the comparison is tais's alone."""
    if server_src is None:
        return start_server()
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(server_src.resolve())
    try:
        return start_server()
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def measure(folder: Path, items: int, concurrency: int, mode: str, url: str,
            process: subprocess.Popen) -> dict[str, Any]:
    """One ``tais run`` with ``token_evidence: mode``; its rate, stages and the server's CPU seconds."""
    config = write_config(folder / mode, items, url, concurrency, mode)
    cpu_before = server_cpu_s(process)
    total, stages, outcome = run(config, folder / mode / "run")
    completions = sum(outcome.generated.values())
    rate = completions / total
    print(f"token evidence {mode}: {items:,} items x 2 openai arms = {completions:,} completions in {total:.1f} s "
          f"({rate:,.0f} completions/s)", flush=True)
    for stage, seconds in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"  {stage:<14} {seconds:>8.1f} s  {100 * seconds / total:>5.1f}%")
    return {"completions": completions, "wall_s": round(total, 2), "completions_per_s": round(rate),
            "stages_s": {k: round(v, 2) for k, v in stages.items()},
            "server_cpu_s": round(server_cpu_s(process) - cpu_before, 2), "verdict": outcome.result.verdict.value}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--dir", type=Path, default=None, help="folder for the run (default: $TMPDIR)")
    parser.add_argument("--compare", action="store_true",
                        help="also run with the old writes (a transaction per completion, scorers reading logprobs)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="the src folder of another tais: run this benchmark with it first, same size, served "
                             "by this tais's loopback server")
    parser.add_argument("--server-src", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--token-evidence", choices=("off", "auto", "both"), default="off",
                        help="the config's token_evidence (auto adds the teacher-forced re-scoring phase; both: off "
                             "then auto, side by side)")
    args = parser.parse_args()
    modes = ("off", "auto") if args.token_evidence == "both" else (args.token_evidence,)
    baseline = None
    if args.baseline is not None:
        here = Path(__file__).resolve().parents[1] / "src"
        child = subprocess.run([sys.executable, __file__, "--items", str(args.items), "--concurrency",
                                str(args.concurrency), "--token-evidence", args.token_evidence,
                                "--server-src", str(here)] + (["--dir", str(args.dir)] if args.dir else []),
                               capture_output=True, text=True, check=True,
                               env={**os.environ, "PYTHONPATH": str(args.baseline.resolve())})
        baseline = json.loads(child.stdout.strip().splitlines()[-1])
        print("baseline:\n" + "\n".join(child.stdout.strip().splitlines()[:-1]), flush=True)
    process, url = start_loopback(args.server_src)
    try:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            folder = Path(tmp)
            if args.compare:
                config = write_config(folder, args.items, url, args.concurrency, modes[0])
                old_total, old_stages, old = run(config, folder / "old", old_writes=True)
                old_rate = sum(old.generated.values()) / old_total
                print(f"old writes: {old_rate:,.0f} completions/s; " + ", ".join(
                    f"{k} {v:.1f} s" for k, v in sorted(old_stages.items(), key=lambda kv: -kv[1])))
            results = {}
            for mode in modes:
                (folder / mode).mkdir()
                results[mode] = measure(folder, args.items, args.concurrency, mode, url, process)
    finally:
        process.terminate()
        process.wait()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    last = results[modes[-1]]
    rate = last["completions_per_s"]
    print(f"{cores} cores; loopback server in its own process; load average {os.getloadavg()[0]:.2f}")
    if len(modes) == 2:
        print(f"auto / off: {results['auto']['completions_per_s'] / results['off']['completions_per_s']:.3f}")
    summary = {
        "benchmark": "run_end_to_end", "items": args.items, "completions": last["completions"],
        "wall_s": last["wall_s"], "completions_per_s": rate, "stages_s": last["stages_s"], "verdict": last["verdict"],
        "concurrency": args.concurrency, "cores": cores, "token_evidence": args.token_evidence,
        "load_average": round(os.getloadavg()[0], 2), "runs": results,
        "goal_per_s": GOAL, "meets_goal": rate >= GOAL,
        **({"auto_over_off": round(results["auto"]["completions_per_s"] / results["off"]["completions_per_s"], 3)}
           if len(modes) == 2 else {}),
        **({"old_writes_per_s": round(old_rate), "old_writes_stages_s": {k: round(v, 2) for k, v in old_stages.items()}}
           if args.compare else {}),
        **({"baseline": baseline, "speedup": round(rate / baseline["completions_per_s"], 3)} if baseline else {}),
    }
    if baseline and len(modes) == 2:
        summary["speedup_auto"] = round(results["auto"]["completions_per_s"]
                                        / baseline["runs"]["auto"]["completions_per_s"], 3)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
