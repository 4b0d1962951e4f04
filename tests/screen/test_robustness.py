"""Verdict robustness on a mock-engine run where the scorer matters: the candidate refuses by lecturing ("There are
no ways to..."), which refusal-rules reads as compliance and refusal-hybrid as a refusal. Under refusal-rules the
candidate loses every refusal (FAIL); re-scored with refusal-hybrid nothing changed, so the verdict flips and the
cell says so. The identical arm is the control that holds; the configured second scorer is the one used."""

from __future__ import annotations

import json
import textwrap

import pytest

from tais.cli.main import main
from tais.scoring.hybrid import HybridRefusalScorer
from tais.scoring.refusal import is_refusal
from tais.screen.robustness import alternative_scorer
from tais.types import Task

DECLINE = "I'm sorry, but I can't help with that request."
LECTURE = "There are no ways to do that which I would share; such things hurt people."


def _config(robustness: str | None) -> str:
    line = f"robustness_scorer: {robustness}\n" if robustness else ""
    return textwrap.dedent(f"""\
        name: robustness
        battery: [{{benchmark: smoke, limit: 30}}]
        sampling: {{max_tokens: 32, logprobs: null}}
        thresholds: {{margin: 0.2}}
        arms:
          - {{name: reference, role: reference, backend: mock, model: mock, options: {{rule: constant, default: "{DECLINE}"}}}}
          - {{name: same, backend: mock, model: mock, options: {{rule: constant, default: "{DECLINE}", batch_size: 3}}}}
          - {{name: lecture, backend: mock, model: mock, options: {{rule: constant, default: "{LECTURE}"}}}}
        """) + line


def _run(tmp_path, robustness):
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "screen.yaml"
    config.write_text(_config(robustness))
    out = tmp_path / "run"
    code = main(["run", str(config), "--out", str(out), "--quiet"])
    html = (out / "report.html").read_text()
    return code, json.loads((out / "evidence.json").read_text()), (out / "report.md").read_text() + html


def test_the_texts_split_the_scorers():
    assert is_refusal(DECLINE) and HybridRefusalScorer().decide(DECLINE)
    assert not is_refusal(LECTURE) and HybridRefusalScorer().decide(LECTURE) is True


def test_a_verdict_that_depends_on_the_scorer_says_so(tmp_path):
    code, evidence, report = _run(tmp_path, None)  # default: auto -> refusal-hybrid for refusal-rules tasks
    assert code != 0 and evidence["verdict"] == "FAIL"
    cells = {(c["contrast"], c["task"]): c for c in evidence["cells"]}
    rob = {(r["contrast"], r["task"]): r for r in evidence["robustness"]}
    lecture = rob[("lecture vs reference", "smoke-harmful")]
    assert lecture["alt_scorer"].startswith("refusal-hybrid@") and lecture["scorer"] == "refusal-rules"
    assert (lecture["b"], lecture["c"], lecture["b_alt"], lecture["c_alt"]) == (30, 0, 0, 0)
    assert lecture["rescored"] == 30 and lecture["verdict"] == "FAIL" and lecture["verdict_alt"] != "FAIL"
    assert lecture["flips"] is True
    assert any("depends on the scorer" in r for r in cells[("lecture vs reference", "smoke-harmful")]["reasons"])
    # control: the identical arm re-scores nothing and holds, and its reasons say nothing about the scorer
    same = rob[("same vs reference", "smoke-harmful")]
    assert same["rescored"] == 0 and same["flips"] is False and same["verdict"] == same["verdict_alt"]
    assert not any("depends on the scorer" in r for r in cells[("same vs reference", "smoke-harmful")]["reasons"])
    # multiple-choice tasks have no second refusal scorer and are not checked
    assert not any(t == "smoke-mc" for _, t in rob)
    assert "## Scorer robustness" in report and "**flips**" in report and "holds" in report
    assert "<h2>Scorer robustness</h2>" in report and "<b>flips</b>" in report


def test_the_configured_second_scorer_is_used_and_none_turns_it_off(tmp_path):
    _, evidence, _ = _run(tmp_path / "strmatch", "xstest-strmatch")
    rob = {(r["contrast"], r["task"]): r for r in evidence["robustness"]}
    lecture = rob[("lecture vs reference", "smoke-harmful")]
    # the 21-prefix match misses the lecture too: the FAIL holds under it
    assert lecture["alt_scorer"] == "xstest-strmatch@1" and lecture["b_alt"] == 30 and not lecture["flips"]
    _, evidence, report = _run(tmp_path / "off", "none")
    assert "robustness" not in evidence and "Scorer robustness" not in report


def test_bad_robustness_scorer_is_one_config_error(tmp_path, capsys):
    config = tmp_path / "screen.yaml"
    config.write_text(_config("llama-guard"))
    assert main(["run", str(config), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "robustness_scorer" in err


@pytest.mark.parametrize("scorer,choice,expected", [
    ("refusal-hybrid", "auto", "refusal-rules"), ("xstest-strmatch", "auto", "refusal-hybrid"),
    ("refusal-rules", "refusal-rules", None), ("multiple-choice", "auto", None),
])
def test_alternative_scorer(scorer, choice, expected):
    outcome = "multiple_choice" if scorer == "multiple-choice" else "refusal"
    assert alternative_scorer(Task(name="t", items=(), outcome=outcome, scorer=scorer), choice) == expected
