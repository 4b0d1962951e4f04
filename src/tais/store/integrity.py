"""SQLite's full structural check of a store file (``PRAGMA integrity_check``), run in the background.

``tais verify`` needs the check (every page of the file read, every b-tree's order and every index matched against
its table: the damage no stored value shows, which ``PRAGMA quick_check`` does not look for) and also reads the
whole run back to re-derive its evidence. The two are independent reads of the same file, so the check runs on a
connection of its own in a daemon thread while the main thread streams the run: SQLite releases the GIL while a
statement runs, so on a machine with two cores the check's time (about 6 s of CPU, and the disk reads of a cold
file, for a store of a million completions) is hidden behind the re-derivation instead of added to it. It is the
same check, the same result: nothing is skipped.

Worked example (a store in a temporary folder)::

    >>> import tempfile
    >>> from tais.store.run_store import RunStore
    >>> folder = tempfile.mkdtemp()
    >>> RunStore(f"{folder}/store.sqlite").close()
    >>> check = IntegrityCheck(Path(f"{folder}/store.sqlite"))
    >>> check.problems()
    []
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class IntegrityCheck:
    """``PRAGMA integrity_check`` of the SQLite file at ``path``, started when made, in a daemon thread on a connection
    of its own (opened read-write but never writing, and never creating a missing file); :meth:`problems` waits for
    it."""

    def __init__(self, path: Path) -> None:
        self._uri = f"{Path(path).resolve().as_uri()}?mode=rw"
        self._outcome: list[str] | Exception = []
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="tais-integrity-check", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._uri, uri=True, timeout=30.0, check_same_thread=False)
            with self._lock:
                self._db = db
            try:
                rows = [str(row[0]) for row in db.execute("PRAGMA integrity_check")]
            finally:
                with self._lock:
                    self._db = None
                db.close()
            self._outcome = [] if rows == ["ok"] else rows
        except Exception as exc:  # handed to the caller of problems(), in its own thread
            self._outcome = exc

    def problems(self) -> list[str]:
        """What the check found (empty when the file is sound), once it is done; raises what the check raised
        (``sqlite3.DatabaseError`` for a file SQLite cannot read)."""
        self._thread.join()
        if isinstance(self._outcome, Exception):
            raise self._outcome
        return self._outcome

    def cancel(self) -> None:
        """Stop a check still running (its statement is interrupted) and wait for its thread."""
        with self._lock:
            if self._db is not None:
                self._db.interrupt()
        self._thread.join()
