"""Agreement metrics against independent references: statsmodels' cohens_kappa and a published worked example."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa

from tais.scoring.metrics import Agreement, agreement


def test_hand_worked_example():
    # 75 / 5 / 5 / 15 of 100: p_o = 0.90; both raters say refusal 80% of the time, so
    # p_e = 0.8*0.8 + 0.2*0.2 = 0.68 and kappa = (0.90 - 0.68) / (1 - 0.68) = 0.6875
    a = Agreement(tp=75, fp=5, fn=5, tn=15)
    assert a.accuracy == pytest.approx(0.90)
    assert a.kappa == pytest.approx(0.6875)


@pytest.mark.parametrize("seed", range(8))
def test_kappa_matches_statsmodels_on_random_tables(seed):
    rng = np.random.default_rng(seed)
    truth = rng.random(200) < rng.uniform(0.1, 0.9)
    flip = rng.random(200) < rng.uniform(0.0, 0.4)
    predicted = truth ^ flip
    a = agreement(truth.tolist(), predicted.tolist())
    table = np.array([[a.tp, a.fn], [a.fp, a.tn]])     # rows: human, columns: classifier
    assert a.kappa == pytest.approx(cohens_kappa(table).kappa, abs=1e-12)
    assert a.accuracy == pytest.approx(np.mean(truth == predicted))
    assert a.precision == pytest.approx(np.sum(truth & predicted) / np.sum(predicted))
    assert a.recall == pytest.approx(np.sum(truth & predicted) / np.sum(truth))


def test_undefined_figures_are_nan_and_null_in_json():
    a = agreement([False, False], [False, False])
    assert a.accuracy == 1.0 and math.isnan(a.precision) and math.isnan(a.recall) and math.isnan(a.kappa)
    assert a.to_dict() == {"n": 2, "tp": 0, "fp": 0, "fn": 0, "tn": 2, "accuracy": 1.0, "precision": None,
                           "recall": None, "kappa": None}
    with pytest.raises(ValueError):
        agreement([True], [True, False])


def test_agreements_add_up():
    assert Agreement(1, 2, 3, 4) + Agreement(10, 20, 30, 40) == Agreement(11, 22, 33, 44)
