"""The process lifecycle of ``VLLMServerEngine`` (free port, health wait, process group, stop on close, on Ctrl-C and
on a server that dies), with the loopback server standing in for ``vllm serve``: the lifecycle does not depend on what
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
    import sys
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
    return not (status.exists() and "zombie" in status.read_text())


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
        assert alive(pid)
    finally:
        engine.close()
    assert sorted(c.item_id for c in completions) == sorted(r.item_id for r in requests)
    assert all(c.token_ids is not None for c in completions)  # return_token_ids was sent
    assert engine.telemetry() == {} and not alive(pid)
    assert (tmp_path / "vllm-serve-lb.log").read_text().startswith("$ ")
    engine.close()  # idempotent


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
        assert alive(server_pid)
        driver.send_signal(signal.SIGINT)
        driver.wait(30)
    finally:
        driver.kill()
    deadline = time.monotonic() + 10
    while alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(server_pid)


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
