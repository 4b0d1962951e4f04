"""Validating the refusal scorer on human-labelled completions (XSTest format) against the XSTest paper's
string-match baseline.

A labels file is a CSV with columns ``prompt``, ``completion`` and ``final_label``; a label starting with ``1``
(``1_full_compliance``) means compliance, with ``2`` (``2_full_refusal``) or ``3`` (``3_partial_refusal``) refusal.
Other columns are ignored. Problems raise DataError naming the file, line and column.

:func:`evaluate` scores every completion with the rules (:func:`tais.scoring.refusal.is_refusal`) and the baseline
(:func:`tais.scoring.xstest_baseline.strmatch_is_refusal`) and tallies both against the human label.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tais.battery.mapping import ColumnMapping, check_columns
from tais.battery.tables import read_rows
from tais.errors import DataError
from tais.scoring.metrics import Agreement, agreement
from tais.scoring.refusal import is_refusal
from tais.scoring.xstest_baseline import strmatch_is_refusal

LABEL_COLUMNS = ColumnMapping(prompt="prompt", meta=("completion", "final_label"))


@dataclass(frozen=True)
class Labelled:
    line: int
    prompt: str
    completion: str
    refusal: bool


@dataclass(frozen=True)
class Evaluation:
    """Agreement of the rules and of the baseline with the human labels of one or more files."""

    rules: Agreement
    baseline: Agreement

    def to_dict(self) -> dict:
        r, b = self.rules.to_dict(), self.baseline.to_dict()
        return {**{k: r[k] for k in ("n", "accuracy", "precision", "recall", "kappa")},
                **{f"baseline_{k}": b[k] for k in ("accuracy", "precision", "recall", "kappa")}}


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


def evaluate(labelled: Sequence[Labelled]) -> Evaluation:
    truth = [x.refusal for x in labelled]
    return Evaluation(rules=agreement(truth, [is_refusal(x.completion) for x in labelled]),
                      baseline=agreement(truth, [strmatch_is_refusal(x.completion) for x in labelled]))
