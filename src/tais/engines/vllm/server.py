"""The ``vllm-server`` engine: tais starts ``vllm serve`` for the arm, drives it over HTTP, and stops it.

The server runs as ``python -m tais.engines.vllm.launch serve <model folder> --host 127.0.0.1 --port <free port>
--served-model-name <arm name> --dtype ... [--speculative-config JSON] [engine args]`` in its own process group,
under the watcher of :mod:`tais.engines.lifeline` (so it dies with tais however tais ends, ``kill -9`` included), with
its output in ``<workdir>/vllm-serve-<arm>.log``. It is started on the first ``generate()`` (or :meth:`start`); tais
waits for ``GET /health`` and then runs the arm through :class:`~tais.engines.openai.OpenAIEngine` with
``return_token_ids`` and the server's ``/metrics`` (speculative acceptance in :meth:`telemetry`). The whole process
group is stopped by :meth:`close`, when the interpreter exits, and when the engine is garbage-collected; a server
that exits or never becomes healthy raises :class:`~tais.errors.EngineError` with the end of its log.

``options`` hold vLLM engine args (passed through as flags) plus these client keys, which stay with tais:
``concurrency`` (default 16), ``timeout_s`` (600), ``max_retries``, ``retry_budget``, ``extra_body``, ``api`` and
``startup_timeout_s`` (how long to wait for /health, default 900); see
:class:`tais.engines.vllm.options.VLLMServerOptions`.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from tais.engines import lifeline
from tais.engines.openai import OpenAIEngine, OpenAIOptions
from tais.engines.vllm.config import VLLMArm
from tais.engines.vllm.kv_cache import memory_hint
from tais.engines.vllm.options import VLLMServerOptions
from tais.errors import EngineError
from tais.interfaces import Engine
from tais.schema import parse
from tais.types import ArmSpec, Completion, Request, ScoringRequest, TokenScores

log = logging.getLogger(__name__)

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_group(process: subprocess.Popen, grace_s: float = 20.0) -> None:
    """Stop the server: its watcher stops the server's process group (SIGTERM, then SIGKILL after ``grace_s``)."""
    lifeline.stop(process, grace_s)


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:] if line.strip())


class VLLMServerEngine(Engine):
    """One arm on a ``vllm serve`` process that tais owns."""

    name = "vllm-server"

    def __init__(self, arm: VLLMArm, options: VLLMServerOptions | Mapping[str, Any] | None = None, *,
                 workdir: Path | None = None) -> None:
        """``options``: the client settings (a mapping is validated as :class:`VLLMServerOptions`); the engine
        arguments the server is started with are ``arm.engine_args``."""
        self.arm = arm
        if not isinstance(options, VLLMServerOptions):
            options = parse(VLLMServerOptions, options or {}, key="options")
        self.options = options
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="tais-vllm-serve-"))
        self.startup_timeout_s = options.startup_timeout_s
        self.process: subprocess.Popen | None = None
        self.log_path = self.workdir / f"vllm-serve-{arm.name}.log"
        self.base_url: str | None = None
        self._client: OpenAIEngine | None = None
        self._finalizer: weakref.finalize | None = None

    @classmethod
    def from_arm(cls, arm: ArmSpec, *, workdir: Path | None = None) -> VLLMServerEngine:
        options = parse(VLLMServerOptions, arm.options, key="options")
        return cls(VLLMArm.resolve(arm, engine_args=options.engine_args()), options, workdir=workdir)

    def serve_command(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tais.engines.vllm.launch",
            *self.arm.serve_args(port=port, served_model_name=self.arm.name),
        ]

    def describe(self) -> dict[str, Any]:
        """vLLM version, model / draft sources and hashes, dtype, speculative config, the ``vllm serve`` arguments
        (without the local folder, host, port and served name, which change from run to run or with the arm's name)
        and the client's request settings."""
        args = self.arm.serve_args(port=0, served_model_name=self.arm.name, with_defaults=False)
        args = args[:1] + ["<model>"] + args[8:]  # drop the folder, host, port and served name
        return {
            "backend": self.name,
            **self.arm.describe(),
            "serve_args": args,
            "api": self.options.api,
            "extra_body": dict(self.options.extra_body),
        }

    def telemetry(self) -> dict[str, Any]:
        return self._client.telemetry() if self._client is not None else {}

    def start(self) -> OpenAIEngine:
        """Start the server (once) and wait until it is healthy; returns the OpenAI engine that drives it."""
        if self._client is not None:
            return self._client
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        command = self.serve_command(port)
        log.info("starting vllm serve for arm %s on port %d (log: %s)", self.arm.name, port, self.log_path)
        with open(self.log_path, "ab") as out:
            # a server killed mid-line (a progress bar, a cut write) leaves no newline: start on a line of its own
            out.write((_line_break(self.log_path) + "$ " + " ".join(command) + "\n").encode())
            out.flush()
            self.process = lifeline.spawn(command, stdout=out)
        self._finalizer = weakref.finalize(self, _stop_group, self.process)
        atexit.register(self._finalizer)
        self.base_url = f"http://127.0.0.1:{port}"
        try:
            self._wait_healthy()
        except BaseException:
            self.close()
            raise
        options = OpenAIOptions(
            **{
                **self.options.client(),
                "base_url": self.base_url,
                "extra_body": {"return_token_ids": True, **self.options.extra_body},
                "metrics_url": f"{self.base_url}/metrics",
            }
        )
        self._client = OpenAIEngine(options, self.arm.name, workdir=self.workdir)
        return self._client

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                tail = _log_tail(self.log_path)
                raise EngineError(
                    f"arm {self.arm.name!r}: vllm serve exited with code {code} before it was ready "
                    f"(log {self.log_path}): {tail}{memory_hint(tail)}"
                )
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise EngineError(
            f"arm {self.arm.name!r}: vllm serve was not healthy after {self.startup_timeout_s:.0f} s "
            f"(options.startup_timeout_s; log {self.log_path})"
        )

    async def generate(self, requests: Sequence[Request]) -> AsyncIterator[Completion]:
        client = self.start()  # in this thread, so that Ctrl-C during the startup wait stops the server at once
        try:
            async for completion in client.generate(requests):
                yield completion
        except EngineError as exc:
            if self.process is not None and self.process.poll() is not None:
                raise EngineError(
                    f"arm {self.arm.name!r}: vllm serve died (exit {self.process.returncode}; log {self.log_path}): "
                    f"{_log_tail(self.log_path, 5)}"
                ) from exc
            raise

    def score_tokens(self, requests: Sequence[ScoringRequest]) -> list[TokenScores]:
        """Teacher-forced scoring through the started server (``/v1/completions`` with ``prompt_logprobs``; see
        :mod:`tais.engines.openai.scoring`)."""
        return self.start().score_tokens(requests)

    def score_token_batches(self, requests: Sequence[ScoringRequest], batch: int) -> Iterator[list[TokenScores]]:
        """The started server's batches in flight (:meth:`tais.engines.openai.OpenAIEngine.score_token_batches`)."""
        return self.start().score_token_batches(requests, batch)

    def close(self) -> None:
        """Stop the server's whole process group (idempotent)."""
        self._client = None
        if self._finalizer is not None:
            self._finalizer()
            atexit.unregister(self._finalizer)
            self._finalizer = None


def _line_break(path: Path) -> str:
    """``"\\n"`` when the log at ``path`` ends inside a line, else ``""``.

    >>> import tempfile; folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.log").write_bytes(b"INFO ready\\nprogress 40%")
    >>> _line_break(folder / "a.log"), _line_break(folder / "missing.log")
    ('\\n', '')
    """
    try:
        with open(path, "rb") as log_file:
            log_file.seek(0, os.SEEK_END)
            if log_file.tell() == 0:
                return ""
            log_file.seek(-1, os.SEEK_END)
            return "" if log_file.read(1) == b"\n" else "\n"
    except FileNotFoundError:
        return ""
