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
    assert main(["scorer-eval", "--labels", str(path), "--scorer", "refusal-rules", "--json"]) == 0
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
    assert out["n"] + out["undecided"] == 1350 and sorted(out["files"]) == paths and out["undecided"] > 0
    assert sum(f["n"] + f["undecided"] for f in out["files"].values()) == 1350
    assert out["strict_accuracy"] == pytest.approx(out["accuracy"] * out["n"] / 1350)
    assert main(["scorer-eval", *[a for p in paths for a in ("--labels", p)]]) == 0
    table = capsys.readouterr().out
    assert "pooled" in table and table.count("refusal-hybrid") == 4 and table.count("xstest-strmatch") == 4


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


def _write_labels(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["prompt", "completion", "final_label"])
        w.writerows(rows)


def _model_files(tmp_path):
    """Three small 'models': refusals by apology, by lecture, by bare decline; answers by recipe-like text."""
    styles = {
        "a": ("I'm sorry, but I can't help with item {}.", "Step {}: mix the flour and water, then bake."),
        "b": ("There are no ways to do item {} that are ethical.", "Item {}: first open the terminal and type ls."),
        "c": ("No. Item {} is not something to do.", "For item {}, buy fresh basil at the market."),
    }
    paths = {}
    for name, (refusal, answer) in styles.items():
        rows = [("q", refusal.format(i), "2_full_refusal") for i in range(12)]
        rows += [("q", answer.format(i), "1_full_compliance") for i in range(12)]
        paths[name] = tmp_path / f"{name}.csv"
        _write_labels(paths[name], rows)
    return paths


def test_lomo_retrains_on_the_other_files_only(tmp_path, capsys, monkeypatch):
    import tais.scoring.hybrid as hybrid

    paths = _model_files(tmp_path)
    seen = []
    real = hybrid.train_hybrid

    def spy(texts, labels, trained_on=()):
        seen.append(set(texts))
        return real(texts, labels, trained_on)

    monkeypatch.setattr(hybrid, "train_hybrid", spy)
    assert main(["scorer-eval", "--lomo", *[a for p in paths.values() for a in ("--labels", str(p))], "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(seen) == 3
    for held, trained in zip(paths.values(), seen):
        held_texts = {r["completion"] for r in csv.DictReader(open(held, encoding="utf-8"))}
        others = {r["completion"] for p in paths.values() if p != held for r in csv.DictReader(open(p, encoding="utf-8"))}
        # the held-out file's completions are absent from training; every other completion the rules leave is there
        assert not trained & held_texts and trained <= others and trained
    rows = {(r["file"], r["scorer"]): r for r in out["held_out"]}
    assert len(rows) == 9
    # an independent recount of one held-out cell (refusal-rules on file b)
    b = list(csv.DictReader(open(paths["b"], encoding="utf-8")))
    truth = [r["final_label"][0] in "23" for r in b]
    pred = [is_refusal(r["completion"]) for r in b]
    tp = sum(t and p for t, p in zip(truth, pred))
    fp = sum(p and not t for t, p in zip(truth, pred))
    fn = sum(t and not p for t, p in zip(truth, pred))
    tn = len(b) - tp - fp - fn
    got = rows[(str(paths["b"]), "refusal-rules")]
    assert got["accuracy"] == pytest.approx((tp + tn) / len(b))
    if 0 < tp + fp and 0 < tp + fn:
        assert got["kappa"] == pytest.approx(cohens_kappa([[tp, fn], [fp, tn]]).kappa)
    styles = {(r["style"], r["scorer"]): (r["missed"], r["refusals"]) for r in out["styles"]}
    assert sum(n for (st, s), (_, n) in styles.items() if s == "xstest-strmatch") == 36
    # the 21-prefix match misses the lecture file's refusals ("There are no ways...") entirely
    assert rows[(str(paths["b"]), "xstest-strmatch")]["recall"] == 0.0


def test_lomo_table_names_every_scorer_and_style(tmp_path, capsys):
    paths = _model_files(tmp_path)
    assert main(["scorer-eval", "--lomo", *[a for p in paths.values() for a in ("--labels", str(p))]]) == 0
    table = capsys.readouterr().out
    held_rows = [line for line in table.splitlines() if line.endswith(tuple("0123456789-")) and ".csv" in line]
    assert len(held_rows) == 9 and sum("refusal-hybrid" in line for line in held_rows) == 3
    assert "mean strict accuracy" in table and "moralising" in table


@pytest.mark.parametrize("argv,expected", [
    (["--lomo"], "tais: error: --labels: --lomo needs two or more --labels files (one is held out, the rest train)\n"),
    (["--scorer", "judge-x"], "tais: error: --scorer: unknown refusal scorer 'judge-x'; known: refusal-hybrid, "
                              "refusal-rules, xstest-strmatch\n"),
])
def test_bad_lomo_or_scorer_exits_2(tmp_path, capsys, argv, expected):
    p = tmp_path / "one.csv"
    _write_labels(p, [("q", "I can't.", "2_full_refusal"), ("q", "Sure.", "1_full_compliance")])
    assert main(["scorer-eval", "--labels", str(p), *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == expected
