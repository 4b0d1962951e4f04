"""`tais run` / `tais screen` for CI: --junit (one test case per cell, failures with the reasons; checked with
xml.etree), --json (the verdict table alone on stdout) and --quiet (the verdict line alone). Mock engine: the
subject is the output layer."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from helpers.mock_configs import BROKEN_ARM, mock_config, write
from tais.cli.main import main


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    """A finished run with a broken arm (FAIL cells), an identical arm and an A/A arm; its JSON and JUnit output."""
    tmp = tmp_path_factory.mktemp("ci")
    config = write(tmp, mock_config(extra_arms=BROKEN_ARM))
    out, junit = tmp / "run", tmp / "reports" / "junit.xml"
    import contextlib
    import io

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["run", str(config), "--out", str(out), "--json", "--junit", str(junit)])
    return code, out, json.loads(stdout.getvalue()), ET.parse(junit).getroot()


def test_json_is_the_verdict_table_and_nothing_else(failing):
    code, out, table, _ = failing
    assert code == 1 and table["verdict"] == "FAIL" and table["exit_code"] == 1
    evidence = json.loads((out / "evidence.json").read_text())
    assert [(c["contrast"], c["task"]) for c in table["cells"]] == [(c["contrast"], c["task"])
                                                                     for c in evidence["cells"]]
    cells = {(c["contrast"], c["task"]): c for c in table["cells"]}
    broken = cells[("broken vs reference", "smoke-harmful")]
    assert broken["verdict"] == "FAIL" and any("leak" in r for r in broken["reasons"])
    assert cells[("same vs reference", "smoke-harmful")]["verdict"] == "PASS"
    assert cells[("aa vs reference", "smoke-harmful")]["verdict"] is None  # null arm: reported, not judged
    assert {s["arm"] for s in table["speed"]} == {"reference", "same", "aa", "broken"}


def test_junit_has_one_test_case_per_cell_and_a_failure_with_the_reasons_per_non_pass_cell(failing):
    _, _, table, root = failing
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert {s.get("name") for s in suites} == {c["contrast"] for c in table["cells"]}
    cases = [(s.get("name"), case) for s in suites for case in s.findall("testcase")]
    assert len(cases) == len(table["cells"]) == int(root.get("tests"))
    by_cell = {(c["contrast"], c["task"]): c for c in table["cells"]}
    failures = 0
    for contrast, case in cases:
        cell = by_cell[(contrast, case.get("name"))]
        failure, skipped = case.find("failure"), case.find("skipped")
        if cell["role"] == "null":
            assert skipped is not None and failure is None
        elif cell["verdict"] == "PASS":
            assert failure is None and skipped is None
        else:
            failures += 1
            assert failure.get("type") == cell["verdict"]
            assert all(r.strip() in failure.get("message") for r in cell["reasons"])
    assert failures == int(root.get("failures")) > 0
    for suite in suites:
        assert int(suite.get("tests")) == len(suite.findall("testcase"))
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("skipped")) == len(suite.findall("testcase/skipped"))


def test_screen_quiet_prints_only_the_verdict_line(failing, capsys):
    _, out, table, _ = failing
    judged = [c["verdict"] for c in table["cells"] if c["role"] == "candidate"]
    capsys.readouterr()
    assert main(["screen", str(out), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"verdict: FAIL  ({len(judged)} candidate cells: {judged.count('PASS')} PASS, {judged.count('FAIL')} FAIL, "
        f"0 INCONCLUSIVE; exit code 1)"]
    assert captured.err == ""


def test_screen_json_and_junit_in_a_real_process(failing, tmp_path):
    _, out, _, _ = failing
    junit = tmp_path / "screen.xml"
    done = subprocess.run([sys.executable, "-m", "tais.cli.main", "screen", str(out), "--margin", "0.02", "--json",
                           "--junit", str(junit)], capture_output=True, text=True, timeout=120)
    table = json.loads(done.stdout)
    assert done.returncode == table["exit_code"] == 1
    verdicts = {c["verdict"] for c in table["cells"] if c["role"] == "candidate"}
    assert verdicts == {"FAIL", "INCONCLUSIVE"}  # the narrow margin leaves the identical arm undecided
    root = ET.parse(junit).getroot()
    assert {f.get("type") for f in root.iter("failure")} == {"FAIL", "INCONCLUSIVE"}
