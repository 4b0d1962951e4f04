"""``tais plan``: prompts needed to show equivalence, paired design versus the unpaired one.

n_paired: pairs for the paired Tango TOST at the margin, alpha and power when the arms disagree on a fraction
``--discordance`` of prompts (true difference 0). n_unpaired_wald: prompts per arm for an unpaired two-proportion Wald
TOST at base rate ``--rate`` (the design of the TAIS paper). ratio = n_unpaired_wald / n_paired. ``--json`` prints one
JSON object with those three keys.

Example: ``tais plan --margin 0.03 --discordance 0.02 --rate 0.5``
"""

from __future__ import annotations

import argparse
import json

from tais.errors import InputError

from .stats import check_margin_alpha


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plan", help="prompts needed: paired TOST vs unpaired Wald TOST", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--margin", type=float, default=0.03, help="equivalence margin (default 0.03)")
    p.add_argument("--alpha", type=float, default=0.05, help="TOST level (default 0.05)")
    p.add_argument("--power", type=float, default=0.8, help="target power (default 0.8)")
    p.add_argument("--discordance", type=float, required=True,
                   help="expected fraction of prompts where the two arms' outcomes differ, in (0, 1]")
    p.add_argument("--rate", type=float, required=True, help="base rate of the outcome for the unpaired design")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def plan(margin: float, alpha: float, power: float, discordance: float, rate: float) -> dict:
    from tais.stats import n_paired_tost, n_unpaired_wald_tost

    paired = n_paired_tost(margin, alpha, power, discordance)
    unpaired = n_unpaired_wald_tost(margin, alpha, power, rate)
    return {"n_paired": paired, "n_unpaired_wald": unpaired, "ratio": unpaired / paired}


def run(args: argparse.Namespace) -> int:
    check_margin_alpha(args.margin, args.alpha)
    if not 0.0 < args.power < 1.0:
        raise InputError(f"must lie in (0, 1), got {args.power!r}", key="--power")
    if not 0.0 < args.discordance <= 1.0:
        raise InputError(f"must lie in (0, 1], got {args.discordance!r}", key="--discordance")
    if not 0.0 < args.rate < 1.0:
        raise InputError(f"must lie in (0, 1), got {args.rate!r}", key="--rate")
    result = plan(args.margin, args.alpha, args.power, args.discordance, args.rate)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"margin ±{args.margin:g}, alpha {args.alpha:g}, power {args.power:g}")
    print(f"paired Tango TOST, discordance {args.discordance:g}:   {result['n_paired']:>8} prompts "
          f"(each run by both arms)")
    print(f"unpaired Wald TOST, base rate {args.rate:g}:      {result['n_unpaired_wald']:>8} prompts per arm")
    print(f"ratio unpaired / paired:                    {result['ratio']:>8.1f}x")
    return 0
