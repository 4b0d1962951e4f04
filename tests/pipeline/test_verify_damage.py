"""`tais verify` on a real SQLite store damaged in every way a careful user found: each damage is one named problem
line and exit 1, never a traceback. Each test copies one finished mock run, checks that the copy verifies (the
positive control: the damage, not the copy, is what fails), damages it, and verifies again."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys

import pytest

from helpers.mock_configs import mock_config, write
from tais.cli.main import main
from tais.pipeline.config import load_config
from tais.pipeline.run import run_config
from tais.store import RunStore


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verify-damage")
    return run_config(load_config(write(tmp, mock_config(items=4)))).out_dir


@pytest.fixture
def run(finished, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    assert main(["verify", str(copy)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return copy


def _verify(run_dir, capsys) -> tuple[int, list[str]]:
    code = main(["verify", str(run_dir)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines and all(line.startswith("tais: verify: ") for line in lines), err
    return code, lines


def _sql(run_dir, *statements):
    db = sqlite3.connect(run_dir / "store.sqlite", isolation_level=None)
    try:
        for statement in statements:
            db.execute(statement)
    finally:
        db.close()


def _one_matching(lines, pattern):
    import re

    assert any(re.search(pattern, line) for line in lines), "\n".join(lines)


def test_a_deleted_completion_row_is_named(run, capsys):
    _sql(run, "DELETE FROM completions WHERE rowid = (SELECT MIN(rowid) FROM completions)")
    code, lines = _verify(run, capsys)
    assert code == 1
    _one_matching(lines, r"arm reference: completion smoke-\S+#0 is missing from the store")
    # schema 2 re-derives the evidence without the row (tais.evidence/1 could not: "cannot be re-derived ... lacks a
    # completion"): the figures that changed and the Merkle leaf that is gone are named
    _one_matching(lines, r"evidence.json: cells\[\d+\]\.pairs: \d+, expected \d+ \(re-derived from the store\)")
    _one_matching(lines, r"arm reference: completion leaf \d+: pinned by, but gone from the store")


def test_an_edited_meta_value_is_named(run, capsys):
    _sql(run, "UPDATE meta SET value = 'one' WHERE key = 'schema_version'")
    code, lines = _verify(run, capsys)
    assert code == 1
    _one_matching(lines, r"store.sqlite: run store schema 'one', expected 1")


def test_an_edited_item_id_is_named(run, capsys):
    item_id = _item_ids(run)[0]
    _sql(run, f"UPDATE items SET item_json = replace(item_json, '\"{item_id}\"', '\"{item_id}-edited\"') "
              f"WHERE item_id = '{item_id}'")
    code, lines = _verify(run, capsys)
    assert code == 1
    _one_matching(lines, rf"item {item_id}: stored bytes no longer hash to")
    _one_matching(lines, rf"'{item_id}-edited'")  # the edited id is named where the store's records disagree


def _item_ids(run_dir):
    db = sqlite3.connect(run_dir / "store.sqlite")
    try:
        return [r[0] for r in db.execute("SELECT item_id FROM items ORDER BY task_sha256, position")]
    finally:
        db.close()


def test_a_truncated_store_is_named(run, capsys):
    path = run / "store.sqlite"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    code, lines = _verify(run, capsys)
    assert code == 1
    _one_matching(lines, r"store.sqlite: .*(malformed|SQLite cannot read it)")


@pytest.mark.parametrize("where", ["header", "middle"])
def test_garbage_bytes_in_the_store_are_named(run, capsys, where):
    path = run / "store.sqlite"
    data = bytearray(path.read_bytes())
    start = 0 if where == "header" else len(data) // 3
    data[start:start + 8192] = bytes((i * 131 + 7) % 251 for i in range(8192))
    path.write_bytes(bytes(data))
    code, lines = _verify(run, capsys)
    assert code == 1
    _one_matching(lines, r"store.sqlite: .*(not a tais run store|malformed|SQLite cannot read it|integrity|Tree|page)")


def test_an_index_that_no_longer_matches_its_table_is_named(run, capsys):
    """Damage no stored value shows: one byte of a completion's request hash edited in its table row (a page of the
    file), not in the primary-key index the run is read through. The completion, its recorded sha256 and every Merkle
    leaf read back unchanged, and ``PRAGMA quick_check`` passes the file (the control: only the full
    ``integrity_check``, run in the background by verify, sees it)."""
    path = run / "store.sqlite"
    db = sqlite3.connect(path)
    try:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        request, recorded = db.execute(
            "SELECT request_sha256, sha256 FROM completions ORDER BY rowid DESC LIMIT 1").fetchone()
    finally:
        db.close()
    data = bytearray(path.read_bytes())
    row_end = data.index(recorded.encode())  # the recorded sha256 is stored in the table row only
    page = row_end // page_size
    assert data[page * page_size] == 0x0D  # a table leaf page (not the index's)
    last = data.rindex(request.encode(), page * page_size, row_end) + len(request) - 1
    data[last] = ord("0") if data[last] != ord("0") else ord("1")
    path.write_bytes(bytes(data))
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    finally:
        db.close()
    code, lines = _verify(run, capsys)
    assert code == 1
    _one_matching(lines, r"store.sqlite: row \d+ missing from index sqlite_autoindex_completions_1")


def test_a_dropped_table_is_named(run, capsys):
    _sql(run, "DROP TABLE scores")
    code, lines = _verify(run, capsys)
    assert code == 1
    _one_matching(lines, r"store.sqlite: reading run 1 back: SQLite cannot read it \(no such table: scores\)")


def test_an_edited_evidence_byte_is_named(run, capsys):
    path = run / "evidence.json"
    text = path.read_text()
    path.write_text(text.replace('"run_id": 1', '"run_id": 7', 1) if '"run_id": 1' in text else text + " ")
    code, lines = _verify(run, capsys)
    assert code == 1
    _one_matching(lines, r"evidence.json: sha256 \w+ differs from the \w+ recorded when it was written")


def test_evidence_that_is_not_an_object_is_named(run, capsys):
    (run / "evidence.json").write_text("[1, 2]")
    code, lines = _verify(run, capsys)
    assert code == 1
    _one_matching(lines, r"evidence.json: not a JSON object")


def test_a_missing_store_file_is_named(run, capsys):
    (run / "store.sqlite").unlink()
    code, lines = _verify(run, capsys)
    assert code == 1
    _one_matching(lines, r"store.sqlite: no run store here")


def test_a_wal_lost_after_a_crash_is_named(tmp_path, monkeypatch, capsys):
    """A run whose process died before the store's closing checkpoint keeps its last commits in ``store.sqlite-wal``:
    with the WAL the copy verifies, without it the run is named as missing."""
    leaked = []
    monkeypatch.setattr(RunStore, "close", lambda self: leaked.append(self))  # the crash: no checkpoint, no close
    run_dir = run_config(load_config(write(tmp_path, mock_config(items=3)))).out_dir
    crashed, lost = tmp_path / "crashed", tmp_path / "lost"
    shutil.copytree(run_dir, crashed)  # what the disk holds at the crash: main file + WAL
    assert (crashed / "store.sqlite-wal").stat().st_size > 0
    monkeypatch.undo()
    for store in leaked:
        store._db.close()
    shutil.copytree(crashed, lost)
    (lost / "store.sqlite-wal").unlink()
    (lost / "store.sqlite-shm").unlink(missing_ok=True)

    assert main(["verify", str(crashed)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    code, lines = _verify(lost, capsys)
    assert code == 1
    _one_matching(lines, r"store.sqlite: .*(not a tais run store|no finished run|no run 1|SQLite cannot read it)")


def test_the_command_line_names_the_damage_in_a_real_process(run):
    path = run / "store.sqlite"
    path.write_bytes(b"not a database " * 512)
    done = subprocess.run([sys.executable, "-m", "tais.cli.main", "verify", str(run)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "tais: verify: store.sqlite: not a tais run store" in done.stderr


def test_other_commands_on_a_damaged_store_are_one_line_not_a_traceback(run, capsys):
    _sql(run, "DROP TABLE scores")
    for command in ("screen", "report"):
        code = main([command, str(run)])
        err = capsys.readouterr().err
        assert code == 1 and "Traceback" not in err
        assert err.splitlines() == ["tais: error: the run store cannot be read (no such table: scores); "
                                    "`tais verify RUN` names the damage"], err


def test_an_edited_plan_and_a_deleted_analysis_are_named(run, capsys):
    _sql(run, "DELETE FROM analyses", "UPDATE runs SET plan_json = '{\"arms\": 3}'")
    code, lines = _verify(run, capsys)
    assert code == 1
    # the run record itself cannot be read, so the plan is what is named (the analysis belongs to that run)
    _one_matching(lines, r"store.sqlite: .*run 1 plan: stored bytes are not a run plan any more")


def test_a_dropped_analyses_table_is_named(run, capsys):
    _sql(run, "DROP TABLE analyses")
    code, lines = _verify(run, capsys)
    assert code == 1
    _one_matching(lines, r"store.sqlite: analyses: SQLite cannot read it \(no such table: analyses\)")


def test_an_edited_request_hash_of_the_plan_is_named(run, capsys):
    """The plan keeps its request hashes in ``plan_items``: an edited row no longer hashes to the items the plan
    names, which is a problem of reading the run back (and a screen refuses it in one line)."""
    _sql(run, "UPDATE plan_items SET requests = substr(requests, 2) || 'f' WHERE position = 1")
    code, lines = _verify(run, capsys)
    assert code == 1
    _one_matching(lines, r"store.sqlite: reading run 1 back: run plan items \w+: the 4 stored rows no longer hash to "
                         r"the 4 items the plan names")
    assert main(["screen", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [next(line for line in err.splitlines() if "no longer hash to the 4 items" in line)]
