"""The run store's records as it hands them out (a stored completion with its hashes, a finished run) and the hashes
that key what it stores (a completion's, a task's content)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tais.errors import IntegrityError
from tais.store.canonical import canonical_json, sha256_text
from tais.store.run_plan import RunPlan
from tais.types import Completion, CompletionKey, Task


@dataclass(frozen=True)
class StoredCompletion:
    key: CompletionKey
    completion: Completion
    sha256: str
    """sha256 recorded when the completion was written (of its canonical JSON)"""
    actual_sha256: str
    """sha256 of the canonical JSON as read back now; differs from ``sha256`` when the stored bytes were edited"""


@dataclass(frozen=True)
class RunRecord:
    """One finished run: its config text and sha256, and the :class:`RunPlan` that says which rows make it up."""

    id: int
    config_sha256: str
    config_text: str
    plan: RunPlan


def loads_stored(text: str, what: str) -> Any:
    """JSON from a stored row; a row whose bytes were edited into invalid JSON raises :class:`IntegrityError`."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{what}: stored bytes are not valid JSON any more "
                             f"({exc.msg if isinstance(exc, json.JSONDecodeError) else exc.reason})") from None


def completion_sha256(completion: Completion) -> str:
    """sha256 of a completion's canonical JSON (what the manifest pins)."""
    return sha256_text(canonical_json(completion.to_dict()))


def task_record(task: Task) -> dict[str, Any]:
    """A task's metadata (everything but its items) as a JSON-able dict."""
    return {
        "name": task.name,
        "outcome": task.outcome,
        "scorer": task.scorer,
        "system_prompt": task.system_prompt,
        "source": task.source,
        "sha256": task.sha256,
    }


def task_content_sha256(task: Task) -> str:
    """sha256 of a task's metadata and items (canonical JSON): the key a task is stored under."""
    return sha256_text(canonical_json({"task": task_record(task), "items": [i.to_dict() for i in task.items]}))
