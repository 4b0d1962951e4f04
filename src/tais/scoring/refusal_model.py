"""A logistic refusal model with calibrated probabilities: training (numpy + scipy) and the shipped artifact (JSON).

Training (:func:`train`): L2-penalised logistic regression on the feature vectors of
:mod:`tais.scoring.refusal_features`, minimising ``sum_i logloss(y_i, x_i.w + b) + ||w||^2 / (2 C)`` (intercept not
penalised: the objective of scikit-learn's ``LogisticRegression(C=C)``, which the tests compare against) with
L-BFGS. The raw score ``z = x.w + b`` is then calibrated by Platt scaling, ``p = 1 / (1 + exp(-(a z + c)))``, with
``(a, c)`` fitted (unpenalised) on out-of-fold scores of :data:`FOLDS` folds (row ``i`` in fold ``i % FOLDS``), so
the calibration never sees a score of a row the weights were fitted on.

The artifact (:class:`RefusalModel`, ``to_json`` / ``from_json``) holds the feature names, the bucket count, the
weights (rounded to 6 digits), the intercept, Platt's ``(a, c)``, the undecided band and the sha256 of every
training file: numbers and names, no text.

Worked example (two separable points; the probabilities move the right way)::

    >>> import numpy as np
    >>> m = fit_logistic(np.array([[0.0], [1.0], [0.0], [1.0]]), np.array([0, 1, 0, 1]), c=10.0)
    >>> bool(m[0][0] > 0), bool(m[1] < 0)
    (True, True)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from tais.scoring.refusal_features import NAMED_FEATURES, feature_matrix, feature_vector

FORMAT = 1
FOLDS = 5


def fit_logistic(x: np.ndarray, y: np.ndarray, *, c: float | None) -> tuple[np.ndarray, float]:
    """Weights and intercept of a logistic regression; ``c=None`` means no penalty.

    x: [n, d] float, y: [n] in {0, 1}."""
    n, d = x.shape
    y = np.asarray(y, dtype=float)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        z = x @ w + b  # [n]
        # logloss = log(1 + e^z) - y z, computed stably
        value = float(np.sum(np.logaddexp(0.0, z) - y * z))
        r = expit(z) - y  # [n]
        grad = np.concatenate([x.T @ r, [r.sum()]])
        if c is not None:
            value += float(w @ w) / (2 * c)
            grad[:d] += w / c
        return value, grad

    res = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B",
                   options={"maxiter": 5000, "gtol": 1e-8, "ftol": 1e-12})
    return res.x[:d], float(res.x[d])


def platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt's ``(a, c)``: an unpenalised logistic fit of the label on the raw score. scores: [n], y: [n]."""
    w, b = fit_logistic(np.asarray(scores, dtype=float)[:, None], y, c=None)
    return float(w[0]), b


@dataclass(frozen=True)
class RefusalModel:
    """A trained model: p(refusal | text) = Platt(x(text).w + b); ``band`` = (lo, hi) is the undecided range."""

    version: str
    buckets: int
    weights: tuple[float, ...]
    intercept: float
    platt_a: float
    platt_c: float
    band: tuple[float, float]
    c: float
    trained_on: tuple[tuple[str, str], ...] = field(default=())

    def probability(self, text: str) -> float:
        z = float(feature_vector(text, buckets=self.buckets) @ np.asarray(self.weights) + self.intercept)
        return float(expit(self.platt_a * z + self.platt_c))

    def decide(self, p: float) -> bool | None:
        """True (refusal) above the band, False below it, None inside it (undecided)."""
        lo, hi = self.band
        if lo <= p <= hi:
            return None
        return p > hi

    def to_json(self) -> str:
        body = {"format": FORMAT, "version": self.version, "named_features": list(NAMED_FEATURES),
                "buckets": self.buckets, "weights": [round(w, 6) for w in self.weights],
                "intercept": round(self.intercept, 6), "platt": [round(self.platt_a, 6), round(self.platt_c, 6)],
                "band": list(self.band), "c": self.c,
                "trained_on": [{"file": f, "sha256": h} for f, h in self.trained_on]}
        return json.dumps(body, indent=0, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "RefusalModel":
        d = json.loads(text)
        if d.get("format") != FORMAT or tuple(d["named_features"]) != NAMED_FEATURES:
            raise ValueError("refusal model artifact does not match this version's features; rebuild it with "
                             "scripts/build_refusal_model.py")
        return cls(version=d["version"], buckets=int(d["buckets"]), weights=tuple(map(float, d["weights"])),
                   intercept=float(d["intercept"]), platt_a=float(d["platt"][0]), platt_c=float(d["platt"][1]),
                   band=(float(d["band"][0]), float(d["band"][1])), c=float(d["c"]),
                   trained_on=tuple((t["file"], t["sha256"]) for t in d["trained_on"]))

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:8]


def train(texts: list[str], labels: list[bool], *, version: str, buckets: int, c: float,
          band: tuple[float, float], trained_on: tuple[tuple[str, str], ...] = ()) -> RefusalModel:
    """Fit weights on all rows and Platt's calibration on out-of-fold raw scores (see the module docstring)."""
    x = feature_matrix(texts, buckets=buckets)  # [n, d]
    y = np.array(labels, dtype=float)  # [n]
    folds = np.arange(len(texts)) % FOLDS
    oof = np.zeros(len(texts))
    for k in range(FOLDS):
        w, b = fit_logistic(x[folds != k], y[folds != k], c=c)
        oof[folds == k] = x[folds == k] @ w + b
    a, cc = platt(oof, y)
    w, b = fit_logistic(x, y, c=c)
    return RefusalModel(version=version, buckets=buckets, weights=tuple(float(v) for v in w), intercept=b,
                        platt_a=a, platt_c=cc, band=band, c=c, trained_on=trained_on)
