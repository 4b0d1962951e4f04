"""``tais demo [--out DIR]``: the zero-config demo. Offline, on CPU: SmolLM2-135M-Instruct, the built-in smoke
battery and 100 AdvBench goals, a reference arm, two strict speculative arms, an A/A null arm and a deliberately broken
positive control. Prints the verdict table and the report path. Exit code: the verdict's (the positive control makes it 1: FAIL)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="run the offline CPU demo screen", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("tais-demo"), help="run directory (default: ./tais-demo)")
    p.add_argument("--items", type=int, default=None,
                   help="prompts per task (default 100: all 30 of each smoke task, 100 AdvBench goals)")
    p.add_argument("--max-tokens", type=int, default=None, dest="max_tokens", help="tokens per completion (default 24)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from tais.cli.render import ProgressDisplay, print_result, stdout_console
    from tais.errors import InputError
    from tais.pipeline.config import load_config
    from tais.pipeline.demo import DEMO_ITEMS, DEMO_MAX_TOKENS, write_demo_config
    from tais.pipeline.run import run_config

    items = DEMO_ITEMS if args.items is None else args.items
    max_tokens = DEMO_MAX_TOKENS if args.max_tokens is None else args.max_tokens
    if items < 1 or max_tokens < 1:
        raise InputError("--items and --max-tokens must be >= 1")
    started = time.perf_counter()
    config = load_config(write_demo_config(args.out, items=items, max_tokens=max_tokens))
    with ProgressDisplay(enabled=not args.quiet) as progress:
        outcome = run_config(config, out_dir=args.out, progress=progress)
    print_result(outcome.result, outcome.reports, outcome.out_dir)
    stdout_console().print(f"demo wall time: {time.perf_counter() - started:.0f} s; config: {config.path}")
    return outcome.result.verdict.exit_code
