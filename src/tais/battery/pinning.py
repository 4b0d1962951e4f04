"""Pinning a task's content by sha256.

The **canonical content** of a task is the UTF-8 JSON (keys sorted, no spaces, non-ASCII kept) of its name, outcome
rule, scorer, system prompt and items (each item's ``to_dict()``, in order). Its sha256 is the task's pin: any edit
of a prompt, an id, a choice, the order of items, the limit or the system prompt changes it, while the file's
formatting (quoting, line endings, column order) does not.

A config may carry the pin (``sha256:``); a loaded task whose pin differs is an error unless the config says
``accept_new_hash: true``.

Worked example::

    >>> from tais.types import Item, Task
    >>> t = Task(name="t", items=(Item(id="t/1", prompt="hi"),), outcome="compliance", scorer="refusal-rules")
    >>> canonical_bytes(t)[:60]
    b'{"items":[{"answer":null,"choices":[],"id":"t/1","meta":[],"'
    >>> canonical_bytes(t)[60:]
    b'prompt":"hi"}],"name":"t","outcome":"compliance","scorer":"refusal-rules","system_prompt":null}'
    >>> task_sha256(t)[:12]
    'efb33208075e'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from tais.errors import ConfigError, SourceError
from tais.types import Task


def canonical_bytes(task: Task) -> bytes:
    body = {"name": task.name, "outcome": task.outcome, "scorer": task.scorer, "system_prompt": task.system_prompt,
            "items": [item.to_dict() for item in task.items]}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def task_sha256(task: Task) -> str:
    return hashlib.sha256(canonical_bytes(task)).hexdigest()


def with_sha256(task: Task) -> Task:
    """The task with ``sha256`` set to its canonical content's digest."""
    return dataclasses.replace(task, sha256=task_sha256(task))


def expected_pins(value: Any, task_names: list[str], *, where: str) -> dict[str, str]:
    """The ``sha256:`` of a config entry as {task name: hex digest}: a string pins the only task of an entry; a
    mapping pins tasks by name."""
    if value is None:
        return {}
    if isinstance(value, str):
        if len(task_names) != 1:
            raise ConfigError(f"this entry loads {len(task_names)} tasks ({', '.join(task_names)}): give sha256 as "
                              f"a mapping of task name to digest", path=where, key="sha256")
        return {task_names[0]: value.strip().lower()}
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in task_names]
        if unknown:
            raise ConfigError(f"no task {unknown[0]!r} in this entry (tasks: {', '.join(task_names)})", path=where,
                              key=f"sha256.{unknown[0]}")
        return {str(k): str(v).strip().lower() for k, v in value.items()}
    raise ConfigError("a hex digest, or a mapping of task name to hex digest", path=where, key="sha256")


def check_pins(tasks: list[Task], pins: Mapping[str, str], *, accept_new: bool, where: str) -> None:
    """Raise SourceError for the first task whose content digest differs from its pin (unless ``accept_new``)."""
    if accept_new:
        return
    for task in tasks:
        want = pins.get(task.name)
        if want is not None and want != task.sha256:
            raise SourceError(f"task {task.name!r} from {task.source or 'its source'} has sha256 {task.sha256}, "
                              f"pinned {want}: the content changed; set accept_new_hash: true to accept it",
                              path=where, key="sha256")
