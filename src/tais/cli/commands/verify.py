"""``tais verify DIR``: check that a run directory's evidence.json is exactly what its store implies, and that no
stored completion, score, item or config byte changed since it was written. Exit code 0 when everything matches,
1 naming what differs, 2 when DIR is not a run directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("verify", help="check a run directory's evidence against its store",
                              description=__doc__)
    p.add_argument("run", type=Path, help="run directory written by `tais run`")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from tais.pipeline.verify import verify_run

    report = verify_run(args.run)
    if report.ok:
        print(f"verified: {args.run}: evidence.json matches the store; "
              f"{report.completions_checked} completions hash to their recorded sha256")
        return 0
    for problem in report.problems:
        sys.stderr.write(f"tais: verify: {problem}\n")
    sys.stderr.write(f"tais: verify: {args.run}: {len(report.problems)} problem(s)\n")
    return 1
