"""A run directory written by an older tais still screens, reports, verifies and resumes, giving the very bytes it
gave then: before the RunPlan (its plan stored as the version-1 dict of tais 12fe0c8), and before the plan kept its
items in the store (version 2: every request hash inline in the plan's JSON, no ``plan_items`` rows). A plan of an
unknown version is refused with one line naming the versions read (exit 2)."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from helpers.legacy_run import OLD_LAYOUTS, make_legacy, set_plan_version
from helpers.mock_configs import BROKEN_ARM, mock_config, write
from tais.cli.main import main
from tais.store import PLAN_VERSION, RunStore


def _plan_json(run_dir) -> dict:
    db = sqlite3.connect(run_dir / "store.sqlite")
    try:
        return json.loads(db.execute("SELECT plan_json FROM runs ORDER BY id DESC").fetchone()[0])
    finally:
        db.close()


def _runs(run_dir) -> int:
    db = sqlite3.connect(run_dir / "store.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    finally:
        db.close()


def _plan_rows(run_dir) -> int:
    db = sqlite3.connect(run_dir / "store.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM plan_items").fetchone()[0]
    finally:
        db.close()


@pytest.fixture(scope="module", params=sorted(OLD_LAYOUTS))
def legacy_run(request, tmp_path_factory):
    """(config path, a run dir whose stored plan is the dict of plan version 1 or 2, its evidence.json bytes,
    the version)."""
    version = request.param
    tmp = tmp_path_factory.mktemp(f"legacy{version}")
    # tais 12fe0c8 had no verdict-robustness check, so its evidence had no robustness section
    config = write(tmp, mock_config(items=4, extra_arms=BROKEN_ARM) + "robustness_scorer: none\ntoken_evidence: off\n")
    out = tmp / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    # positive control: the current layout before the rewrite (items by sha256, their rows in the store)
    assert _plan_json(out)["plan_version"] == PLAN_VERSION and _plan_rows(out) == 12
    assert "items" not in _plan_json(out)["tasks"][0]
    make_legacy(out, version)
    stored = _plan_json(out)
    assert _plan_rows(out) == 0
    if version == 1:
        assert "plan_version" not in stored and set(stored["requests"]) and "items" not in stored["tasks"][0]
    else:
        assert stored["plan_version"] == 2 and len(stored["tasks"][0]["items"]) == 4
    return config, out, (out / "evidence.json").read_bytes(), version


def test_the_old_plan_reads_as_the_same_run_plan(legacy_run, tmp_path):
    _, out, _, version = legacy_run
    with RunStore(out / "store.sqlite", create=False) as store:
        plan = store.latest_run().plan
        assert OLD_LAYOUTS[version](plan) == _plan_json(out)
        assert [len(t.keys()) for t in plan.tasks] == [4, 4, 4] and plan.reference.name == "reference"


def test_verify_passes_on_an_old_run_dir(legacy_run, tmp_path, capsys):
    _, out, _, _ = legacy_run
    run = shutil.copytree(out, tmp_path / "run")
    assert main(["verify", str(run)]) == 0
    assert "evidence.json matches the store" in capsys.readouterr().out


def test_report_and_screen_rewrite_the_same_bytes(legacy_run, tmp_path):
    _, out, evidence, _ = legacy_run
    run = shutil.copytree(out, tmp_path / "run")
    assert main(["report", str(run)]) == 1
    assert (run / "evidence.json").read_bytes() == evidence
    assert main(["screen", str(run)]) == 1
    assert (run / "evidence.json").read_bytes() == evidence
    assert main(["screen", str(run), "--margin", "0.45"]) == 1
    assert json.loads((run / "evidence.json").read_text())["thresholds"]["margin"] == 0.45


def test_resuming_an_old_run_dir_generates_nothing_and_keeps_its_run(legacy_run, tmp_path):
    config, out, evidence, version = legacy_run
    run = shutil.copytree(out, tmp_path / "run")
    assert main(["run", str(config), "--out", str(run), "--quiet"]) == 1
    assert _runs(run) == 1  # the old record is the same run: reused
    assert _plan_json(run).get("plan_version", 1) == version
    assert (run / "evidence.json").read_bytes() == evidence


def test_a_plan_of_an_unknown_version_is_refused_in_one_line(legacy_run, tmp_path, capsys):
    _, out, _, _ = legacy_run
    run = shutil.copytree(out, tmp_path / "run")
    set_plan_version(run, PLAN_VERSION + 1)
    for command in (["report", str(run)], ["verify", str(run)], ["screen", str(run)]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "Traceback" not in err, err
        assert f"run plan version {PLAN_VERSION + 1}" in err and f"reads run plan version {PLAN_VERSION}" in err, err
