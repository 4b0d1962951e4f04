"""``tais report RUN``: re-render a run's reports (evidence.json, report.md, report.html) from its store, with the
thresholds of its last screen, and print the verdict table. Exit code: the verdict's (0 / 1 / 3), 2 bad input."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="re-render a run's reports from its store", description=__doc__)
    p.add_argument("run", type=Path, help="run directory written by `tais run`")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from tais.cli.render import print_result
    from tais.pipeline.analysis import rescreen

    result, reports = rescreen(args.run, keep_last_thresholds=True)
    print_result(result, reports, args.run)
    return result.verdict.exit_code
