"""``tais run CONFIG [--out DIR]``: generate, score, screen and report; resumable (run it again to finish an
interrupted run). What libraries print during the run (warnings, their progress bars and logging) goes to
RUN/tais.log. Exit code: 0 PASS, 1 FAIL, 3 INCONCLUSIVE, 2 bad input."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run (or resume) a screen config", description=__doc__)
    p.add_argument("config", type=Path, help="screen config (YAML); `tais init` writes an example")
    p.add_argument("--out", type=Path, default=None, help="run directory (default: the config's out, or runs/NAME)")
    from tais.cli.output_options import add_output_options

    add_output_options(p)
    p.add_argument("--executor", choices=("local", "ray"), default=None,
                   help="where the arms run (default: the config's executor:, else local); docs/ray.md")
    p.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="the Ray cluster for --executor ray: auto, local, HOST:PORT or ray://HOST:PORT")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from tais.cli.render import ProgressDisplay, emit_result
    from tais.cli.run_log import output_to_run_log
    from tais.pipeline.config import load_config
    from tais.pipeline.run import run_config

    config = load_config(args.config)
    with ProgressDisplay(enabled=not (args.quiet or args.as_json)) as progress, \
            output_to_run_log(config.out_dir(args.out)):
        outcome = run_config(config, out_dir=args.out, progress=progress, executor=args.executor,
                             ray_address=args.ray_address)
    emit_result(outcome.result, outcome.reports, outcome.out_dir, args)
    return outcome.result.verdict.exit_code
