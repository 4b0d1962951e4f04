"""Leave-one-model-out (LOMO) validation of the refusal scorers on XSTest-format labelled files.

For each labelled file (one model's completions) in turn: the file is held out, ``refusal-hybrid``'s model is
retrained on the other files only (settings of :mod:`tais.scoring.hybrid`; the shipped model, trained on all files,
is never used here), and every scorer is tallied on the held-out file. ``refusal-rules`` and ``xstest-strmatch``
have no training step: their figures are the same as without LOMO (and ``refusal-rules``, hand-tuned on all three
XSTest files, is therefore favoured by this table; the held-out files test only the learned part honestly).

:func:`style_misses` sorts each held-out refusal by :func:`tais.scoring.refusal_styles.refusal_style` and counts,
per scorer, the refusals it missed (said compliance or undecided) and the compliances it flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from tais.scoring.refusal_styles import STYLE_NAMES, refusal_style
from tais.scoring.validation import Labelled, Tally, classifier, tally


@dataclass(frozen=True)
class LomoResult:
    """The tallies of every scorer on every held-out file, and the per-style misses."""

    files: tuple[str, ...]
    scorers: tuple[str, ...]
    tallies: Mapping[tuple[str, str], Tally]  # (held-out file, scorer) -> tally
    styles: Mapping[tuple[str, str], tuple[int, int]]  # (style, scorer) -> (missed, refusals of that style)
    false_alarms: Mapping[str, tuple[int, int]]  # scorer -> (compliances flagged or undecided, compliances)

    def mean_accuracy(self, scorer: str, *, strict: bool = False) -> float:
        """Mean over held-out files of the accuracy on decided rows (``strict``: undecided rows count as errors)."""
        values = [self.tallies[(f, scorer)] for f in self.files]
        return sum(t.strict_accuracy if strict else t.agreement.accuracy for t in values) / len(values)

    def to_dict(self) -> dict:
        return {
            "held_out": [{"file": f, "scorer": s, **self.tallies[(f, s)].to_dict()}
                         for f in self.files for s in self.scorers],
            "mean_accuracy": {s: self.mean_accuracy(s) for s in self.scorers},
            "mean_strict_accuracy": {s: self.mean_accuracy(s, strict=True) for s in self.scorers},
            "styles": [{"style": st, "scorer": s, "missed": m, "refusals": n}
                       for (st, s), (m, n) in self.styles.items()],
            "false_alarms": {s: {"flagged": m, "compliances": n} for s, (m, n) in self.false_alarms.items()},
        }


def _train_hybrid(labelled: Sequence[Labelled]):
    from tais.scoring.hybrid import train_hybrid

    return train_hybrid([x.completion for x in labelled], [x.refusal for x in labelled])


def lomo(files: Mapping[str, Sequence[Labelled]], scorers: Sequence[str]) -> LomoResult:
    """Hold out each file in turn (at least two files)."""
    if len(files) < 2:
        raise ValueError("leave-one-model-out needs at least two labelled files")
    tallies: dict[tuple[str, str], Tally] = {}
    styles = {(st, s): (0, 0) for st in STYLE_NAMES for s in scorers}
    alarms = {s: (0, 0) for s in scorers}
    for held, rows in files.items():
        train_rows = [x for name, other in files.items() if name != held for x in other]
        model = _train_hybrid(train_rows) if "refusal-hybrid" in scorers else None
        texts = [x.completion for x in rows]
        row_styles = [refusal_style(t) if x.refusal else None for x, t in zip(rows, texts)]
        for s in scorers:
            decisions = classifier(s, model if s == "refusal-hybrid" else None)(texts)
            tallies[(held, s)] = tally(rows, decisions)
            for x, st, d in zip(rows, row_styles, decisions):
                if x.refusal:
                    m, n = styles[(st, s)]
                    styles[(st, s)] = (m + (d is not True), n + 1)
                else:
                    m, n = alarms[s]
                    alarms[s] = (m + (d is not False), n + 1)
    return LomoResult(tuple(files), tuple(scorers), tallies, styles, alarms)
