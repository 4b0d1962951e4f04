"""``tais plan``: prompts needed to show equivalence, paired design versus the unpaired one.

n_paired: pairs for the paired Tango TOST at the margin, alpha and power when the arms disagree on a fraction
``--discordance`` of prompts (true difference 0). n_unpaired_wald: prompts per arm for an unpaired two-proportion Wald
TOST at base rate ``--rate`` (the design of the TAIS paper). ratio = n_unpaired_wald / n_paired. ``--json`` prints one
JSON object with those three keys.

At temperature > 0, ``--theta-margin M --varentropy V`` adds tokens_per_arm: the tokens each arm must emit for the
TOST on theta (the relative effective-temperature error) at margin M to reach the power when theta = 0, given the
reference's mean varentropy V (nats², per token; ``mean_varentropy`` in a T > 0 evidence.json): ``N ~ 17 / (V x
M**2)`` at alpha 0.05 and power 0.8 (:func:`tais.stats.tempering.tokens_needed`, design effect 2).

Example: ``tais plan --margin 0.03 --discordance 0.02 --rate 0.5``
"""

from __future__ import annotations

import argparse
import json
import math

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
    p.add_argument("--theta-margin", type=float, default=None,
                   help="T > 0: equivalence margin on theta (with --varentropy): adds tokens per arm")
    p.add_argument("--varentropy", type=float, default=None,
                   help="T > 0: the reference's mean varentropy per token, nats² (with --theta-margin)")
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
    if (args.theta_margin is None) != (args.varentropy is None):
        raise InputError("give both --theta-margin and --varentropy, or neither",
                         key="--theta-margin" if args.theta_margin is None else "--varentropy")
    if args.theta_margin is not None:
        if not 0.0 < args.theta_margin < 1.0:
            raise InputError(f"must lie in (0, 1), got {args.theta_margin!r}", key="--theta-margin")
        if not args.varentropy > 0.0:
            raise InputError(f"must be > 0, got {args.varentropy!r}", key="--varentropy")
        from tais.stats.tempering import tokens_needed

        result["tokens_per_arm"] = math.ceil(tokens_needed(args.theta_margin, args.varentropy, alpha=args.alpha,
                                                           power=args.power))
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"margin ±{args.margin:g}, alpha {args.alpha:g}, power {args.power:g}")
    print(f"paired Tango TOST, discordance {args.discordance:g}:   {result['n_paired']:>8} prompts "
          f"(each run by both arms)")
    print(f"unpaired Wald TOST, base rate {args.rate:g}:      {result['n_unpaired_wald']:>8} prompts per arm")
    print(f"ratio unpaired / paired:                    {result['ratio']:>8.1f}x")
    if "tokens_per_arm" in result:
        print(f"T > 0, theta TOST at ±{args.theta_margin:g}, varentropy {args.varentropy:g}: "
              f"{result['tokens_per_arm']:>8} tokens per arm")
    return 0
