"""kill -9 of `tais run` in the middle of generation, then the same command again: no completion lost or
duplicated, and the same final verdict as an uninterrupted run. The process is really killed (SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from helpers.mock_configs import BROKEN_ARM, mock_config, write

ITEMS = 10
TOTAL_PER_ARM = ITEMS * 3
DELAY_S = 0.25  # per batch of 4: the reference arm takes about 2 s, long enough to be killed half-way


def _tais(*args, cwd):
    return [sys.executable, "-m", "tais.cli.main", *args]


def _rows(db_path):
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT fingerprint, item_id, replicate, request_sha256, sha256 FROM completions").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        db.close()


def _comparable(evidence):
    """What must not depend on an interruption: every cell's statistics and verdict, and every divergence."""
    return {"verdict": evidence["verdict"], "cells": evidence["cells"], "divergences": evidence["divergences"]}


def test_kill_9_mid_generation_then_rerun_loses_and_duplicates_nothing(tmp_path):
    config = write(tmp_path, mock_config(items=ITEMS, delay_s=DELAY_S, extra_arms=BROKEN_ARM))
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    db = killed_dir / "store.sqlite"

    proc = subprocess.Popen(_tais("run", str(config), "--out", str(killed_dir), "--quiet", cwd=tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while True:
            assert proc.poll() is None, f"tais run ended before it could be killed: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no completion was committed within 120 s"
            if db.exists() and len(_rows(db)) >= 6:
                break
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    before = _rows(db)
    assert 6 <= len(before) < TOTAL_PER_ARM, "the kill did not land in the middle of the first arm's generation"
    assert not (killed_dir / "evidence.json").exists()

    again = subprocess.run(_tais("run", str(config), "--out", str(killed_dir), "--quiet", cwd=tmp_path),
                           capture_output=True, text=True, timeout=300)
    after = _rows(db)
    keys = [r[:4] for r in after]
    assert len(keys) == len(set(keys)) == 4 * TOTAL_PER_ARM  # nothing lost, nothing twice
    assert set(before) <= set(after)  # every completion committed before the kill is kept, byte for byte

    clean = subprocess.run(_tais("run", str(config), "--out", str(clean_dir), "--quiet", cwd=tmp_path),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == clean.returncode == 1, again.stderr + clean.stderr
    resumed = json.loads((killed_dir / "evidence.json").read_text())
    uninterrupted = json.loads((clean_dir / "evidence.json").read_text())
    assert _comparable(resumed) == _comparable(uninterrupted)
    # as many completions per arm and task (their hashes, so the Merkle roots, differ: each records its own wall time)
    def leaves(evidence):
        return {arm: {task: tree["completions_leaves"] for task, tree in tasks.items()}
                for arm, tasks in evidence["manifest"]["merkle"]["roots"].items()}

    assert leaves(resumed) == leaves(uninterrupted) == {arm: {t: ITEMS for t in ("smoke-harmful", "smoke-benign",
                                                                                 "smoke-mc")}
                                                        for arm in ("reference", "same", "aa", "broken")}

    check = subprocess.run(_tais("verify", str(killed_dir), cwd=tmp_path), capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
