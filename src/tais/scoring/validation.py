"""Validating a refusal scorer on human-labelled completions (XSTest format) against the XSTest paper's
string-match baseline.

A labels file is a CSV with columns ``prompt``, ``completion`` and ``final_label``; a label starting with ``1``
(``1_full_compliance``) means compliance, with ``2`` (``2_full_refusal``) or ``3`` (``3_partial_refusal``) refusal.
Other columns are ignored. Problems raise DataError naming the file, line and column.

:func:`evaluate` classifies every completion with a refusal scorer (:data:`REFUSAL_SCORERS`; default
:data:`DEFAULT_REFUSAL_SCORER`) and with the baseline (:func:`tais.scoring.xstest_baseline.strmatch_is_refusal`) and
tallies both against the human label. A scorer may leave a completion **undecided** (``refusal-hybrid``'s band):
undecided rows are counted apart (:class:`Tally`) and left out of the agreement figures, which therefore cover the
decided rows; ``strict_accuracy`` counts them as errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from tais.battery.mapping import ColumnMapping, check_columns
from tais.battery.tables import read_rows
from tais.errors import ConfigError, DataError
from tais.scoring.metrics import Agreement, agreement
from tais.scoring.refusal import is_refusal
from tais.scoring.xstest_baseline import strmatch_is_refusal

LABEL_COLUMNS = ColumnMapping(prompt="prompt", meta=("completion", "final_label"))
REFUSAL_SCORERS = ("refusal-hybrid", "refusal-rules", "xstest-strmatch")
DEFAULT_REFUSAL_SCORER = "refusal-hybrid"
BASELINE = "xstest-strmatch"

#: completions -> True (refusal) / False / None (undecided), one per completion
Classifier = Callable[[Sequence[str]], list]


@dataclass(frozen=True)
class Labelled:
    line: int
    prompt: str
    completion: str
    refusal: bool


@dataclass(frozen=True)
class Tally:
    """Agreement on the decided rows plus the number of undecided rows."""

    agreement: Agreement
    undecided: int = 0

    @property
    def strict_accuracy(self) -> float:
        a = self.agreement
        total = a.n + self.undecided
        return (a.tp + a.tn) / total if total else float("nan")

    def __add__(self, other: "Tally") -> "Tally":
        return Tally(self.agreement + other.agreement, self.undecided + other.undecided)

    def to_dict(self) -> dict:
        d = self.agreement.to_dict()
        return {**d, "undecided": self.undecided, "strict_accuracy": self.strict_accuracy}


@dataclass(frozen=True)
class Evaluation:
    """Agreement of a scorer and of the baseline with the human labels of one or more files."""

    scorer: Tally
    baseline: Tally

    def to_dict(self) -> dict:
        r, b = self.scorer.to_dict(), self.baseline.to_dict()
        return {**{k: r[k] for k in ("n", "undecided", "accuracy", "strict_accuracy", "precision", "recall",
                                     "kappa")},
                **{f"baseline_{k}": b[k] for k in ("accuracy", "precision", "recall", "kappa")}}

    def __add__(self, other: "Evaluation") -> "Evaluation":
        return Evaluation(self.scorer + other.scorer, self.baseline + other.baseline)


def read_labels(path: Path) -> list[Labelled]:
    """The labelled completions of one XSTest-format CSV."""
    rows = read_rows(Path(path), "csv")
    check_columns(rows, LABEL_COLUMNS, path=str(path), header_line=1)
    out = []
    for row in rows:
        label = str(row.fields["final_label"]).strip()
        if not label or label[0] not in "123":
            raise DataError(f"final_label {label!r} must start with 1 (compliance), 2 or 3 (refusal)", path=str(path),
                            line=row.line, column="final_label")
        out.append(Labelled(row.line, str(row.fields["prompt"]), str(row.fields["completion"]), label[0] in "23"))
    return out


def classifier(name: str, model=None) -> Classifier:
    """The refusal decision of scorer ``name`` over a list of completions; ``model`` (a
    :class:`tais.scoring.refusal_model.RefusalModel`) replaces ``refusal-hybrid``'s shipped model."""
    if name == "refusal-rules":
        return lambda texts: [is_refusal(t) for t in texts]
    if name == "xstest-strmatch":
        return lambda texts: [strmatch_is_refusal(t) for t in texts]
    if name == "refusal-hybrid":
        from tais.scoring.hybrid import HybridRefusalScorer

        scorer = HybridRefusalScorer(model)
        return lambda texts: [scorer.decide(t) for t in texts]
    raise ConfigError(f"unknown refusal scorer {name!r}; known: {', '.join(REFUSAL_SCORERS)}", key="scorer")


def tally(labelled: Sequence[Labelled], decisions: Sequence[bool | None]) -> Tally:
    """Agreement on the decided rows and the count of undecided ones."""
    kept = [(x.refusal, d) for x, d in zip(labelled, decisions) if d is not None]
    return Tally(agreement([t for t, _ in kept], [bool(d) for _, d in kept]), len(labelled) - len(kept))


def evaluate(labelled: Sequence[Labelled], scorer: str = DEFAULT_REFUSAL_SCORER, *, model=None) -> Evaluation:
    texts = [x.completion for x in labelled]
    return Evaluation(scorer=tally(labelled, classifier(scorer, model)(texts)),
                      baseline=tally(labelled, classifier(BASELINE)(texts)))
