"""Stored rows as the streaming analysis (:mod:`tais.pipeline.stream`) reads them: a completion or score cut from its
canonical JSON without parsing what the pairing does not need (the logprobs are most of the bytes), and the run's
problems, kept word for word up to :data:`MAX_PROBLEMS`; a stored task checked against its content sha256.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tais.store import PlannedTask, RunStore

MAX_PROBLEMS = 200
"""problems kept word for word; beyond that only counted"""

PlanKey = tuple[int, str, int, str]
"""(item position, item id, replicate, request sha256): one key of the plan as the walk carries it (a
:class:`~tais.types.CompletionKey` is made only for a pair that needs one)"""


def label(key: PlanKey) -> str:
    """``ITEM#REPLICATE`` of a key, for problem lines."""
    return f"{key[1]}#{key[2]}"


class Problems:
    """The problems a pass found: the first :data:`MAX_PROBLEMS` word for word, the rest counted."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.count = 0

    def add(self, text: str) -> None:
        self.count += 1
        if len(self.kept) < MAX_PROBLEMS:
            self.kept.append(text)

    def all(self) -> tuple[str, ...]:
        extra = self.count - len(self.kept)
        return tuple(self.kept) + ((f"... and {extra} more problems of the same kinds",) if extra else ())


@dataclass(frozen=True)
class CutCompletion:
    """One stored completion as the pairing needs it: its canonical JSON, the part that decides identity (``text``
    and ``token_ids`` as stored) and the small fields the speed tally reads; the rest (the logprobs, most of the
    bytes) is parsed only when the pair diverges (:func:`full`)."""

    raw: str
    identity: str | None
    """``,"text":...,"token_ids":...`` cut from the canonical JSON, None when it could not be cut"""
    small: dict


_TEXT_KEY, _WALL_KEY, _TOKENS_KEY = ',"text":', ',"wall_s":', ',"output_tokens":'


def what_label(what: tuple) -> str:
    """``("arm", "ref", "completion", key)`` -> ``arm ref: completion t/1#0``."""
    return f"{what[0]} {what[1]}: {what[2]} {label(what[3])}"


_OUTCOME_KEY, _REPLICATE_KEY = ',"outcome":', ',"replicate":'
_OUTCOMES = {"0": 0, "1": 1, "null": None}


def cut_score(raw: str, what: tuple, problems: Problems | None) -> dict | None:
    r"""A stored score as the pairing needs it: ``{"outcome": ..., "raw": ...}`` cut from its canonical JSON (keys
    sorted: ``detail, item_id, label, outcome, replicate, scorer``) when the outcome is 0, 1 or null, else parsed.

    >>> cut_score('{"detail":[],"item_id":"t/1","label":"a,\\"outcome\\":","outcome":1,"replicate":0,"scorer":"s@1"}',
    ...        (), None)["outcome"]
    1
    """
    start = raw.rfind(_OUTCOME_KEY)
    end = raw.find(_REPLICATE_KEY, start)
    outcome = raw[start + len(_OUTCOME_KEY):end] if 0 < start < end else ""
    if outcome in _OUTCOMES:
        return {"outcome": _OUTCOMES[outcome], "raw": raw}
    value = parse_object(raw, what, problems)
    return None if value is None else {"outcome": value.get("outcome"), "raw": raw}


def cut_completion(raw: str, what: tuple, problems: Problems | None) -> CutCompletion | None:
    r"""A stored completion without parsing its logprobs: canonical JSON sorts its keys (``..., logprobs,
    output_tokens, prompt_tokens, replicate, spec, text, token_ids, wall_s``) and escapes every quote inside a string,
    so ``,"text":`` can only be the top-level key; the small fields are parsed, text and token ids compared as cut.
    Anything else is parsed whole.

    >>> s = cut_completion('{"logprobs":null,"output_tokens":2,"prompt_tokens":1,"replicate":0,"spec":null,'
    ...              '"text":"a,\\"text\\":","token_ids":[1,2],"wall_s":0.5}', "", None)
    >>> s.identity, s.small["output_tokens"], s.small["wall_s"]
    (',"text":"a,\\"text\\":","token_ids":[1,2]', 2, 0.5)
    """
    text, wall, tokens = raw.rfind(_TEXT_KEY), raw.rfind(_WALL_KEY), raw.rfind(_TOKENS_KEY)
    if 0 < tokens < text < wall:
        try:
            small = json.loads("{" + raw[tokens + 1:text] + "," + raw[wall + 1:])
        except (json.JSONDecodeError, UnicodeDecodeError):
            small = None
        if isinstance(small, dict):
            return CutCompletion(raw, raw[text:wall], small)
    value = parse_object(raw, what, problems)
    return None if value is None else CutCompletion(raw, None, value)


def parse_object(text: str, what: tuple, problems: Problems | None) -> dict | None:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict):
        if problems is not None:
            problems.add(f"{what_label(what)}: stored bytes are not valid JSON any more")
        return None
    return value


def full(stored: CutCompletion) -> dict:
    """The whole stored completion as parsed JSON (parsed now if only its small fields were)."""
    return stored.small if stored.identity is None else json.loads(stored.raw)


def task_problem(store: RunStore, task: PlannedTask) -> str | None:
    """A problem when the stored task and its items no longer hash to the task's content sha256 (computed over the
    stored canonical JSON, streamed item by item: the bytes :func:`tais.store.task_content_sha256` hashes)."""
    digest = hashlib.sha256(b'{"items":[')
    try:
        meta = store.task_json(task.content_sha256)
    except KeyError:
        return f"task {task.name}: not in the store"
    for index, (_, item_json) in enumerate(store.item_json_rows(task.content_sha256)):
        digest.update((b"," if index else b"") + item_json.encode("utf-8", "surrogatepass"))
    digest.update(b'],"task":' + meta.encode("utf-8", "surrogatepass") + b"}")
    if digest.hexdigest() != task.content_sha256:
        renamed = "".join(f"; item {row_id}'s record names it {record_id!r}"
                          for row_id, record_id in renamed_items(store, task.content_sha256))
        return f"task {task.name}: stored items no longer hash to {task.content_sha256[:12]}{renamed}"
    return None


def renamed_items(store: RunStore, task_sha256: str, limit: int = 8) -> Iterator[tuple[str, Any]]:
    """(row id, the id its stored record names) of the first ``limit`` items of a damaged task where the two differ
    (an edited item id): read only once the task's hash has failed."""
    found = 0
    for row_id, item_json in store.item_json_rows(task_sha256):
        try:
            record_id = json.loads(item_json).get("id")
        except (ValueError, AttributeError):
            continue
        if record_id != row_id:
            found += 1
            yield row_id, record_id
            if found == limit:
                return
