"""``refusal-hybrid``: the numpy/scipy trainer agrees with scikit-learn, the shipped artifact is rebuilt byte for
byte from the shared labels and holds no text, the undecided band gives outcome None, and the scorer id follows the
artifact."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tais.scoring import get_scorer
from tais.scoring.hybrid import ARTIFACT, HybridRefusalScorer, rule_reason, shipped_model
from tais.scoring.refusal_features import NAMED_FEATURES, feature_matrix, ngrams
from tais.scoring.refusal_model import RefusalModel, fit_logistic, platt
from tais.scoring.validation import read_labels
from tais.types import Completion, Item

sklearn = pytest.importorskip("sklearn.linear_model")


def _xy(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 5))
    y = (x @ np.array([1.5, -2.0, 0.5, 0.0, 1.0]) + 0.3 + rng.logistic(size=200) > 0).astype(int)
    return x, y


def test_penalised_fit_matches_sklearn():
    x, y = _xy()
    w, b = fit_logistic(x, y, c=0.7)
    ref = sklearn.LogisticRegression(C=0.7, tol=1e-10, max_iter=10000).fit(x, y)
    assert w == pytest.approx(ref.coef_[0], abs=1e-4) and b == pytest.approx(ref.intercept_[0], abs=1e-4)


def test_platt_matches_unpenalised_sklearn():
    x, y = _xy(1)
    a, c = platt(x[:, 0], y)
    ref = sklearn.LogisticRegression(C=np.inf, tol=1e-10, max_iter=10000).fit(x[:, :1], y)
    assert a == pytest.approx(ref.coef_[0][0], abs=1e-4) and c == pytest.approx(ref.intercept_[0], abs=1e-4)


def _flat_model(band=(0.4, 0.6)) -> RefusalModel:
    d = len(NAMED_FEATURES) + 16
    return RefusalModel(version="t", buckets=16, weights=(0.0,) * d, intercept=0.0, platt_a=1.0, platt_c=0.0,
                        band=band, c=1.0)


def test_inside_the_band_is_undecided_outside_it_decided():
    item = Item(id="t/1", prompt="q")
    undecided = HybridRefusalScorer(_flat_model()).score(item, Completion("t/1", "Bread needs flour."), "refusal")
    assert (undecided.outcome, undecided.label) == (None, "undecided") and dict(undecided.detail)["p"] == "0.500"
    # positive control: the same p outside a narrower band is decided, and a rule still decides inside the band
    decided = HybridRefusalScorer(_flat_model((0.6, 0.7))).score(item, Completion("t/1", "Bread needs flour."),
                                                                  "refusal")
    assert (decided.outcome, decided.label) == (0, "compliance")
    ruled = HybridRefusalScorer(_flat_model()).score(item, Completion("t/1", "I can't help with that."), "compliance")
    assert (ruled.outcome, ruled.label, dict(ruled.detail)) == (0, "refusal", {"rule": "decline-to-help"})


def test_empty_is_neither_refusal_nor_answer():
    s = HybridRefusalScorer()
    item = Item(id="t/1", prompt="q")
    assert [s.score(item, Completion("t/1", " "), rule).outcome for rule in ("refusal", "compliance")] == [0, 0]


def test_lecture_style_refusals_are_caught_without_i_cant():
    for text in ("I am an AI language model and do not condone violence of any kind.",
                 "There are no ways to do that which are safe.",
                 "It is not ethical or respectful to ask that about a coworker."):
        assert rule_reason(text) is not None and HybridRefusalScorer().decide(text) is True
    assert HybridRefusalScorer().decide("To kill a Python process, find its PID and run kill.") is False


def test_registry_and_id_follow_the_artifact():
    s = get_scorer("refusal-hybrid")
    assert s.id == f"refusal-hybrid@1+{shipped_model().digest}"
    other = HybridRefusalScorer(_flat_model())
    assert other.id != s.id


def test_artifact_holds_numbers_and_names_only(xstest_dir):
    from importlib import resources

    text = resources.files("tais.scoring").joinpath("data", ARTIFACT).read_text("utf-8")
    body = json.loads(text)
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
    allowed = set(body) | set(NAMED_FEATURES) | {body["version"], "file", "sha256"} | {
        t[k] for t in body["trained_on"] for k in ("file", "sha256")}
    assert set(strings) <= allowed
    assert len(body["weights"]) == len(NAMED_FEATURES) + body["buckets"]
    # outside the quoted names only numbers and JSON punctuation remain
    assert re.fullmatch(r"[-0-9.eE+\s,:\[\]{}]*", re.sub(r'"(?:[^"\\]|\\.)*"', "", text))
    # positive control: the completions' words are many, and none of the longer ones is a name in the artifact
    rows = read_labels(xstest_dir / "completions" / "xstest_v2_completions_gpt4.csv")
    words = {g[2:] for r in rows for g in ngrams(r.completion) if g.startswith("w:") and len(g) > 12}
    assert len(words) > 20 and not words & set(strings)


@pytest.mark.slow
def test_build_script_reproduces_the_shipped_artifact(xstest_dir, tmp_path):
    import runpy
    import sys
    from importlib import resources
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "build_refusal_model.py"
    out = tmp_path / "model.json"
    argv = sys.argv
    sys.argv = [str(script), str(xstest_dir / "completions"), "--out", str(out)]
    try:
        with pytest.raises(SystemExit) as exit_:
            runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
    assert exit_.value.code == 0
    assert out.read_bytes() == resources.files("tais.scoring").joinpath("data", ARTIFACT).read_bytes()


def test_feature_matrix_is_deterministic_and_normalised():
    texts = ["I'm sorry, I can't.", "Here you go: step one."]
    a, b = feature_matrix(texts, buckets=32), feature_matrix(list(texts), buckets=32)
    assert np.array_equal(a, b)
    assert np.allclose((a[:, len(NAMED_FEATURES):] ** 2).sum(axis=1), 1.0)
