"""``tais stats paired``: the paired statistics of one 2x2 table, without running any model.

b = #(reference 1, candidate 0) and c = #(reference 0, candidate 1); y = 1 is the behaviour the task wants. Prints the
rates, the paired difference with its Tango interval at level 1 - 2*alpha, the TOST p-value and decision at the margin,
the exact McNemar p-value, Cohen's h and Wilson 95% intervals on both rates; ``--json`` prints one JSON object with the
keys n, p_reference, p_candidate, diff, ci_low, ci_high, tost_p, equivalent, mcnemar_p, cohens_h, wilson_reference,
wilson_candidate.

Example: ``tais stats paired --a 650 --b 6 --c 4 --d 340 --json``
"""

from __future__ import annotations

import argparse
import json

from tais.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("stats", help="paired statistics of a 2x2 table (no model run)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="stats_command", metavar="KIND", parser_class=type(p))
    paired = sub.add_parser("paired", help="paired 2x2 table: Tango CI, TOST, McNemar, h, Wilson",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, meaning in (("a", "pairs with reference 1 and candidate 1"), ("b", "reference 1, candidate 0"),
                          ("c", "reference 0, candidate 1"), ("d", "reference 0, candidate 0")):
        paired.add_argument(f"--{name}", type=int, required=True, metavar="N", help=meaning)
    paired.add_argument("--margin", type=float, default=0.03, help="equivalence margin on p_C - p_R (default 0.03)")
    paired.add_argument("--alpha", type=float, default=0.05,
                        help="TOST level; the interval is at 1 - 2*alpha (default 0.05)")
    paired.add_argument("--json", action="store_true", help="print one JSON object")
    paired.set_defaults(func=run_paired)
    p.set_defaults(func=lambda args: _missing_kind(p))


def _missing_kind(parser: argparse.ArgumentParser) -> int:
    parser.error("choose a kind: paired")
    return 2


def check_margin_alpha(margin: float, alpha: float) -> None:
    """Raise InputError naming the option when margin is outside (0, 1) or alpha outside (0, 0.5)."""
    if not 0.0 < margin < 1.0:
        raise InputError(f"must lie in (0, 1), got {margin!r}", key="--margin")
    if not 0.0 < alpha < 0.5:
        raise InputError(f"must lie in (0, 0.5), got {alpha!r}", key="--alpha")


def paired_summary(a: int, b: int, c: int, d: int, margin: float, alpha: float) -> dict:
    """The JSON object of ``tais stats paired`` for one table."""
    from tais.stats import PairedTable, cohens_h, mcnemar_exact, paired_tost, wilson_interval

    t = PairedTable(a, b, c, d)
    tost = paired_tost(b, c, t.n, margin=margin, alpha=alpha)
    return {
        "n": t.n,
        "p_reference": t.p_reference,
        "p_candidate": t.p_candidate,
        "diff": t.diff,
        "ci_low": tost.ci_low,
        "ci_high": tost.ci_high,
        "tost_p": tost.p_value,
        "equivalent": tost.equivalent,
        "mcnemar_p": mcnemar_exact(b, c),
        "cohens_h": cohens_h(t.p_candidate, t.p_reference),
        "wilson_reference": list(wilson_interval(a + b, t.n)),
        "wilson_candidate": list(wilson_interval(a + c, t.n)),
    }


def run_paired(args: argparse.Namespace) -> int:
    for name in ("a", "b", "c", "d"):
        if getattr(args, name) < 0:
            raise InputError(f"count must be >= 0, got {getattr(args, name)}", key=f"--{name}")
    if args.a + args.b + args.c + args.d == 0:
        raise InputError("the table is empty: a + b + c + d must be > 0", key="--a/--b/--c/--d")
    check_margin_alpha(args.margin, args.alpha)
    s = paired_summary(args.a, args.b, args.c, args.d, args.margin, args.alpha)
    if args.json:
        print(json.dumps(s))
        return 0
    level = 100 * (1 - 2 * args.alpha)
    decision = "equivalent" if s["equivalent"] else "not shown equivalent"
    rows = [
        ("pairs n", f"{s['n']}  (a={args.a} b={args.b} c={args.c} d={args.d})"),
        ("reference rate", f"{s['p_reference']:.4f}  Wilson 95% [{s['wilson_reference'][0]:.4f}, "
                           f"{s['wilson_reference'][1]:.4f}]"),
        ("candidate rate", f"{s['p_candidate']:.4f}  Wilson 95% [{s['wilson_candidate'][0]:.4f}, "
                           f"{s['wilson_candidate'][1]:.4f}]"),
        ("difference C-R", f"{s['diff']:+.4f}  Tango {level:g}% [{s['ci_low']:+.4f}, {s['ci_high']:+.4f}]"),
        (f"TOST ±{args.margin:g}", f"p = {s['tost_p']:.4g}  -> {decision}"),
        ("McNemar exact", f"p = {s['mcnemar_p']:.4g}"),
        ("Cohen's h", f"{s['cohens_h']:+.4f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0
