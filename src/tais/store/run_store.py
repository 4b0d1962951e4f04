"""The run store: one SQLite file per run directory (``store.sqlite``), in WAL mode, written by one process.

What it holds (all append-only; nothing is ever updated in place; the tables are in :mod:`tais.store.schema`, the
records it hands out in :mod:`tais.store.records`):

- ``tasks`` / ``items``: the battery as it was loaded, keyed by the task's content sha256 and each item's sha256.
- ``arms``: each arm fingerprint with the full arm spec and the engine's ``describe()`` output.
- ``completions``: keyed by *(fingerprint, item id, replicate, request sha256)*; the request sha256 pins the exact chat
  turns sent, so an item whose text changes is generated again rather than answered from the cache. Each row keeps
  the completion as canonical JSON and that JSON's sha256.
- ``scores``: keyed like completions plus the scorer id (``NAME@VERSION``), so a new scorer version re-scores without
  regenerating.
- ``runs``: one row per ``tais run``: the config text and its sha256, and the :class:`~tais.store.run_plan.RunPlan`
  (arms and fingerprints, tasks, replicates, thresholds) that says which rows of the tables above make up that run.
  A plan stored by an older tais (plan version 1 or 2) is read as it is.
- ``plan_item_sets`` / ``plan_items``: each planned task's items and their request hashes, one row per item, under
  the sha256 that names them in the plan (:class:`~tais.store.run_plan.PlannedItems`): written once when the plan is
  built (:meth:`RunStore.put_plan_items`, shared by every run whose plan names the same items), read by cursor
  (:meth:`RunStore.plan_items`), so a plan of any size costs no memory. Added after schema 1 shipped, like the
  Merkle tables.
- ``analyses``: one row per screen of a run (thresholds and the sha256 of the evidence it wrote).
- ``arm_telemetry``: what an engine reported about an arm as a whole, one row per generation session.
- ``scorings``: teacher-forced re-scorings (:class:`~tais.types.TokenScores`), keyed by *(scoring arm fingerprint,
  sha256 of the scored completion)*; committed in batches like scores, so an interrupted scoring phase resumes with
  what is missing (:meth:`RunStore.missing_scorings`). The table was added after schema 1 shipped: it is created
  when a store is opened for writing, and a store written before it reads as holding no scorings.

A completion *counts only once committed*: :meth:`RunStore.add_completion` commits its own transaction before it
returns, so a process killed at any instant leaves every earlier completion stored and no half-written one. The WAL
runs with ``synchronous=NORMAL``: a committed transaction survives any crash or kill of the process (the WAL is in
the operating system's hands once the commit returns); only a power loss or kernel crash can drop the last commits
before the next checkpoint, which a resumed run then generates again. A second
write of the same key is ignored (the first answer stays), so resuming can never duplicate a completion.

Worked example::

    >>> store = RunStore(":memory:")
    >>> key = CompletionKey("t/1", 0, "r" * 64)
    >>> store.missing("fp", [key]) == [key]
    True
    >>> store.add_completion("fp", key, Completion(item_id="t/1", text="Hi"))
    True
    >>> store.missing("fp", [key])
    []
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tais.errors import InputError, IntegrityError
from tais.store.canonical import canonical_json, sha256_text
from tais.store.records import (
    RunRecord,
    StoredCompletion,
    loads_stored,
    task_content_sha256,
    task_record,
)
from tais.store.run_plan import (
    LEGACY_PLAN_VERSION,
    ItemsDigest,
    PlannedItem,
    PlannedItems,
    RunPlan,
    plan_version,
)
from tais.store.schema import ADDED_SCHEMA, SCHEMA
from tais.types import Completion, CompletionKey, Item, Score, Task, TokenScores

STORE_FILENAME = "store.sqlite"
SCHEMA_VERSION = 1
LEAVES_PER_ROW = 4096
"""Merkle leaves (32 bytes each) kept per ``merkle_leaves`` row"""

_COMPLETION_ROWS = """
SELECT i.position, c.replicate, c.request_sha256, c.completion_json, c.sha256, t.elapsed_s, s.score_json, s.sha256
FROM items i JOIN completions c ON c.fingerprint = ? AND c.item_id = i.item_id
LEFT JOIN timings t ON t.fingerprint = c.fingerprint AND t.item_id = c.item_id AND t.replicate = c.replicate
    AND t.request_sha256 = c.request_sha256
LEFT JOIN scores s ON s.fingerprint = c.fingerprint AND s.item_id = c.item_id AND s.replicate = c.replicate
    AND s.request_sha256 = c.request_sha256 AND s.scorer = ?
WHERE i.task_sha256 = ? ORDER BY i.position, c.replicate, c.request_sha256
"""


class RunStore:
    """The SQLite run store of one run directory (see the module docstring). Use as a context manager or call
    :meth:`close`, which checkpoints the WAL into the main file."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = path if path == ":memory:" else Path(path)
        if not create and (self.path == ":memory:" or not Path(self.path).is_file()):
            raise InputError("no run store here (expected a directory written by `tais run`)", path=str(path))
        if create and self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            if create:
                self._db.executescript(SCHEMA)
                self._db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            version = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if version is not None:
                self._db.executescript(ADDED_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise InputError(f"not a tais run store: {exc}", path=str(path)) from None
        if version is None or version[0] != str(SCHEMA_VERSION):
            self._db.close()
            raise InputError(f"run store schema {version and version[0]!r}, expected {SCHEMA_VERSION}", path=str(path))

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Checkpoint the WAL into the main database file and close. Idempotent."""
        if self._db is None:
            return
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._db.close()
            self._db = None  # type: ignore[assignment]  # closed: no connection any more

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except sqlite3.Error:
            pass  # the error in flight is the one to report (a cursor it left open blocks the checkpoint: the WAL
            # is checkpointed at the next open)

    def _write(self, sql_rows: Iterable[tuple[str, tuple[Any, ...]]]) -> int:
        """Run several inserts in one committed transaction; returns how many rows were inserted."""
        inserted = 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for sql, row in sql_rows:
                inserted += self._db.execute(sql, row).rowcount
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return inserted

    # -- battery -----------------------------------------------------------------------------------------------------

    def put_tasks(self, tasks: Sequence[Task]) -> dict[str, str]:
        """Store each task and its items; returns task name -> content sha256 (the key it is stored under).

        The content sha256 is computed here from the task's metadata and items (:func:`task_content_sha256`), so it
        pins exactly what was stored whatever the loader's own ``Task.sha256`` covers."""
        rows: list[tuple[str, tuple[Any, ...]]] = []
        keys: dict[str, str] = {}
        for task in tasks:
            content = task_content_sha256(task)
            keys[task.name] = content
            rows.append(("INSERT OR IGNORE INTO tasks VALUES (?, ?, ?)",
                         (content, task.name, canonical_json(task_record(task)))))
            for position, item in enumerate(task.items):
                item_json = canonical_json(item.to_dict())
                rows.append(("INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?, ?)",
                             (content, position, item.id, sha256_text(item_json), item_json)))
        self._write(rows)
        return keys

    def task(self, sha256: str) -> Task:
        """The task stored under a content sha256, with its items in their original order."""
        row = self._db.execute("SELECT task_json FROM tasks WHERE sha256=?", (sha256,)).fetchone()
        if row is None:
            raise KeyError(sha256)
        meta = loads_stored(row[0], f"task {sha256[:12]}")
        items = tuple(
            Item.from_dict(loads_stored(r[1], f"item {r[0]}"))
            for r in self._db.execute(
                "SELECT item_id, item_json FROM items WHERE task_sha256=? ORDER BY position", (sha256,))
        )
        return Task(items=items, **meta)

    def item_rows(self) -> list[tuple[str, str, str, str]]:
        """(task sha256, item id, recorded item sha256, item JSON) for every stored item."""
        return list(self._db.execute(
            "SELECT task_sha256, item_id, item_sha256, item_json FROM items ORDER BY task_sha256, position"))

    # -- arms --------------------------------------------------------------------------------------------------------

    def put_arm(self, fingerprint: str, name: str, spec: Mapping[str, Any], describe: Mapping[str, Any]) -> None:
        self._write([("INSERT OR IGNORE INTO arms VALUES (?, ?, ?, ?)",
                      (fingerprint, name, canonical_json(dict(spec)), canonical_json(dict(describe))))])

    def arm(self, fingerprint: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(spec, describe) stored for a fingerprint."""
        row = self._db.execute("SELECT spec_json, describe_json FROM arms WHERE fingerprint=?",
                               (fingerprint,)).fetchone()
        if row is None:
            raise KeyError(fingerprint)
        return json.loads(row[0]), json.loads(row[1])

    def add_arm_telemetry(self, fingerprint: str, telemetry: Mapping[str, Any]) -> None:
        """Record what an engine reported about one generation session of an arm (e.g. vLLM's speculative counters
        over that session); a resumed arm has one row per session."""
        self._write([("INSERT INTO arm_telemetry (fingerprint, telemetry_json) VALUES (?, ?)",
                      (fingerprint, canonical_json(dict(telemetry))))])

    def arm_telemetry(self, fingerprint: str) -> list[dict[str, Any]]:
        """The telemetry of each generation session of an arm, oldest first."""
        rows = self._db.execute("SELECT telemetry_json FROM arm_telemetry WHERE fingerprint=? ORDER BY session",
                                (fingerprint,))
        return [loads_stored(r[0], f"arm {fingerprint[:12]} telemetry") for r in rows]

    # -- completions -------------------------------------------------------------------------------------------------

    def missing(self, fingerprint: str, keys: Sequence[CompletionKey]) -> list[CompletionKey]:
        """The keys (in the order given) that have no committed completion for this arm fingerprint."""
        have = {
            (r[0], r[1], r[2])
            for r in self._db.execute(
                "SELECT item_id, replicate, request_sha256 FROM completions WHERE fingerprint=?", (fingerprint,))
        }
        return [k for k in keys if (k.item_id, k.replicate, k.request_sha256) not in have]

    def add_completion(self, fingerprint: str, key: CompletionKey, completion: Completion,
                       elapsed_s: float = 0.0) -> bool:
        """Commit one completion; returns False (and keeps the stored one) if the key already has a completion.

        ``elapsed_s`` is the generation wall time since the arm's previous commit (or since generation started), kept
        beside the completion in the same transaction, so the arm's total generation time survives an interrupted
        and resumed run (:meth:`generation_wall_s`)."""
        if (completion.item_id, completion.replicate) != (key.item_id, key.replicate):
            raise ValueError(f"completion {completion.item_id}#{completion.replicate} stored under {key}")
        text = canonical_json(completion.to_dict())
        row = (fingerprint, key.item_id, key.replicate, key.request_sha256)
        return bool(self._write([
            ("INSERT OR IGNORE INTO completions VALUES (?, ?, ?, ?, ?, ?)", (*row, text, sha256_text(text))),
            ("INSERT OR IGNORE INTO timings VALUES (?, ?, ?, ?, ?)", (*row, float(elapsed_s))),
        ]) == 2)

    def add_completions(self, fingerprint: str,
                        batch: Sequence[tuple[CompletionKey, Completion, float]]) -> int:
        """Commit several completions (key, completion, generation seconds) in one transaction; returns how many were
        new. Each counts once this returns, exactly as with :meth:`add_completion` (a group commit: one WAL sync for
        the batch instead of one per completion)."""
        rows: list[tuple[str, tuple[Any, ...]]] = []
        for key, completion, elapsed_s in batch:
            if (completion.item_id, completion.replicate) != (key.item_id, key.replicate):
                raise ValueError(f"completion {completion.item_id}#{completion.replicate} stored under {key}")
            text = canonical_json(completion.to_dict())
            row = (fingerprint, key.item_id, key.replicate, key.request_sha256)
            rows.append(("INSERT OR IGNORE INTO completions VALUES (?, ?, ?, ?, ?, ?)",
                         (*row, text, sha256_text(text))))
            rows.append(("INSERT OR IGNORE INTO timings VALUES (?, ?, ?, ?, ?)", (*row, float(elapsed_s))))
        return self._write(rows) // 2 if rows else 0

    def generation_wall_s(self, fingerprint: str, keys: Sequence[CompletionKey]) -> float:
        """Total generation wall time recorded for these completions of an arm (seconds)."""
        elapsed = {
            (r[0], r[1], r[2]): r[3]
            for r in self._db.execute(
                "SELECT item_id, replicate, request_sha256, elapsed_s FROM timings WHERE fingerprint=?", (fingerprint,))
        }
        return float(sum(elapsed.get((k.item_id, k.replicate, k.request_sha256), 0.0) for k in keys))

    def completions(self, fingerprint: str, keys: Sequence[CompletionKey] | None = None, *,
                    logprobs: bool = True) -> dict[CompletionKey, StoredCompletion]:
        """Stored completions of an arm fingerprint, for the given keys (all when None; given keys are looked up one by
        one through the primary key, so a batch costs its own size, not the arm's). With ``logprobs=False`` the
        completions come without their per-step logprobs (``logprobs=None``; the sha256 still covers the stored
        bytes)."""
        out: dict[CompletionKey, StoredCompletion] = {}
        if keys is not None:
            for key in keys:
                row = self._db.execute(
                    "SELECT completion_json, sha256 FROM completions WHERE fingerprint=? AND item_id=? AND replicate=? "
                    "AND request_sha256=?", (fingerprint, key.item_id, key.replicate, key.request_sha256)).fetchone()
                if row is not None:
                    data = loads_stored(row[0], f"completion {key.item_id}#{key.replicate}")
                    if not logprobs and isinstance(data, dict):
                        data["logprobs"] = None
                    completion = Completion.from_dict(data)
                    out[key] = StoredCompletion(key, completion, row[1], sha256_text(row[0]))
            return out
        for item_id, replicate, request_sha, text, sha in self._db.execute(
            "SELECT item_id, replicate, request_sha256, completion_json, sha256 FROM completions "
            "WHERE fingerprint=? ORDER BY rowid", (fingerprint,)
        ):
            key = CompletionKey(item_id, replicate, request_sha)
            completion = Completion.from_dict(loads_stored(text, f"completion {item_id}#{replicate}"))
            out[key] = StoredCompletion(key, completion, sha, sha256_text(text))
        return out

    def completion_rows(self, fingerprint: str, task_sha256: str,
                        scorer: str) -> Iterator[tuple[int, int, str, str, str, float | None, str | None, str | None]]:
        """A cursor over an arm's completions of one stored task with their scores by ``scorer``, in item order (the
        item's position in the task), then replicate, then request sha256: ``(position, replicate, request sha256,
        completion JSON, recorded sha256, generation seconds or None, score JSON or None, score's recorded sha256 or
        None)``. Rows are fetched as the caller iterates (bounded memory; the primary keys serve the order, no sort);
        rows of a stale request are included (the caller matches them against the plan)."""
        return iter(self._db.execute(_COMPLETION_ROWS, (fingerprint, scorer, task_sha256)))

    def task_json(self, sha256: str) -> str:
        """The stored metadata JSON of a task (everything but its items)."""
        row = self._db.execute("SELECT task_json FROM tasks WHERE sha256=?", (sha256,)).fetchone()
        if row is None:
            raise KeyError(sha256)
        return str(row[0])

    def item_json_rows(self, task_sha256: str) -> Iterator[tuple[str, str]]:
        """A cursor over (item id, item JSON) of one stored task, in item order."""
        return iter(self._db.execute("SELECT item_id, item_json FROM items WHERE task_sha256=? ORDER BY position",
                                     (task_sha256,)))

    def iter_item_rows(self) -> Iterator[tuple[str, str, str, str]]:
        """:meth:`item_rows` as a cursor (bounded memory)."""
        return iter(self._db.execute(
            "SELECT task_sha256, item_id, item_sha256, item_json FROM items ORDER BY task_sha256, position"))

    # -- Merkle leaves -----------------------------------------------------------------------------------------------

    def has_merkle_tree(self, root: str) -> bool:
        return self._db.execute("SELECT 1 FROM merkle_trees WHERE root=?", (root,)).fetchone() is not None

    def put_merkle_tree(self, root: str, leaves: Iterable[bytes]) -> None:
        """Keep the 32-byte leaves of a tree under its root (once: a root already kept is left as it is), in one
        transaction, streaming the leaves (see :mod:`tais.store.merkle`): :data:`LEAVES_PER_ROW` of them to a row,
        concatenated (one row per leaf cost a B-tree insert per completion)."""
        if self.has_merkle_tree(root):
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            tree = self._db.execute("INSERT INTO merkle_trees (root, size) VALUES (?, 0)", (root,)).lastrowid
            size = 0

            def rows() -> Iterator[tuple[int | None, int, bytes]]:
                nonlocal size
                chunk: list[bytes] = []
                for leaf in leaves:
                    chunk.append(leaf)
                    if len(chunk) == LEAVES_PER_ROW:
                        yield tree, size // LEAVES_PER_ROW, b"".join(chunk)
                        size += len(chunk)
                        chunk = []
                if chunk:
                    yield tree, size // LEAVES_PER_ROW, b"".join(chunk)
                    size += len(chunk)

            self._db.executemany("INSERT INTO merkle_leaves VALUES (?, ?, ?)", rows())
            self._db.execute("UPDATE merkle_trees SET size=? WHERE id=?", (size, tree))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def merkle_tree_leaves(self, root: str) -> Iterator[bytes] | None:
        """A cursor over the kept leaves of the tree with this root, in order (each row's bytes cut into 32-byte
        leaves: a store written before rows held several leaves has one per row); None when no such tree is kept."""
        row = self._db.execute("SELECT id FROM merkle_trees WHERE root=?", (root,)).fetchone()
        if row is None:
            return None
        return (blob[i:i + 32] for (blob,) in self._db.execute(
            "SELECT leaf FROM merkle_leaves WHERE tree=? ORDER BY position", (row[0],))
            for i in range(0, len(blob), 32))

    def count_completions(self, fingerprint: str | None = None) -> int:
        if fingerprint is None:
            return int(self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM completions WHERE fingerprint=?",
                                    (fingerprint,)).fetchone()[0])

    # -- scores ------------------------------------------------------------------------------------------------------

    def add_scores(self, fingerprint: str, scorer_id: str, scored: Sequence[tuple[CompletionKey, Score]]) -> int:
        """Commit a batch of one scorer's scores in one transaction; returns how many were new."""
        rows = []
        for key, score in scored:
            text = canonical_json(score.to_dict())
            rows.append(("INSERT OR IGNORE INTO scores VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (fingerprint, key.item_id, key.replicate, key.request_sha256, scorer_id, text,
                          sha256_text(text))))
        return self._write(rows)

    def unscored(self, fingerprint: str, scorer: str, keys: Sequence[CompletionKey]) -> list[CompletionKey]:
        """The keys (in the order given) that have no score by ``scorer`` for this arm fingerprint."""
        have = {(r[0], r[1], r[2]) for r in self._db.execute(
            "SELECT item_id, replicate, request_sha256 FROM scores WHERE fingerprint=? AND scorer=?",
            (fingerprint, scorer))}
        return [k for k in keys if (k.item_id, k.replicate, k.request_sha256) not in have]

    def scores(self, fingerprint: str, scorer: str) -> dict[CompletionKey, tuple[Score, str, str]]:
        """Stored scores of an arm by one scorer id: key -> (score, recorded sha256, sha256 as read back)."""
        return {
            CompletionKey(r[0], r[1], r[2]): (Score.from_dict(loads_stored(r[3], f"score {r[0]}#{r[1]}")), r[4],
                                              sha256_text(r[3]))
            for r in self._db.execute(
                "SELECT item_id, replicate, request_sha256, score_json, sha256 FROM scores "
                "WHERE fingerprint=? AND scorer=?", (fingerprint, scorer))
        }

    # -- teacher-forced scorings -------------------------------------------------------------------------------------

    def _has_table(self, name: str) -> bool:
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                                (name,)).fetchone() is not None

    def add_scorings(self, fingerprint: str, scored: Sequence[tuple[str, TokenScores]]) -> int:
        """Commit a batch of ``(completion sha256, scores)`` re-scored under the arm ``fingerprint`` in one
        transaction; returns how many were new (a second write of a key keeps the first)."""
        rows = []
        for completion_sha, scores in scored:
            text = canonical_json(scores.to_dict())
            rows.append(("INSERT OR IGNORE INTO scorings VALUES (?, ?, ?, ?)",
                         (fingerprint, completion_sha, text, sha256_text(text))))
        return self._write(rows)

    def missing_scorings(self, fingerprint: str, completion_sha256s: Sequence[str]) -> list[str]:
        """The completion sha256s (in the order given) with no scoring under ``fingerprint`` yet."""
        if not self._has_table("scorings"):
            return list(completion_sha256s)
        have = {r[0] for r in self._db.execute("SELECT completion_sha256 FROM scorings WHERE fingerprint=?",
                                                (fingerprint,))}
        return [s for s in completion_sha256s if s not in have]

    def scorings(self, fingerprint: str) -> dict[str, TokenScores]:
        """Stored scorings under an arm fingerprint: completion sha256 -> scores (empty for a store written before
        the table existed)."""
        if not self._has_table("scorings"):
            return {}
        return {
            r[0]: TokenScores.from_dict(loads_stored(r[1], f"scoring {r[0][:12]}"))
            for r in self._db.execute(
                "SELECT completion_sha256, scoring_json FROM scorings WHERE fingerprint=? ORDER BY rowid",
                (fingerprint,))
        }

    def scorings_of(self, fingerprint: str, completion_sha256s: Iterable[str]) -> dict[str, TokenScores]:
        """The stored scorings of the given completions under ``fingerprint`` (looked up one by one through the
        primary key, so a batch costs its own size, not the arm's); completions with none are left out."""
        if not self._has_table("scorings"):
            return {}
        out: dict[str, TokenScores] = {}
        for sha in completion_sha256s:
            row = self._db.execute("SELECT scoring_json FROM scorings WHERE fingerprint=? AND completion_sha256=?",
                                   (fingerprint, sha)).fetchone()
            if row is not None:
                out[sha] = TokenScores.from_dict(loads_stored(row[0], f"scoring {sha[:12]}"))
        return out

    # -- planned items -----------------------------------------------------------------------------------------------

    def has_plan_items(self, sha256: str) -> bool:
        return self._db.execute("SELECT 1 FROM plan_item_sets WHERE sha256=?", (sha256,)).fetchone() is not None

    def put_plan_items(self, items: Iterable[PlannedItem]) -> PlannedItems:
        """Keep a task's planned items (streamed: they are hashed as they are written) and return them as
        :class:`PlannedItems` read back from this store. Written once: items whose sha256 the store already keeps
        are not written again (the transaction is rolled back)."""
        digest = ItemsDigest()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            item_set = self._db.execute("INSERT INTO plan_item_sets (sha256, items) VALUES (NULL, 0)").lastrowid

            def rows() -> Iterator[tuple[int | None, int, str, str]]:
                for item in items:
                    requests = ",".join(item.request_sha256)
                    yield item_set, digest.count, item.item_id, requests
                    digest.add_row(item.item_id, requests)

            self._db.executemany("INSERT INTO plan_items VALUES (?, ?, ?, ?)", rows())
            sha256 = digest.hexdigest()
            if self.has_plan_items(sha256):
                self._db.execute("ROLLBACK")
            else:
                self._db.execute("UPDATE plan_item_sets SET sha256=?, items=? WHERE id=?",
                                 (sha256, digest.count, item_set))
                self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return PlannedItems(sha256, digest.count, reader=self.plan_items)

    def plan_items(self, sha256: str, count: int) -> Iterator[PlannedItem]:
        """A cursor over the planned items kept under ``sha256``, in order. Once the last is read, the rows must
        hash to ``sha256`` and be ``count``: an edited, added or deleted row raises :class:`IntegrityError`."""
        row = self._db.execute("SELECT id FROM plan_item_sets WHERE sha256=?", (sha256,)).fetchone()
        if row is None:
            raise IntegrityError(f"run plan items {sha256[:12]}: not in the store")
        digest = ItemsDigest()
        for item_id, requests in self._db.execute(
                "SELECT item_id, requests FROM plan_items WHERE item_set=? ORDER BY position", (row[0],)):
            digest.add_row(item_id, requests)
            yield PlannedItem(item_id, tuple(requests.split(",")) if requests else ())
        if digest.count != count or digest.hexdigest() != sha256:
            raise IntegrityError(f"run plan items {sha256[:12]}: the {digest.count} stored rows no longer hash to "
                                 f"the {count} items the plan names")

    # -- runs and analyses -------------------------------------------------------------------------------------------

    def add_run(self, config_sha256: str, config_text: str, plan: RunPlan) -> int:
        """Record a finished run (its completions and scores are all committed); returns its id. Items of the plan
        this store does not keep yet (a plan built in memory) are written to ``plan_items`` first."""
        for task in plan.tasks:
            if not self.has_plan_items(task.items.sha256):
                self.put_plan_items(task.items)
        self._write([("INSERT INTO runs (config_sha256, config_text, plan_json) VALUES (?, ?, ?)",
                      (config_sha256, config_text, canonical_json(plan.to_dict())))])
        return int(self._db.execute("SELECT MAX(id) FROM runs").fetchone()[0])

    def latest_run(self) -> RunRecord:
        """The newest finished run."""
        row = self._db.execute(
            "SELECT id, config_sha256, config_text, plan_json FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            raise InputError("the store holds no finished run; run `tais run CONFIG` first", path=str(self.path))
        return self._run_record(row)

    def run(self, run_id: int) -> RunRecord:
        """One run by id."""
        row = self._db.execute(
            "SELECT id, config_sha256, config_text, plan_json FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise InputError(f"the store holds no run {run_id}", path=str(self.path))
        return self._run_record(row)

    def _run_record(self, row: tuple[int, str, str, str]) -> RunRecord:
        """A runs row as a RunRecord; a version-1 plan (written before the RunPlan existed) is converted."""
        data = loads_stored(row[3], f"run {row[0]} plan")
        try:
            if plan_version(data) == LEGACY_PLAN_VERSION:
                item_ids = {t["content_sha256"]: self._item_ids(t["content_sha256"]) for t in data["tasks"]}
                plan = RunPlan.from_legacy(data, item_ids)
            else:
                plan = RunPlan.from_dict(data, reader=self.plan_items)
        except InputError as exc:
            raise type(exc)(f"run {row[0]}: {exc.message}", path=str(self.path)) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise IntegrityError(f"run {row[0]} plan: stored bytes are not a run plan any more "
                                 f"({type(exc).__name__}: {exc})") from None
        return RunRecord(row[0], row[1], row[2], plan)

    def _item_ids(self, task_sha256: str) -> list[str]:
        return [r[0] for r in self._db.execute(
            "SELECT item_id FROM items WHERE task_sha256=? ORDER BY position", (task_sha256,))]

    def add_analysis(self, run_id: int, thresholds: Mapping[str, Any], evidence_sha256: str) -> None:
        self._write([("INSERT INTO analyses (run_id, thresholds_json, evidence_sha256) VALUES (?, ?, ?)",
                      (run_id, canonical_json(dict(thresholds)), evidence_sha256))])

    def latest_analysis(self, run_id: int) -> tuple[dict[str, Any], str] | None:
        row = self._db.execute(
            "SELECT thresholds_json, evidence_sha256 FROM analyses WHERE run_id=? ORDER BY id DESC LIMIT 1", (run_id,)
        ).fetchone()
        return None if row is None else (json.loads(row[0]), row[1])

    # -- integrity and export ----------------------------------------------------------------------------------------

    def put_meta(self, key: str, value: str) -> None:
        """Record (or replace) a keyed text value in the ``meta`` table (e.g. a phase's stored result)."""
        self._write([("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))])

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def integrity_problems(self) -> list[str]:
        """SQLite's own structural check (``PRAGMA integrity_check``); empty when the file is sound."""
        rows = [r[0] for r in self._db.execute("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows

    def table_rows(self, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and all rows of one table (for export)."""
        if table not in {"tasks", "items", "arms", "completions", "timings", "arm_telemetry", "scores", "scorings",
                         "runs", "analyses", "merkle_trees", "merkle_leaves", "plan_item_sets", "plan_items"}:
            raise ValueError(table)
        cur = self._db.execute(f"SELECT * FROM {table}")
        return [d[0] for d in cur.description], cur.fetchall()
