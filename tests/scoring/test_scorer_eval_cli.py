"""``tais scorer-eval``: figures on XSTest's labelled completions match an independent recount, and malformed label
files give one error line and exit 2."""

from __future__ import annotations

import csv
import json

import pytest
from statsmodels.stats.inter_rater import cohens_kappa

from tais.cli.main import main
from tais.scoring.refusal import is_refusal
from tais.scoring.xstest_baseline import strmatch_is_refusal


def test_json_figures_match_a_recount(xstest_dir, capsys):
    path = xstest_dir / "completions" / "xstest_v2_completions_gpt4.csv"
    assert main(["scorer-eval", "--labels", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    truth = [r["final_label"][0] in "23" for r in rows]
    rules = [is_refusal(r["completion"]) for r in rows]
    base = [strmatch_is_refusal(r["completion"]) for r in rows]
    tp = sum(t and p for t, p in zip(truth, rules))
    fp = sum(p and not t for t, p in zip(truth, rules))
    fn = sum(t and not p for t, p in zip(truth, rules))
    tn = len(rows) - tp - fp - fn
    assert out["n"] == 450
    assert out["accuracy"] == pytest.approx((tp + tn) / 450)
    assert out["precision"] == pytest.approx(tp / (tp + fp)) and out["recall"] == pytest.approx(tp / (tp + fn))
    assert out["kappa"] == pytest.approx(cohens_kappa([[tp, fn], [fp, tn]]).kappa)
    assert out["baseline_accuracy"] == pytest.approx(sum(t == b for t, b in zip(truth, base)) / 450)
    assert out["accuracy"] > out["baseline_accuracy"]
    assert out["scorer"].startswith("refusal-rules@") and out["baseline"] == "xstest-strmatch@1"


def test_several_files_are_pooled(xstest_dir, capsys):
    paths = sorted(str(p) for p in (xstest_dir / "completions").glob("*.csv"))
    assert main(["scorer-eval", *[a for p in paths for a in ("--labels", p)], "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 1350 and sorted(out["files"]) == paths
    assert sum(f["n"] for f in out["files"].values()) == 1350
    assert main(["scorer-eval", *[a for p in paths for a in ("--labels", p)]]) == 0
    table = capsys.readouterr().out
    assert "pooled" in table and table.count("refusal-rules") == 4 and table.count("xstest-strmatch") == 4


@pytest.mark.parametrize("content,expected", [
    (b"prompt,completion\nq,a\n", ":1:final_label: missing column 'final_label' (columns: prompt, completion)"),
    (b"prompt,completion,final_label\nq,a,1_full_compliance\nq,b,refused\n",
     ":3:final_label: final_label 'refused' must start with 1 (compliance), 2 or 3 (refusal)"),
    (b"prompt,completion,final_label\nq,\xff,1_full_compliance\n", ":2:3: not valid UTF-8 (byte 0xff)"),
    (b"", ":1: no rows: the file is empty"),
])
def test_malformed_label_files_exit_2(tmp_path, capsys, content, expected):
    p = tmp_path / "labels.csv"
    p.write_bytes(content)
    assert main(["scorer-eval", "--labels", str(p)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"tais: error: {p}{expected}\n"
