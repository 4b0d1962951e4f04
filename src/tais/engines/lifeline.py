"""Run a server process tree that dies with the process that started it, however that process ends.

``atexit`` and ``weakref.finalize`` never run when the driving process is killed with SIGKILL, so a server started
by tais would live on as an orphan. :func:`spawn` therefore starts the command through a small watcher::

    python -m tais.engines.lifeline [--no-deathsig] --grace 20 -- COMMAND...

The watcher runs in a new session (its own process group, so the terminal's Ctrl-C does not reach it) with a pipe
from the parent on its stdin, and starts ``COMMAND`` in a process group of its own. It stops that whole group
(SIGTERM, then SIGKILL after ``--grace`` seconds) at the first of:

- its stdin reaches end of file: the parent closed the pipe or died, on every platform and for every way of dying,
  SIGKILL included (the kernel closes a dead process's descriptors);
- SIGTERM, SIGINT or SIGHUP: on Linux the parent's death also sends it SIGTERM at once (``PR_SET_PDEATHSIG``, set
  first thing, then the parent is checked to be still the one that started it), and ``COMMAND`` gets the same for
  the watcher's death (set between fork and exec), so even a SIGKILLed watcher takes the server down.

Linux sends the death signal when the *thread* that started the watcher ends, so :func:`spawn` belongs on a thread
that lives as long as the server should (tais calls it from the main thread).

When ``COMMAND`` exits on its own, whatever it left in its group is killed and the watcher exits with its code
(128 + N for a signal N), so a server that fails at startup reports its own exit code.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import IO

PR_SET_PDEATHSIG = 1


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover
        return None


_LIBC = _libc()


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only; a no-op elsewhere, where the
    stdin pipe alone stops the watcher). Async-signal-safe once the module is imported (libc is looked up then), so
    it may run between fork and exec."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def spawn(command: Sequence[str], *, stdout: IO[bytes] | int | None, grace_s: float = 20.0,
          deathsig: bool = True) -> subprocess.Popen:
    """Start ``command`` under the watcher (see the module docstring). The returned process is the watcher; its
    stdin is the lifeline: closing it, or the end of this process, stops the command's whole process group.
    ``deathsig=False`` leaves out ``PR_SET_DEATHSIG`` (the tests use it to check the pipe alone)."""
    argv = [sys.executable, "-m", "tais.engines.lifeline", "--grace", str(grace_s), "--parent", str(os.getpid())]
    if not deathsig:
        argv.append("--no-deathsig")
    return subprocess.Popen(
        [*argv, "--", *command], stdin=subprocess.PIPE, stdout=stdout, stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen, grace_s: float = 20.0) -> None:
    """Stop a watcher from :func:`spawn` and with it the command's group: close the lifeline, send SIGTERM, wait;
    SIGKILL the watcher if it has not exited after ``grace_s`` + 5 seconds (its command then gets its death signal)."""
    if process.stdin is not None and not process.stdin.closed:
        try:
            process.stdin.close()
        except OSError:
            pass
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        process.wait(grace_s + 5.0)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _watch(command: list[str], grace_s: float, parent: int | None, deathsig: bool) -> int:
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stopping.set())
    if deathsig:
        die_with_parent(signal.SIGTERM)
    if parent is not None and os.getppid() != parent:  # the parent died before PR_SET_DEATHSIG took effect
        return 128 + signal.SIGTERM

    def child_setup() -> None:  # between fork and exec, while this process has one thread
        os.setpgid(0, 0)
        if deathsig:
            die_with_parent(signal.SIGTERM)

    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, preexec_fn=child_setup)  # noqa: PLW1509

    def lifeline() -> None:
        try:  # the raw descriptor: a daemon thread blocked in a buffered read aborts the interpreter's shutdown
            while os.read(0, 1):
                pass
        except OSError:
            pass
        stopping.set()

    threading.Thread(target=lifeline, daemon=True).start()
    while child.poll() is None and not stopping.is_set():
        stopping.wait(0.2)
    if child.poll() is None:
        _kill_group(child.pid, signal.SIGTERM)
        try:
            child.wait(grace_s)
        except subprocess.TimeoutExpired:
            pass
    _kill_group(child.pid, signal.SIGKILL)  # what is left of the group: workers the command did not stop
    code = child.wait()
    return 128 - code if code < 0 else code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tais.engines.lifeline", description=__doc__.splitlines()[0])
    parser.add_argument("--grace", type=float, default=20.0)
    parser.add_argument("--parent", type=int, default=None)
    parser.add_argument("--no-deathsig", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    return _watch(command, args.grace, args.parent, not args.no_deathsig)


if __name__ == "__main__":
    raise SystemExit(main())
