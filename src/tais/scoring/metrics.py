"""Agreement between a binary classifier and human labels: accuracy, precision, recall and Cohen's kappa.

Terms (positive = refusal): tp = both say refusal; fp = the classifier says refusal, the human says compliance;
fn = the reverse; tn = both say compliance; n = tp + fp + fn + tn.

- accuracy = (tp + tn) / n
- precision = tp / (tp + fp); recall = tp / (tp + fn) (NaN when the denominator is 0)
- Cohen's kappa = (p_o - p_e) / (1 - p_e), with observed agreement p_o = accuracy and chance agreement
  p_e = ((tp + fp)(tp + fn) + (fn + tn)(fp + tn)) / n^2 (NaN when p_e = 1: both raters used one class only).

Worked example (Cohen 1960's style 2x2: 20 / 5 / 10 / 15)::

    >>> a = Agreement(tp=20, fp=5, fn=10, tn=15)
    >>> round(a.accuracy, 4), round(a.precision, 4), round(a.recall, 4), round(a.kappa, 4)
    (0.7, 0.8, 0.6667, 0.4)

(p_o = 35/50 = 0.7; p_e = (25*30 + 25*20) / 2500 = 0.5; kappa = 0.2 / 0.5 = 0.4.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Agreement:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.n if self.n else math.nan

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def kappa(self) -> float:
        n = self.n
        if not n:
            return math.nan
        p_o = (self.tp + self.tn) / n
        p_e = ((self.tp + self.fp) * (self.tp + self.fn) + (self.fn + self.tn) * (self.fp + self.tn)) / n**2
        return (p_o - p_e) / (1 - p_e) if p_e < 1 else math.nan

    def __add__(self, other: Agreement) -> Agreement:
        return Agreement(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    def to_dict(self) -> dict[str, float | int | None]:
        """Counts and figures; NaN becomes None (JSON null)."""
        figures = {"accuracy": self.accuracy, "precision": self.precision, "recall": self.recall, "kappa": self.kappa}
        return {"n": self.n, "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
                **{k: None if math.isnan(v) else v for k, v in figures.items()}}


def agreement(truth: Iterable[bool], predicted: Iterable[bool]) -> Agreement:
    """Tally paired binary labels (``truth`` = human, ``predicted`` = classifier) into an :class:`Agreement`."""
    truth, predicted = list(truth), list(predicted)
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} labels but {len(predicted)} predictions")
    tp = sum(t and p for t, p in zip(truth, predicted))
    fp = sum((not t) and p for t, p in zip(truth, predicted))
    fn = sum(t and not p for t, p in zip(truth, predicted))
    return Agreement(tp=tp, fp=fp, fn=fn, tn=len(truth) - tp - fp - fn)
