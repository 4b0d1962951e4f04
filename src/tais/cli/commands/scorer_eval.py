"""``tais scorer-eval --labels CSV``: how well the refusal rules agree with human labels, beside the XSTest paper's
string-match baseline.

Each CSV is in XSTest's format: columns ``prompt``, ``completion``, ``final_label`` (``1_full_compliance``,
``2_full_refusal``, ``3_partial_refusal``; refusal = 2 or 3). Prints n, accuracy, precision, recall and Cohen's kappa
of the rules (``refusal-rules``) and of the baseline (``xstest-strmatch``), per file and pooled. ``--labels`` may be
given several times. ``--json`` prints one object whose top-level keys are the pooled figures (``n``, ``accuracy``,
``precision``, ``recall``, ``kappa``, ``baseline_accuracy``, ``baseline_precision``, ``baseline_recall``,
``baseline_kappa``), plus ``scorer``, ``baseline`` and ``files`` (the same figures per file).

Example: ``tais scorer-eval --labels xstest_v2_completions_gpt4.csv --json``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("scorer-eval", help="agreement of the refusal rules with human labels (XSTest format)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", type=Path, action="append", required=True, metavar="CSV",
                   help="labelled completions (columns prompt, completion, final_label); repeatable")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from tais.scoring.refusal import RefusalRulesScorer
    from tais.scoring.validation import Evaluation, evaluate, read_labels
    from tais.scoring.xstest_baseline import XSTestStringMatchScorer

    per_file: dict[str, Evaluation] = {}
    for path in args.labels:
        per_file[str(path)] = evaluate(read_labels(path))
    evals = list(per_file.values())
    pooled = Evaluation(rules=sum((e.rules for e in evals[1:]), evals[0].rules),
                        baseline=sum((e.baseline for e in evals[1:]), evals[0].baseline))
    if args.json:
        print(json.dumps({**pooled.to_dict(), "scorer": RefusalRulesScorer().id,
                          "baseline": XSTestStringMatchScorer().id,
                          "files": {p: e.to_dict() for p, e in per_file.items()}}, indent=2))
        return 0
    rows = [(Path(p).name, e) for p, e in per_file.items()]
    if len(rows) > 1:
        rows.append(("pooled", pooled))
    width = max(len(name) for name, _ in rows)
    print(f"{'labels':<{width}}  {'classifier':<16} {'n':>5} {'accuracy':>9} {'precision':>9} {'recall':>7} "
          f"{'kappa':>6}")
    for name, e in rows:
        for label, d in (("refusal-rules", e.rules.to_dict()), ("xstest-strmatch", e.baseline.to_dict())):
            print(f"{name:<{width}}  {label:<16} {d['n']:>5} {_f(d['accuracy']):>9} {_f(d['precision']):>9} "
                  f"{_f(d['recall']):>7} {_f(d['kappa']):>6}")
    return 0


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"
