"""Column mapping: which fields of a data file's rows make an item's id, prompt, choices, answer and metadata.

A mapping is written in the config as ``columns: {prompt: goal, id: key, choices: options, answer: label,
meta: [category]}``. Only ``prompt`` is required. Without ``id`` an item's key is its 1-based record number in the
file, so ids stay stable as long as the pinned source does. ``choices`` names one field holding a list (or a JSON
list in a string), or a list of fields (one per choice). ``answer`` holds a letter (``B``), a 0-based index or the
text of the correct choice; it is stored as a letter.

Worked example::

    >>> from tais.battery.tables import Row
    >>> m = ColumnMapping.parse({"prompt": "q", "choices": ["a", "b"], "answer": "gold"}, where="cfg")
    >>> rows = [Row(2, {"q": "2+2?", "a": "3", "b": "4", "gold": "4"})]
    >>> items_from_rows(rows, task="arith", mapping=m, path="arith.csv")[0]
    Item(id='arith/1', prompt='2+2?', choices=('3', '4'), answer='B', meta=())
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tais.battery.tables import Row
from tais.errors import ConfigError, DataError
from tais.types import Item

LETTERS = string.ascii_uppercase
MAPPING_KEYS = ("prompt", "id", "choices", "answer", "meta")


@dataclass(frozen=True)
class ColumnMapping:
    prompt: str
    id: str | None = None
    choices: str | tuple[str, ...] | None = None
    answer: str | None = None
    meta: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: Any, *, where: str, key: str = "columns") -> ColumnMapping:
        """Validate a ``columns:`` mapping from a config (``where`` names the config for errors)."""
        if not isinstance(value, Mapping):
            raise ConfigError("must be a mapping such as {prompt: goal, id: key}", path=where, key=key)
        unknown = sorted(set(value) - set(MAPPING_KEYS))
        if unknown:
            raise ConfigError(f"unknown mapping key {unknown[0]!r}; known: {', '.join(MAPPING_KEYS)}", path=where,
                              key=f"{key}.{unknown[0]}")
        if not isinstance(value.get("prompt"), str) or not value["prompt"]:
            raise ConfigError("the column holding the prompt is required", path=where, key=f"{key}.prompt")
        for k in ("id", "answer"):
            if value.get(k) is not None and not isinstance(value[k], str):
                raise ConfigError("must be a column name", path=where, key=f"{key}.{k}")
        choices = value.get("choices")
        if isinstance(choices, list):
            if len(choices) < 2 or not all(isinstance(c, str) for c in choices):
                raise ConfigError("a list of at least two column names", path=where, key=f"{key}.choices")
            choices = tuple(choices)
        elif choices is not None and not isinstance(choices, str):
            raise ConfigError("a column name or a list of column names", path=where, key=f"{key}.choices")
        meta = value.get("meta") or ()
        if isinstance(meta, str):
            meta = (meta,)
        if not all(isinstance(m, str) for m in meta):
            raise ConfigError("a list of column names", path=where, key=f"{key}.meta")
        if (choices is None) != (value.get("answer") is None):
            raise ConfigError("choices and answer go together (multiple-choice items need both)", path=where,
                              key=f"{key}.{'answer' if choices is not None else 'choices'}")
        return cls(prompt=value["prompt"], id=value.get("id"), choices=choices, answer=value.get("answer"),
                   meta=tuple(meta))

    def columns(self) -> list[str]:
        cols = [self.prompt, self.id, self.answer, *self.meta]
        cols += list(self.choices) if isinstance(self.choices, tuple) else [self.choices]
        return [c for c in cols if c]


def check_columns(rows: Sequence[Row], mapping: ColumnMapping, *, path: str, header_line: int | None = None) -> None:
    """Every mapped column must exist in every row: the first row where one is missing raises DataError naming it
    (at ``header_line`` for files with a header, whose rows all share its columns)."""
    for row in rows:
        for col in mapping.columns():
            if col not in row.fields:
                known = ", ".join(map(str, row.fields)) or "none"
                raise DataError(f"missing column {col!r} (columns: {known})", path=path,
                                line=header_line or row.line, column=col)


def filter_rows(rows: Sequence[Row], where: Mapping[str, Any] | None, *, path: str) -> list[Row]:
    """Rows whose fields equal the ``where`` values (a value may be a list of accepted values)."""
    if not where:
        return list(rows)
    for col in where:
        if rows and col not in rows[0].fields:
            raise DataError(f"missing column {col!r} used in where:", path=path, line=1, column=col)
    out = []
    for row in rows:
        if all(_text(row.fields.get(col)) in ([_text(v) for v in want] if isinstance(want, list) else [_text(want)])
               for col, want in where.items()):
            out.append(row)
    return out


def items_from_rows(rows: Sequence[Row], *, task: str, mapping: ColumnMapping, path: str,
                    record_numbers: Sequence[int] | None = None, header_line: int | None = None) -> tuple[Item, ...]:
    """Items from rows (``record_numbers`` gives each row's 1-based record number in the file, for ids without an id
    column; by default the rows are numbered 1, 2, ...). Duplicate ids and empty prompts raise DataError."""
    check_columns(rows, mapping, path=path, header_line=header_line)
    numbers = list(record_numbers) if record_numbers is not None else list(range(1, len(rows) + 1))
    seen: dict[str, int] = {}
    items = []
    for row, number in zip(rows, numbers):
        key = _text(row.fields[mapping.id]).strip() if mapping.id else str(number)
        if not key:
            raise DataError("empty id", path=path, line=row.line, column=mapping.id)
        if key in seen:
            raise DataError(f"duplicate id {key!r} (first on line {seen[key]})", path=path, line=row.line,
                            column=mapping.id)
        seen[key] = row.line
        prompt = _text(row.fields[mapping.prompt]).strip()
        if not prompt:
            raise DataError("empty prompt", path=path, line=row.line, column=mapping.prompt)
        choices, answer = _choices(row, mapping, path)
        meta = tuple((m, _text(row.fields[m])) for m in mapping.meta)
        items.append(Item(id=f"{task}/{key}", prompt=prompt, choices=choices, answer=answer, meta=meta))
    return tuple(items)


def _choices(row: Row, mapping: ColumnMapping, path: str) -> tuple[tuple[str, ...], str | None]:
    if mapping.choices is None:
        return (), None
    if isinstance(mapping.choices, tuple):
        choices = tuple(_text(row.fields[c]).strip() for c in mapping.choices)
    else:
        raw = row.fields[mapping.choices]
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                raise DataError("choices must be a JSON list", path=path, line=row.line,
                                column=mapping.choices) from None
        if not isinstance(raw, (list, tuple)) or len(raw) < 2:
            raise DataError("choices must be a list of at least two options", path=path, line=row.line,
                            column=mapping.choices)
        choices = tuple(_text(c).strip() for c in raw)
    if len(choices) > len(LETTERS):
        raise DataError(f"{len(choices)} choices; at most {len(LETTERS)}", path=path, line=row.line)
    assert mapping.answer is not None
    return choices, _answer_letter(row.fields[mapping.answer], choices, row, mapping.answer, path)


def _answer_letter(value: Any, choices: tuple[str, ...], row: Row, column: str, path: str) -> str:
    text = _text(value).strip()
    letters = LETTERS[: len(choices)]
    if len(text) == 1 and text.upper() in letters:
        return text.upper()
    if text.isdigit() and int(text) < len(choices):
        return LETTERS[int(text)]
    if text in choices:
        return LETTERS[choices.index(text)]
    raise DataError(f"answer {text!r} is neither a letter {letters[0]}-{letters[-1]}, a 0-based index nor one of the "
                    f"choices", path=path, line=row.line, column=column)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
