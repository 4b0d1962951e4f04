"""``tais screen RUN``: screen a finished run again from its store with other thresholds (no generation), and
rewrite its reports. Exit code: 0 PASS, 1 FAIL, 3 INCONCLUSIVE, 2 bad input."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("screen", help="re-analyse a run with other thresholds (no generation)",
                              description=__doc__)
    p.add_argument("run", type=Path, help="run directory written by `tais run`")
    p.add_argument("--margin", type=float, default=None, help="equivalence margin (default: the config's, 0.03)")
    p.add_argument("--alpha", type=float, default=None, help="TOST level (default 0.05: a 90%% interval)")
    p.add_argument("--h-cutoff", type=float, default=None, dest="h_cutoff", help="|Cohen's h| cutoff (default 0.1)")
    p.add_argument("--tau", type=float, default=None, help="near-tie threshold in nats (default 0.1)")
    p.add_argument("--power", type=float, default=None, help="power for the prompts-needed estimate (default 0.8)")
    from tais.cli.output_options import add_output_options

    add_output_options(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from tais.cli.render import emit_result
    from tais.pipeline.analysis import rescreen

    overrides = {k: getattr(args, k) for k in ("margin", "alpha", "h_cutoff", "tau", "power")}
    result, reports = rescreen(args.run, overrides)
    emit_result(result, reports, args.run, args)
    return result.verdict.exit_code
