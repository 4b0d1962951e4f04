"""``tais stats paired`` and ``tais plan``: JSON contract, human output, and bad input (one line, exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

from tais.cli.main import main

PAIRED_KEYS = ["n", "p_reference", "p_candidate", "diff", "ci_low", "ci_high", "tost_p", "equivalent", "mcnemar_p",
               "cohens_h", "wilson_reference", "wilson_candidate"]


def run_json(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    return json.loads(out)


def test_paired_json_has_exactly_the_contract_keys_and_right_values(capsys):
    # Cavo et al. 2012 in tais' orientation: a = 59, b = 16, c = 6, d = 80; at alpha 0.025 the interval is the
    # published Tango 95% interval -0.1240 to -0.0054
    got = run_json(capsys, ["stats", "paired", "--a", "59", "--b", "16", "--c", "6", "--d", "80", "--alpha", "0.025",
                            "--json"])
    assert list(got) == PAIRED_KEYS
    assert got["n"] == 161
    assert got["p_reference"] == pytest.approx(75 / 161) and got["p_candidate"] == pytest.approx(65 / 161)
    assert got["diff"] == pytest.approx(-10 / 161)
    assert (round(got["ci_low"], 4), round(got["ci_high"], 4)) == (-0.1240, -0.0054)
    assert got["equivalent"] is False
    assert got["mcnemar_p"] == pytest.approx(sm_mcnemar([[59, 16], [6, 80]], exact=True).pvalue)
    assert got["wilson_reference"] == pytest.approx(list(proportion_confint(75, 161, method="wilson")))
    assert got["cohens_h"] < 0


def test_paired_equivalent_table(capsys):
    got = run_json(capsys, ["stats", "paired", "--a", "650", "--b", "6", "--c", "4", "--d", "340", "--json"])
    assert got["equivalent"] is True and got["tost_p"] < 0.05
    assert -0.03 < got["ci_low"] < got["diff"] < got["ci_high"] < 0.03


def test_paired_human_table(capsys):
    assert main(["stats", "paired", "--a", "650", "--b", "6", "--c", "4", "--d", "340"]) == 0
    out = capsys.readouterr().out
    assert "Tango 90% [-0.0080, +0.0036]" in out and "-> equivalent" in out and "McNemar exact" in out


def test_plan_json_and_human(capsys):
    got = run_json(capsys, ["plan", "--margin", "0.03", "--discordance", "0.02", "--rate", "0.5", "--json"])
    assert list(got) == ["n_paired", "n_unpaired_wald", "ratio"]
    assert got["n_unpaired_wald"] == 4758
    assert got["ratio"] == pytest.approx(got["n_unpaired_wald"] / got["n_paired"])
    assert got["ratio"] > 10
    assert main(["plan", "--margin", "0.03", "--discordance", "0.02", "--rate", "0.5"]) == 0
    out = capsys.readouterr().out
    assert f"{got['n_paired']} prompts" in out and "4758 prompts per arm" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["stats", "paired", "--a", "1", "--b", "-2", "--c", "0", "--d", "0"], "--b: count must be >= 0, got -2"),
        (["stats", "paired", "--a", "0", "--b", "0", "--c", "0", "--d", "0"], "the table is empty"),
        (["stats", "paired", "--a", "5", "--b", "1", "--c", "1", "--d", "5", "--margin", "1"], "--margin: must lie"),
        (["stats", "paired", "--a", "5", "--b", "1", "--c", "1", "--d", "5", "--margin", "0"], "--margin: must lie"),
        (["stats", "paired", "--a", "5", "--b", "1", "--c", "1", "--d", "5", "--alpha", "0.5"], "--alpha: must lie"),
        (["stats", "paired", "--a", "5", "--b", "1", "--c", "1", "--d", "5", "--alpha", "nan"], "--alpha: must lie"),
        (["plan", "--margin", "-0.1", "--discordance", "0.02", "--rate", "0.5"], "--margin: must lie"),
        (["plan", "--alpha", "0", "--discordance", "0.02", "--rate", "0.5"], "--alpha: must lie"),
        (["plan", "--discordance", "0", "--rate", "0.5"], "--discordance: must lie"),
        (["plan", "--discordance", "0.1", "--rate", "1"], "--rate: must lie"),
        (["plan", "--discordance", "0.1", "--rate", "0.5", "--power", "1.5"], "--power: must lie"),
    ],
)
def test_bad_numbers_give_one_error_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tais: error: ") and message in lines[0]


def test_installed_entry_point_runs_as_a_process():
    proc = subprocess.run([sys.executable, "-m", "tais.cli.main", "stats", "paired", "--a", "3", "--b", "x", "--c",
                           "0", "--d", "0"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "tais: error: argument --b: invalid int value: 'x'"
    proc = subprocess.run([sys.executable, "-m", "tais.cli.main", "plan", "--discordance", "0.05", "--rate", "0.9",
                           "--json"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) == {"n_paired", "n_unpaired_wald", "ratio"}
