"""``tais scorer-eval --labels CSV``: how well a refusal scorer agrees with human labels, beside the XSTest paper's
string-match baseline.

Each CSV is in XSTest's format: columns ``prompt``, ``completion``, ``final_label`` (``1_full_compliance``,
``2_full_refusal``, ``3_partial_refusal``; refusal = 2 or 3). Prints n, undecided, accuracy, precision, recall and
Cohen's kappa of the scorer (``--scorer``: ``refusal-hybrid`` (default), ``refusal-rules`` or ``xstest-strmatch``)
and of the baseline (``xstest-strmatch``), per file and pooled. ``--labels`` may be given several times. Undecided
completions (``refusal-hybrid``'s band) are left out of the figures and counted apart; ``strict_accuracy`` counts
them as errors (column ``strict``). ``--json`` prints one object whose top-level keys are the pooled figures (``n``, ``undecided``,
``accuracy``, ``strict_accuracy``, ``precision``, ``recall``, ``kappa``, ``baseline_accuracy``,
``baseline_precision``, ``baseline_recall``, ``baseline_kappa``), plus ``scorer``, ``baseline`` and ``files`` (the
same figures per file).

``--lomo`` (two or more files): leave one model out. Each file is held out in turn; ``refusal-hybrid``'s model is
retrained on the other files; every refusal scorer and the baseline are scored on the held-out file. Prints one row
per (held-out file, scorer), the mean accuracy per scorer, and which refusal styles each scorer misses
(:mod:`tais.scoring.refusal_styles`). With ``--json``: ``held_out``, ``mean_accuracy``, ``styles``,
``false_alarms``.

Example: ``tais scorer-eval --labels xstest_v2_completions_gpt4.csv --json``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SCORER_CHOICES = ("refusal-hybrid", "refusal-rules", "xstest-strmatch")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("scorer-eval", help="agreement of a refusal scorer with human labels (XSTest format)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", type=Path, action="append", required=True, metavar="CSV",
                   help="labelled completions (columns prompt, completion, final_label); repeatable")
    p.add_argument("--scorer", default=None, metavar="NAME",
                   help=f"refusal scorer to evaluate: {', '.join(SCORER_CHOICES)} (default {SCORER_CHOICES[0]})")
    p.add_argument("--lomo", action="store_true", help="leave one model (labels file) out; needs two or more files")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from tais.errors import ConfigError
    from tais.scoring.validation import DEFAULT_REFUSAL_SCORER, read_labels

    scorer = args.scorer or DEFAULT_REFUSAL_SCORER
    if scorer not in SCORER_CHOICES:
        raise ConfigError(f"unknown refusal scorer {scorer!r}; known: {', '.join(SCORER_CHOICES)}", key="--scorer")
    files = {str(path): read_labels(path) for path in args.labels}
    if args.lomo:
        if len(files) < 2:
            raise ConfigError("--lomo needs two or more --labels files (one is held out, the rest train)",
                              key="--labels")
        return _lomo(files, args.json)
    return _plain(files, scorer, args.json)


def _plain(files: dict, scorer: str, as_json: bool) -> int:
    from tais.scoring.validation import BASELINE, Evaluation, evaluate
    from tais.scoring.registry import get_scorer

    per_file: dict[str, Evaluation] = {p: evaluate(rows, scorer) for p, rows in files.items()}
    evals = list(per_file.values())
    pooled = sum(evals[1:], evals[0])
    if as_json:
        print(json.dumps({**pooled.to_dict(), "scorer": get_scorer(scorer).id, "baseline": get_scorer(BASELINE).id,
                          "files": {p: e.to_dict() for p, e in per_file.items()}}, indent=2))
        return 0
    rows = [(Path(p).name, e) for p, e in per_file.items()]
    if len(rows) > 1:
        rows.append(("pooled", pooled))
    width = max(len(name) for name, _ in rows)
    print(f"{'labels':<{width}}  {'classifier':<16} {'n':>5} {'undec':>5} {'accuracy':>9} {'strict':>7} "
          f"{'precision':>9} {'recall':>7} {'kappa':>6}")
    for name, e in rows:
        for label, t in ((scorer, e.scorer), (BASELINE, e.baseline)):
            print(_row(name, width, label, t))
    return 0


def _lomo(files: dict, as_json: bool) -> int:
    from tais.scoring.lomo import lomo
    from tais.scoring.refusal_styles import STYLE_NAMES

    result = lomo(files, SCORER_CHOICES)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    width = max(len(Path(f).name) for f in result.files)
    print("leave one model out: refusal-hybrid retrained on the other files; refusal-rules was hand-tuned on all "
          "XSTest files")
    print(f"{'held out':<{width}}  {'classifier':<16} {'n':>5} {'undec':>5} {'accuracy':>9} {'strict':>7} "
          f"{'precision':>9} {'recall':>7} {'kappa':>6}")
    for f in result.files:
        for s in result.scorers:
            print(_row(Path(f).name, width, s, result.tallies[(f, s)]))
    print("mean accuracy (decided rows): " + ", ".join(f"{s} {result.mean_accuracy(s):.3f}" for s in result.scorers))
    print("mean strict accuracy (undecided = wrong): " + ", ".join(
        f"{s} {result.mean_accuracy(s, strict=True):.3f}" for s in result.scorers))
    print()
    print(f"{'refusal style':<16} {'refusals':>8}  " + "  ".join(f"{s + ' missed':>22}" for s in result.scorers))
    for st in STYLE_NAMES:
        n = result.styles[(st, result.scorers[0])][1]
        print(f"{st:<16} {n:>8}  " + "  ".join(f"{result.styles[(st, s)][0]:>22}" for s in result.scorers))
    n = result.false_alarms[result.scorers[0]][1]
    print(f"{'(compliances)':<16} {n:>8}  " + "  ".join(f"{result.false_alarms[s][0]:>15} flagged" for s in
                                                        result.scorers))
    return 0


def _row(name: str, width: int, label: str, t) -> str:
    d = t.to_dict()
    return (f"{name:<{width}}  {label:<16} {d['n'] + d['undecided']:>5} {d['undecided']:>5} {_f(d['accuracy']):>9} "
            f"{_f(d['strict_accuracy']):>7} {_f(d['precision']):>9} {_f(d['recall']):>7} {_f(d['kappa']):>6}")


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"
