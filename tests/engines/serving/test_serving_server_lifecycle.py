"""The process lifecycle of ``VLLMServerEngine`` (free port, health wait, process group, stop on close, on Ctrl-C, on
SIGTERM and on ``kill -9`` of the driving process, and on a server that dies), with the loopback server standing in for
``vllm serve``: the lifecycle does not depend on what
the process serves, and starting vLLM takes a minute per case on 2 cores. The real ``vllm serve`` lifecycle is
covered in test_serving_vllm.py."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tais.errors import EngineError
from tais.types import ChatMessage, Request, SamplingParams

LOOPBACK_SERVED = textwrap.dedent("""\
    import signal, sys
    # a background job inherits SIGINT as ignored (POSIX shells do that); the Ctrl-C tests need the default handler
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from pathlib import Path
    from tais.sources.resolve import Resolved
    from tais.engines.vllm.config import VLLMArm
    from tais.engines.vllm.server import VLLMServerEngine

    class LoopbackServed(VLLMServerEngine):
        extra = []
        def serve_command(self, port):
            return [sys.executable, "-m", "tais.testing.loopback", "--port", str(port), "--model",
                    self.arm.name, *self.extra]

    def loopback_served(workdir, **client_options):
        arm = VLLMArm(name="lb", model=Resolved("file:none", Path("none"), "0" * 64), dtype="float32")
        return LoopbackServed(arm, dict(client_options), workdir=Path(workdir))
    """)
namespace: dict = {}
exec(compile(LOOPBACK_SERVED, "loopback_served", "exec"), namespace)
loopback_served = namespace["loopback_served"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" not in status.read_text()
    except OSError:
        return False


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    parent_of = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent_of[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parent_of.items() if parent in frontier} - found
        found |= frontier
    return {p for p in found if alive(p)}


def wait_until(condition, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_generate_through_the_started_server_then_close_stops_it(tmp_path):
    engine = loopback_served(tmp_path, concurrency=4)
    requests = [
        Request(f"t/{i}", SamplingParams(max_tokens=4), messages=(ChatMessage("user", f"q{i}"),)) for i in range(9)
    ]

    async def run():
        return [c async for c in engine.generate(requests)]

    try:
        completions = asyncio.run(run())
        pid = engine.process.pid
        server = descendants(pid)
        assert alive(pid) and server  # the watcher and the server below it
    finally:
        engine.close()
    assert sorted(c.item_id for c in completions) == sorted(r.item_id for r in requests)
    assert all(c.token_ids is not None for c in completions)  # return_token_ids was sent
    assert engine.telemetry() == {} and not alive(pid) and not any(alive(p) for p in server)
    assert (tmp_path / "vllm-serve-lb.log").read_text().startswith("$ ")
    engine.close()  # idempotent


def test_a_start_after_a_server_killed_mid_line_writes_its_command_on_a_line_of_its_own(tmp_path):
    log = tmp_path / "vllm-serve-lb.log"
    log.write_bytes(b"$ first start\nINFO serving\nprogress 40%")  # what a server killed mid-write leaves
    engine = loopback_served(tmp_path)
    try:
        engine.start()
    finally:
        engine.close()
    lines = log.read_text().splitlines()
    assert lines[:3] == ["$ first start", "INFO serving", "progress 40%"]
    assert sum(line.startswith("$ ") for line in lines) == 2 and lines[3].startswith("$ ")
    # positive control: a log that ends on a full line gets no empty line before the next command
    engine = loopback_served(tmp_path)
    try:
        engine.start()
    finally:
        engine.close()
    lines = log.read_text().splitlines()
    assert sum(line.startswith("$ ") for line in lines) == 3 and "" not in lines


def test_ctrl_c_in_the_driving_process_stops_the_server(tmp_path):
    script = LOOPBACK_SERVED + textwrap.dedent(f"""
        import time
        engine = loopback_served({str(tmp_path)!r})
        engine.start()
        print(engine.process.pid, flush=True)
        time.sleep(120)
        """)
    driver = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        server_pid = int(driver.stdout.readline())
        tree = {server_pid} | descendants(server_pid)
        assert alive(server_pid) and len(tree) >= 2  # positive control: the watcher and the server run
        driver.send_signal(signal.SIGINT)
        driver.wait(30)
    finally:
        driver.kill()
    assert wait_until(lambda: not any(alive(p) for p in tree), 10)


def test_a_server_that_exits_during_startup_is_one_engine_error_with_its_log(tmp_path):
    engine = loopback_served(tmp_path)
    engine.extra = ["--no-such-flag"]
    with pytest.raises(
        EngineError, match="vllm serve exited with code 2 before it was ready .log .*unrecognized arguments"
    ):
        engine.start()
    assert engine.process.poll() == 2


def test_a_server_that_never_gets_healthy_times_out_and_is_stopped(tmp_path):
    engine = loopback_served(tmp_path, startup_timeout_s=1.5)
    engine.serve_command = lambda port: [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(EngineError, match="not healthy after 2 s .options.startup_timeout_s"):
        engine.start()
    assert engine.process.poll() is not None


def test_ctrl_c_while_waiting_for_health_stops_the_server(tmp_path):
    pid_file = tmp_path / "server.pid"
    script = LOOPBACK_SERVED + textwrap.dedent(f"""
        engine = loopback_served({str(tmp_path)!r}, startup_timeout_s=60)
        engine.serve_command = lambda port: [sys.executable, "-c",
            "import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"]
        engine.start()
        """)
    driver = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        server_pid = int(pid_file.read_text())
        assert alive(server_pid)
        driver.send_signal(signal.SIGINT)
        _, stderr = driver.communicate(timeout=30)
    finally:
        driver.kill()
    assert "KeyboardInterrupt" in stderr
    assert not alive(server_pid)


def _driver_with_server(tmp_path, *, deathsig: bool = True, on_sigterm: bool = False) -> tuple[subprocess.Popen, set]:
    """A process that starts the loopback server as a ``vllm-server`` arm and then idles; returns it and the pids of
    the server's tree (the watcher and the server), which are checked to be alive (the positive control)."""
    script = LOOPBACK_SERVED + textwrap.dedent(f"""
        import time
        from tais.engines import lifeline
        from tais.engines.vllm import server
        if {on_sigterm!r}:
            from tais.cli.main import stop_cleanly_on_sigterm
            stop_cleanly_on_sigterm()
        if not {deathsig!r}:
            spawn = lifeline.spawn
            server.lifeline.spawn = lambda command, **kw: spawn(command, **{{**kw, "deathsig": False}})
        engine = loopback_served({str(tmp_path)!r})
        engine.start()
        print(engine.process.pid, flush=True)
        time.sleep(120)
        """)
    driver = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    watcher = int(driver.stdout.readline() or 0)
    assert watcher, driver.stderr.read()
    tree = {watcher} | descendants(watcher)
    assert len(tree) >= 2 and all(alive(p) for p in tree)
    return driver, tree


@pytest.mark.parametrize("deathsig", [True, False], ids=["deathsig-and-pipe", "pipe-alone"])
def test_kill_9_of_the_driving_process_takes_the_server_down(tmp_path, deathsig):
    """SIGKILL runs no atexit and no finalizer: the watcher alone must stop the server, through PR_SET_PDEATHSIG and,
    on every platform, through the pipe that closes with its parent (``pipe-alone`` checks the pipe without the
    death signal)."""
    driver, tree = _driver_with_server(tmp_path, deathsig=deathsig)
    try:
        time.sleep(0.5)
        assert all(alive(p) for p in tree)  # still up while its parent lives
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
    finally:
        driver.kill()
    assert wait_until(lambda: not any(alive(p) for p in tree), 15), [p for p in tree if alive(p)]


def test_sigterm_of_the_driving_process_stops_it_cleanly_and_the_server_with_it(tmp_path):
    driver, tree = _driver_with_server(tmp_path, on_sigterm=True)
    try:
        driver.send_signal(signal.SIGTERM)
        _, stderr = driver.communicate(timeout=30)
    finally:
        driver.kill()
    assert "Terminated" in stderr  # tais's handler turned SIGTERM into an exception: finalizers ran
    assert wait_until(lambda: not any(alive(p) for p in tree), 15), [p for p in tree if alive(p)]


def test_the_watcher_reports_the_exit_code_of_a_command_that_ends_on_its_own(tmp_path):
    from tais.engines import lifeline

    watcher = lifeline.spawn([sys.executable, "-c", "raise SystemExit(7)"], stdout=subprocess.DEVNULL)
    try:
        assert watcher.wait(30) == 7
    finally:
        lifeline.stop(watcher)
