"""``tais verify DIR``: check that a run directory's evidence is what its store implies, byte for byte.

Checks, in order (every failed check is reported, not only the first):

1. ``evidence.json`` parses, and its sha256 equals the one recorded in the store when it was written.
2. The store passes SQLite's ``integrity_check`` (run in the background, on a connection of its own, while
   the other checks read the run: :class:`~tais.store.IntegrityCheck`).
3. Every stored item still hashes to its recorded sha256, and every task's items to the task's content sha256.
4. Every completion and score of the run still hashes to the sha256 recorded when it was written, and none is missing.
5. The config text stored with the run hashes to the config sha256 of the manifest.
6. The evidence re-derived from the store (same thresholds as the last analysis) equals ``evidence.json``; the key
   paths that differ are named (``cells[3].p_candidate``, ``manifest.merkle.roots.spec.smoke-benign.completions``).
   Evidence of schema ``tais.evidence/2`` is re-derived in bounded memory (:mod:`tais.pipeline.verify_stream`):
   where a Merkle root differs, the leaves kept in the store name the exact completion whose recorded sha256 changed.
   Evidence of schema ``tais.evidence/1`` (a manifest listing every completion's sha256, written by earlier tais) is
   re-derived in memory as before (``manifest.completions.spec-ngram.smoke-benign/004#0``); any other schema is one
   problem naming both versions this tais verifies.

Damage that stops a read (a truncated or foreign ``store.sqlite``, a dropped table, a deleted row, an edited id or
``meta`` value, a WAL lost after a crash) is a problem like any other, named by the step that could not read: verify
never ends in a traceback.

Editing one byte of ``evidence.json`` fails check 1 (and usually 6); editing one byte of a completion in
``store.sqlite`` fails check 4 (its bytes no longer hash to the recorded sha256) and, if the recorded hash was edited
too, check 6 (the manifest in ``evidence.json`` pins it). A byte in SQLite's free space changes no stored value and so
is not reported.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tais.errors import InputError, SchemaVersionError, TaisError
from tais.pipeline.analysis import EVIDENCE_FILENAME, expected_evidence, read_run
from tais.pipeline.evidence_lines import evidence_head
from tais.pipeline.fingerprint import arm_fingerprint
from tais.pipeline.manifest import file_sha256
from tais.pipeline.verify_stream import verify_streamed
from tais.report.evidence import LEGACY_SCHEMA, SCHEMA
from tais.store import STORE_FILENAME, IntegrityCheck, RunPlan, RunRecord, RunStore, sha256_text
from tais.types import ArmSpec, Thresholds

MAX_DIFFS = 8
T = TypeVar("T")

WHOLE_EVIDENCE_BYTES = 32 << 20
"""evidence.json up to this size is parsed whole; a larger one is read line by line"""


@dataclass(frozen=True)
class VerifyReport:
    run_dir: Path
    problems: tuple[str, ...]
    completions_checked: int

    @property
    def ok(self) -> bool:
        return not self.problems


def differing_paths(expected: Any, actual: Any, path: str = "", limit: int = MAX_DIFFS) -> list[str]:
    """Where ``actual`` differs from ``expected`` (two JSON values), as ``key.path: what`` lines (at most ``limit``).

    >>> differing_paths({"a": [1, 2], "b": 1}, {"a": [1, 3], "c": 1})
    ['a[1]: 3, expected 2', 'b: missing', 'c: not expected']
    """
    out: list[str] = []
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                out.append(f"{sub}: missing")
            elif key not in expected:
                out.append(f"{sub}: not expected")
            else:
                out += differing_paths(expected[key], actual[key], sub, limit - len(out))
            if len(out) >= limit:
                break
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            out.append(f"{path}: {len(actual)} entries, expected {len(expected)}")
        for i, (e, a) in enumerate(zip(expected, actual)):
            out += differing_paths(e, a, f"{path}[{i}]", limit - len(out))
            if len(out) >= limit:
                break
    elif expected != actual or type(expected) is not type(actual):
        out.append(f"{path or '(root)'}: {_short(actual)}, expected {_short(expected)}")
    return out[:limit]


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."


def arm_problems(store: RunStore, plan: RunPlan) -> list[str]:
    """Arms whose stored spec and ``describe()`` no longer hash to their fingerprint."""
    problems = []
    for arm in plan.arms:
        spec, describe = store.arm(arm.fingerprint)
        order, seed = spec.pop("order", "as-listed"), spec.pop("order_seed", 0)
        again = arm_fingerprint(describe, ArmSpec.from_dict(spec), order=order, order_seed=seed)
        if again != arm.fingerprint:
            problems.append(f"arm {arm.name}: stored spec and describe() hash to {again[:12]}, "
                            f"not its fingerprint {arm.fingerprint[:12]}")
    return problems


DAMAGE_ERRORS = (sqlite3.DatabaseError, TaisError, ValueError, KeyError, TypeError, AttributeError, IndexError,
                 OSError)
"""What reading a damaged store or plan can raise: SQLite's own errors (truncated or foreign file, dropped table),
tais's errors (invalid JSON in a row, unknown schema), and the plain errors of a record that names another one the
store lacks (a deleted row, an edited id)."""


def describe_damage(exc: BaseException) -> str:
    """One line for an error raised while reading a damaged run directory.

    >>> describe_damage(KeyError("t/1"))
    "'t/1' is named by one stored record but missing from another (a deleted row or an edited id)"
    >>> describe_damage(sqlite3.DatabaseError("file is not a database"))
    'SQLite cannot read it (file is not a database)'
    """
    if isinstance(exc, KeyError):
        return (f"{exc.args[0]!r} is named by one stored record but missing from another "
                f"(a deleted row or an edited id)")
    if isinstance(exc, sqlite3.DatabaseError):
        return f"SQLite cannot read it ({exc})"
    if isinstance(exc, InputError):
        return exc.message
    return str(exc).replace("\n", " ") or type(exc).__name__


def guarded(problems: list[str], what: str, read: Callable[[], T]) -> T | None:
    """``read()``, or None with a problem ``"<what>: <why>"`` appended when it fails on damaged data."""
    try:
        return read()
    except SchemaVersionError:
        raise  # written by another tais: bad input (exit 2), not damage
    except DAMAGE_ERRORS as exc:
        problems.append(f"{what}: {describe_damage(exc)}")
        return None


def read_evidence(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the evidence, or its head for a file over :data:`WHOLE_EVIDENCE_BYTES`; a problem line when it cannot be
    read). A large file of schema 2 is read line by line (:func:`tais.pipeline.evidence_lines.evidence_head`), never
    whole."""
    try:
        if path.stat().st_size <= WHOLE_EVIDENCE_BYTES:
            evidence = json.loads(path.read_bytes())
        else:
            evidence = evidence_head(path)
            if evidence.get("schema") == LEGACY_SCHEMA:  # the old layout is checked whole, as before
                evidence = json.loads(path.read_bytes())
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"{EVIDENCE_FILENAME}: not valid JSON ({exc})"
    if not isinstance(evidence, dict):
        return None, f"{EVIDENCE_FILENAME}: not a JSON object"
    return evidence, None


def verify_run(run_dir: Path) -> VerifyReport:
    """Run every check of the module docstring on ``run_dir``. Bad input (no such directory, no evidence.json) raises
    :class:`InputError`; every kind of damage to what is there (a truncated or foreign store file, a dropped table, a
    deleted or edited row, an edited ``meta`` value, a lost WAL) is reported as a problem, never raised."""
    run_dir = Path(run_dir)
    evidence_path = run_dir / EVIDENCE_FILENAME
    store_path = run_dir / STORE_FILENAME
    if not run_dir.is_dir():
        raise InputError("no such run directory", path=str(run_dir))
    if not evidence_path.is_file():
        raise InputError(f"no {EVIDENCE_FILENAME} here (written by `tais run` / `tais screen`)", path=str(run_dir))
    problems: list[str] = []
    evidence, problem = read_evidence(evidence_path)
    if problem:
        problems.append(problem)
    digest = guarded(problems, EVIDENCE_FILENAME, lambda: file_sha256(evidence_path)) or ""

    store = guarded(problems, STORE_FILENAME, lambda: RunStore(store_path, create=False))
    if store is None:
        return VerifyReport(run_dir=run_dir, problems=tuple(problems), completions_checked=0)
    try:
        checked = _check_store(store, digest, evidence_path, evidence, problems)
    finally:
        guarded(problems, f"{STORE_FILENAME}: closing", store.close)
    return VerifyReport(run_dir=run_dir, problems=tuple(problems), completions_checked=checked)


def _check_store(store: RunStore, digest: str, evidence_path: Path, evidence: dict[str, Any] | None,
                 problems: list[str]) -> int:
    """Checks 1 to 6 against an open store; returns how many completions were read back. Check 2 runs in the
    background (:class:`~tais.store.IntegrityCheck`) while the others read the run back; its problems are listed
    where it comes in the order of the checks."""
    where = STORE_FILENAME
    at = len(problems)
    integrity = IntegrityCheck(store.path) if isinstance(store.path, Path) else None
    try:
        checked = _check_run(store, digest, evidence_path, evidence, problems)
    except BaseException:
        if integrity is not None:
            integrity.cancel()
        raise
    found: list[str] = []
    rows = guarded(found, where, integrity.problems if integrity is not None else store.integrity_problems) or []
    problems[at:at] = found + [f"{where}: {p}" for p in rows]
    return checked


def _check_run(store: RunStore, digest: str, evidence_path: Path, evidence: dict[str, Any] | None,
               problems: list[str]) -> int:
    """Checks 1 and 3 to 6 against an open store; returns how many completions were read back."""
    where = STORE_FILENAME
    run_id = (evidence or {}).get("meta", {}).get("run_id") if isinstance((evidence or {}).get("meta"), dict) else None
    run = guarded(problems, where, lambda: store.run(run_id)) if isinstance(run_id, int) else None
    if run is None:  # evidence.json names no run, or one the store lacks: check it against the newest run
        run = guarded(problems, where, store.latest_run)
    if run is None:
        return 0
    before = len(problems)
    analysis = guarded(problems, f"{where}: analyses", lambda: store.latest_analysis(run.id))
    if analysis is None and len(problems) == before:
        problems.append(f"{where}: no analysis of run {run.id} is recorded")
    elif analysis is not None and digest != analysis[1]:
        problems.append(f"{EVIDENCE_FILENAME}: sha256 {digest[:12]} differs from the "
                        f"{analysis[1][:12]} recorded when it was written")
    problems += guarded(problems, f"{where}: items", lambda: _item_problems(store)) or []
    schema = evidence.get("schema") if isinstance(evidence, dict) else None
    if evidence is not None and schema not in (SCHEMA, LEGACY_SCHEMA):
        problems.append(f"{EVIDENCE_FILENAME}: schema {schema!r}: this tais verifies {SCHEMA} (and "
                        f"{LEGACY_SCHEMA}, the per-completion manifest of earlier runs)")
        evidence = None
    if schema != LEGACY_SCHEMA:
        return _check_streamed(store, run, analysis, evidence_path, evidence, problems)
    inputs = guarded(problems, f"{where}: reading run {run.id} back", lambda: read_run(store, run))
    if inputs is None:
        return 0
    problems += [f"{where}: {p}" for p in inputs.problems]
    problems += [f"{where}: {p}" for p in guarded(problems, f"{where}: arms", lambda: arm_problems(store, run.plan))
                 or []]
    if sha256_text(run.config_text) != run.config_sha256:
        problems.append(f"{where}: the stored config no longer hashes to {run.config_sha256[:12]}")
    if evidence is not None:
        values = analysis[0] if analysis else evidence.get("thresholds", {})
        expected = guarded(problems, f"{EVIDENCE_FILENAME}: cannot be re-derived from the store", lambda: (
            expected_evidence(inputs, Thresholds.from_dict(values), LEGACY_SCHEMA)))
        if expected is not None:
            diffs = differing_paths(expected, evidence)
            problems += [f"{EVIDENCE_FILENAME}: {d} (re-derived from the store)" for d in diffs]
    return sum(len(c) for c in inputs.completions.values())


def _item_problems(store: RunStore) -> list[str]:
    """Every stored item whose bytes no longer hash to its recorded sha256 (the items read by cursor)."""
    return [f"{STORE_FILENAME}: item {item_id}: stored bytes no longer hash to {recorded[:12]}"
            for _task_sha, item_id, recorded, item_json in store.iter_item_rows()
            if sha256_text(item_json) != recorded]


def _check_streamed(store: RunStore, run: RunRecord, analysis: tuple[dict[str, Any], str] | None, evidence_path: Path,
                    evidence: dict[str, Any] | None, problems: list[str]) -> int:
    """Checks 4 to 6 for evidence of schema 2 (Merkle manifest), streaming the store."""
    where = STORE_FILENAME
    thresholds = Thresholds.from_dict(analysis[0] if analysis else (evidence or {}).get("thresholds", {}))
    result = guarded(problems, f"{where}: reading run {run.id} back",
                     lambda: verify_streamed(store, run, thresholds, evidence_path, evidence))
    problems += [f"{where}: {p}" for p in guarded(problems, f"{where}: arms", lambda: arm_problems(store, run.plan))
                 or []]
    if sha256_text(run.config_text) != run.config_sha256:
        problems.append(f"{where}: the stored config no longer hashes to {run.config_sha256[:12]}")
    if result is None:
        return 0
    found, checked = result
    problems += found
    return checked
