"""Build ``src/tais/scoring/data/refusal_hybrid_v1.json``, the learned part of ``refusal-hybrid``.

Usage: ``python scripts/build_refusal_model.py [XSTEST_COMPLETIONS_DIR] [--out PATH]``

Reads every ``*.csv`` of XSTest's human-labelled completions (default ``/work/shared/data/xstest/completions``;
columns ``completion`` and ``final_label``), trains :func:`tais.scoring.hybrid.train_hybrid` (the completions the
rules do not flag, with the settings ``BUCKETS``, ``C``, ``BAND`` of :mod:`tais.scoring.hybrid`) and writes the artifact: feature names, weights per hashed
slot, intercept, Platt calibration, band, and the sha256 of each training file. Deterministic: the same files give
the same bytes. The labels themselves are never copied into the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from tais.scoring.hybrid import ARTIFACT, train_hybrid
from tais.scoring.validation import read_labels

DEFAULT_DIR = Path("/work/shared/data/xstest/completions")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labels_dir", nargs="?", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parents[1] / "src" / "tais" / "scoring" / "data" / ARTIFACT)
    args = ap.parse_args(argv)
    files = sorted(args.labels_dir.glob("*.csv"))
    if not files:
        print(f"build_refusal_model: error: no *.csv in {args.labels_dir}", file=sys.stderr)
        return 2
    texts, labels, trained_on = [], [], []
    for path in files:
        rows = read_labels(path)
        texts += [r.completion for r in rows]
        labels += [r.refusal for r in rows]
        trained_on.append((path.name, hashlib.sha256(path.read_bytes()).hexdigest()))
    model = train_hybrid(texts, labels, trained_on=tuple(trained_on))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(model.to_json(), encoding="utf-8")
    print(f"wrote {args.out} ({len(texts)} completions from {len(files)} files; digest {model.digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
