"""kill -9 of `tais run` at random moments (seeded), then the same command again: nothing lost, nothing twice, the same
verdict as an uninterrupted run, nothing left running. And SIGTERM: a clean stop with exit 143.

The 50 mock trials fork the test process (tais already imported) and run the command line's ``main`` in the child, so
a trial costs the run itself rather than an interpreter start; the child is a real process, really killed with
SIGKILL at a uniformly drawn moment of an uninterrupted run's duration (start-up, generation, scoring, reporting).
The hf trials run `tais run` as a real subprocess with the real model."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.mock_configs import BROKEN_ARM, mock_config, write
from tais.cli.main import main

TRIALS = 50
SEED = 20261205
ITEMS = 3


def _rows(db_path: Path) -> list[tuple]:
    if not db_path.exists():
        return []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT fingerprint, item_id, replicate, request_sha256, sha256, completion_json "
                          "FROM completions").fetchall()
    except sqlite3.OperationalError:  # killed before the tables were created
        return []
    finally:
        db.close()


def _comparable(run_dir: Path) -> dict:
    evidence = json.loads((run_dir / "evidence.json").read_text())
    return {"verdict": evidence["verdict"], "cells": evidence["cells"], "divergences": evidence["divergences"]}


def _fork_main(argv: list[str]) -> int:
    """Run the CLI's main in a forked child in its own process group; returns the child's pid."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            os.setpgid(0, 0)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            code = main(argv)
        finally:
            os._exit(code)
    return pid


def _wait(pid: int, timeout_s: float = 120.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"child {pid} did not finish within {timeout_s} s")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_kill_9_at_50_random_moments_loses_duplicates_and_leaves_nothing(tmp_path):
    config = write(tmp_path, mock_config(items=ITEMS, delay_s=0.02, batch_size=2, extra_arms=BROKEN_ARM))
    clean = tmp_path / "clean"
    assert main(["run", str(config), "--out", str(clean), "--quiet"]) == 1  # in this process: imports are warm
    started = time.perf_counter()
    assert _wait(_fork_main(["run", str(config), "--out", str(tmp_path / "timed"), "--quiet"])) == 1
    duration = time.perf_counter() - started  # what an uninterrupted forked run takes: the kills are drawn over it
    expected = _comparable(clean)
    total = len(_rows(clean / "store.sqlite"))
    assert total == 4 * 3 * ITEMS

    rng = random.Random(SEED)
    abandoned_wal = 0  # kills that left commits in the WAL: the control for the SIGTERM test's closed-store check
    landed = {"before any commit": 0, "mid generation": 0, "after generation": 0}
    for trial in range(TRIALS):
        run_dir = tmp_path / f"trial-{trial:02d}"
        argv = ["run", str(config), "--out", str(run_dir), "--quiet"]
        pid = _fork_main(argv)
        time.sleep(rng.uniform(0.0, duration * 1.1))
        os.kill(pid, signal.SIGKILL)
        code = _wait(pid)
        assert code in (-signal.SIGKILL, 1), f"trial {trial}: exit {code}"
        assert not _group_alive(pid), f"trial {trial}: a process of the killed run is still running"
        before = _rows(run_dir / "store.sqlite")
        wal = run_dir / "store.sqlite-wal"
        abandoned_wal += bool(before) and wal.exists() and wal.stat().st_size > 0
        landed["before any commit" if not before else "mid generation" if len(before) < total
               else "after generation"] += 1

        assert _wait(_fork_main(argv)) == 1, f"trial {trial}: the rerun did not finish with the same verdict"
        after = _rows(run_dir / "store.sqlite")
        keys = [row[:4] for row in after]
        assert len(keys) == len(set(keys)) == total, f"trial {trial}: lost or duplicated completions"
        assert set(before) <= set(after), f"trial {trial}: a committed completion changed on the rerun"
        assert _comparable(run_dir) == expected, f"trial {trial}: another verdict than the uninterrupted run"
        assert main(["verify", str(run_dir)]) == 0, f"trial {trial}: verify failed"
    # the draws covered every phase (otherwise the trials would test less than they claim)
    assert all(n > 0 for n in landed.values()), landed
    assert abandoned_wal > 0
    print(f"{TRIALS} kills over {duration:.2f} s runs: {landed}")


def test_sigterm_mid_generation_stops_cleanly_and_the_rerun_finishes(tmp_path):
    config = write(tmp_path, mock_config(items=10, delay_s=0.25))
    run_dir = tmp_path / "run"
    db = run_dir / "store.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "tais.cli.main", "run", str(config), "--out", str(run_dir),
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while len(_rows(db)) < 4:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == ("tais: stopped by SIGTERM; committed completions are kept: run the "
                                              "same command again to resume")
    assert "Traceback" not in stderr
    assert not _group_alive(proc.pid)
    before = _rows(db)
    assert 4 <= len(before) < 4 * 3 * 10 - 10 * 3  # stopped inside generation, with commits kept
    assert not (run_dir / "evidence.json").exists()
    wal = run_dir / "store.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # the store was closed (checkpointed), not abandoned
    rerun = subprocess.run([sys.executable, "-m", "tais.cli.main", "run", str(config), "--out", str(run_dir),
                            "--quiet"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    after = _rows(db)
    assert set(before) <= set(after) and len(after) == len({r[:4] for r in after}) == 3 * 3 * 10


HF_CONFIG = """\
name: hf-kill
battery: [{{benchmark: smoke, limit: 2}}]
sampling: {{temperature: 0, max_tokens: 8, logprobs: 3}}
thresholds: {{margin: 0.3}}
arms:
  - {{name: reference, role: reference, backend: hf, model: "{model}", dtype: float32, options: {{batch_size: 1}}}}
  - name: spec-ngram
    backend: hf
    model: "{model}"
    dtype: float32
    speculative: {{proposer: ngram, k: 3, acceptance: strict}}
    options: {{batch_size: 1}}
"""


@pytest.mark.slow
def test_kill_9_of_an_hf_run_then_rerun_loses_and_duplicates_nothing(tmp_path):
    from tais.pipeline.demo import SMOLLM2

    config = write(tmp_path, HF_CONFIG.format(model=SMOLLM2))
    rng = random.Random(SEED)
    run_dir = tmp_path / "run"
    db = run_dir / "store.sqlite"
    argv = [sys.executable, "-m", "tais.cli.main", "run", str(config), "--out", str(run_dir), "--quiet"]
    kills = []
    for _trial in range(2):  # each trial kills after a random number of new commits, then resumes
        have = len(_rows(db))
        target = have + rng.randint(1, 3)
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 600
        try:
            while len(_rows(db)) < target and proc.poll() is None:
                assert time.monotonic() < deadline, "no commit within 600 s"
                time.sleep(0.01)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
        assert not _group_alive(proc.pid)
        kills.append(_rows(db))
    rerun = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert rerun.returncode in (0, 3), rerun.stderr
    after = _rows(db)
    keys = [r[:4] for r in after]
    assert len(keys) == len(set(keys)) == 2 * 3 * 2
    for before in kills:
        assert set(before) <= set(after)
    assert main(["verify", str(run_dir)]) == 0
