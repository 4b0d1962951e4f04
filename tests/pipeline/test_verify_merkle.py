"""tais verify on evidence schema 2 (Merkle manifest): it names the exact completion whose bytes changed, also when
its recorded sha256 was changed to match; old schema 1 evidence still verifies; an unknown schema is one line."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from helpers.mock_configs import mock_config, write
from tais.cli.main import main
from tais.pipeline.verify import verify_run
from tais.store import sha256_text


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("merkle")
    out = tmp / "run"
    assert main(["run", str(write(tmp, mock_config())), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture()
def copy(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    assert verify_run(run).ok  # positive control: the untouched copy verifies
    return run


def _edit_one_completion(run, *, rehash: bool) -> str:
    """Change the text of one reference completion; with ``rehash`` also its recorded sha256. Returns its label."""
    db = sqlite3.connect(run / "store.sqlite")
    try:
        fp = json.loads((run / "evidence.json").read_text())["manifest"]["arms"]["reference"]
        item_id, replicate, text = db.execute(
            "SELECT item_id, replicate, completion_json FROM completions WHERE fingerprint=? ORDER BY item_id "
            "LIMIT 1 OFFSET 3", (fp,)).fetchone()
        data = json.loads(text)
        data["text"] = data["text"] + "!"
        edited = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        sha = sha256_text(edited) if rehash else None
        db.execute("UPDATE completions SET completion_json=?" + (", sha256=?" if rehash else "") +
                   " WHERE fingerprint=? AND item_id=? AND replicate=?",
                   (edited, sha, fp, item_id, replicate) if rehash else (edited, fp, item_id, replicate))
        db.commit()
    finally:
        db.close()
    return f"{item_id}#{replicate}"


def test_verify_names_the_completion_whose_bytes_changed(copy):
    label = _edit_one_completion(copy, rehash=False)
    problems = verify_run(copy).problems
    assert any(f"arm reference: completion {label}: stored bytes hash to" in p for p in problems), problems


def test_verify_names_the_completion_whose_bytes_and_recorded_sha256_changed(copy):
    label = _edit_one_completion(copy, rehash=True)
    problems = verify_run(copy).problems
    named = [p for p in problems if "Merkle root pins" in p]
    assert len(named) == 1 and f"completion {label}: recorded sha256" in named[0], problems
    assert any("manifest.merkle.roots.reference.smoke-" in p for p in problems)  # the root evidence.json pins


def test_verify_refuses_an_unknown_evidence_schema_in_one_line(copy, capsys):
    path = copy / "evidence.json"
    path.write_text(path.read_text().replace('"schema": "tais.evidence/2"', '"schema": "tais.evidence/9"'))
    problems = verify_run(copy).problems
    schema = [p for p in problems if "schema" in p]
    assert schema == ["evidence.json: schema 'tais.evidence/9': this tais verifies tais.evidence/2 (and "
                      "tais.evidence/1, the per-completion manifest of earlier runs)"]


def test_a_large_evidence_file_is_verified_line_by_line(copy, monkeypatch):
    import tais.pipeline.verify as verify

    monkeypatch.setattr(verify, "WHOLE_EVIDENCE_BYTES", 100)  # every file counts as large: read by evidence_head
    assert verify_run(copy).ok
    path = copy / "evidence.json"
    data = path.read_bytes()
    offset = data.index(b'"p_candidate": ') + len(b'"p_candidate": ')
    path.write_bytes(data[:offset] + (b"0" if data[offset:offset + 1] != b"0" else b"1") + data[offset + 1:])
    problems = verify_run(copy).problems
    assert any("cells[0].p_candidate:" in p and "re-derived from the store" in p for p in problems), problems
