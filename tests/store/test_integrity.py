"""The background integrity check on real SQLite files: the same answer as ``PRAGMA integrity_check`` run inline, the
error of an unreadable file handed to the caller, a missing file never created, a running check stopped."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from tais.store import IntegrityCheck, RunStore


def _store(tmp_path, rows=0):
    path = tmp_path / "store.sqlite"
    RunStore(path).close()
    if rows:
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
        db.executemany("INSERT INTO t VALUES (?, ?)", ((f"key{i:07d}", "x" * 200) for i in range(rows)))
        db.commit()
        db.close()
    return path


def test_a_sound_file_has_no_problems_and_the_check_runs_in_its_own_thread(tmp_path):
    check = IntegrityCheck(_store(tmp_path))
    assert check._thread is not threading.current_thread() and check._thread.daemon
    assert check.problems() == []


def test_a_damaged_index_is_reported_as_sqlite_reports_it(tmp_path):
    path = _store(tmp_path, rows=50)
    data = bytearray(path.read_bytes())
    at = data.index(b"key0000049" + b"x" * 200)  # the table row (key and value side by side; the index has the key)
    data[at + 9] = ord("8")  # key0000048 twice in the table, key0000049 only in the index: sound pages that disagree
    path.write_bytes(bytes(data))
    db = sqlite3.connect(path)
    inline = [r[0] for r in db.execute("PRAGMA integrity_check")]
    assert db.execute("PRAGMA quick_check").fetchall() == [("ok",)]  # the control: only the full check sees it
    db.close()
    assert inline != ["ok"]
    assert IntegrityCheck(path).problems() == inline


def test_an_unreadable_file_raises_in_the_caller(tmp_path):
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"not a database " * 512)
    with pytest.raises(sqlite3.DatabaseError):
        IntegrityCheck(path).problems()


def test_a_missing_file_is_not_created(tmp_path):
    path = tmp_path / "gone.sqlite"
    with pytest.raises(sqlite3.OperationalError):
        IntegrityCheck(path).problems()
    assert not path.exists()


def test_cancel_stops_a_running_check(tmp_path):
    path = _store(tmp_path, rows=200_000)
    check = IntegrityCheck(path)
    check.cancel()
    assert not check._thread.is_alive()
    try:
        assert check.problems() == []  # it finished before the interrupt landed
    except sqlite3.OperationalError as exc:
        assert "interrupt" in str(exc)
