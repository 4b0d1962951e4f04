"""Third-party output of a run goes to the run's log file (``RUN/tais.log``), not the terminal.

While :func:`output_to_run_log` is active, whatever libraries print (transformers' conversion bars, a FutureWarning
per batch, vLLM's logging) lands in the log: ``sys.stdout`` and ``sys.stderr`` write there, Python warnings are
routed through logging, and the root logger gets a handler on the log. The terminal keeps tais's own progress bars
(their console holds the real stderr) and, after the run, the verdict table. The log file is created on the first
write, so a run refused before it starts leaves nothing behind. A handler a library created during the run (bound to
the redirected stream) writes to the terminal again after it.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

RUN_LOG_FILENAME = "tais.log"


class _LogFile:
    """The log file, opened (appending) on the first write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: IO[str] | None = None

    def write(self, text: str) -> None:
        if self.file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "a", encoding="utf-8", errors="replace")
        self.file.write(text)
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class _Redirect(io.TextIOBase):
    """A text stream that writes to the log while the run lasts and to ``after`` once released."""

    def __init__(self, log: _LogFile, after: IO[str]) -> None:
        self.log = log
        self.after = after
        self.released = False

    def write(self, text: str) -> int:
        if self.released:
            return self.after.write(text)
        self.log.write(text)
        return len(text)

    def flush(self) -> None:
        if self.released:
            self.after.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIO declares a writable attribute
        return "utf-8"


@contextmanager
def output_to_run_log(run_dir: Path) -> Iterator[Path]:
    """Send third-party output to ``run_dir/tais.log`` while the block runs (see the module docstring)."""
    log = _LogFile(Path(run_dir) / RUN_LOG_FILENAME)
    saved_out, saved_err = sys.stdout, sys.stderr
    out, err = _Redirect(log, saved_out), _Redirect(log, saved_err)
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    logging.captureWarnings(True)
    detached = _detach_own_handlers()
    sys.stdout, sys.stderr = out, err
    try:
        yield log.path
    finally:
        sys.stdout, sys.stderr = saved_out, saved_err
        _reattach(detached)
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(level)
        out.released = err.released = True
        log.close()


def _detach_own_handlers() -> list[tuple[logging.Logger, list[logging.Handler], bool]]:
    """Loggers that a library set up before the run with handlers of their own and no propagation (transformers'
    ``transformers`` logger writes to the stderr it saw at import) go through the root logger's log handler while the
    run lasts; returns what :func:`_reattach` restores."""
    detached: list[tuple[logging.Logger, list[logging.Handler], bool]] = []
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and not logger.propagate:
            detached.append((logger, list(logger.handlers), logger.propagate))
            logger.handlers = []
            logger.propagate = True
    return detached


def _reattach(detached: list[tuple[logging.Logger, list[logging.Handler], bool]]) -> None:
    for logger, handlers, propagate in detached:
        logger.handlers = handlers + [h for h in logger.handlers if h not in handlers]
        logger.propagate = propagate
