"""``tais run CONFIG [--out DIR]``: generate, score, screen and report; resumable (run it again to finish an
interrupted run). Exit code: 0 PASS, 1 FAIL, 3 INCONCLUSIVE, 2 bad input."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run (or resume) a screen config", description=__doc__)
    p.add_argument("config", type=Path, help="screen config (YAML); `tais init` writes an example")
    p.add_argument("--out", type=Path, default=None, help="run directory (default: the config's out, or runs/NAME)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--executor", choices=("local", "ray"), default=None,
                   help="where the arms run (default: the config's executor:, else local); docs/ray.md")
    p.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="the Ray cluster for --executor ray: auto, local, HOST:PORT or ray://HOST:PORT")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from tais.cli.render import ProgressDisplay, print_result
    from tais.pipeline.config import load_config
    from tais.pipeline.run import run_config

    config = load_config(args.config)
    with ProgressDisplay(enabled=not args.quiet) as progress:
        outcome = run_config(config, out_dir=args.out, progress=progress, executor=args.executor,
                             ray_address=args.ray_address)
    print_result(outcome.result, outcome.reports, outcome.out_dir)
    return outcome.result.verdict.exit_code
