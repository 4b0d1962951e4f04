"""Read a data file into rows: CSV / TSV, JSON Lines, a JSON list, Parquet, plain text (one prompt per line) and
PyRIT seed files (YAML with a ``seeds:`` list).

A **row** is a :class:`Row`: the 1-based ``line`` where the record starts in the file (for Parquet and JSON lists,
the 1-based record number) and its ``fields`` as a dict of strings (or lists, for JSON values that are lists).

Every problem raises :class:`~tais.errors.DataError` naming the file and the line (and column where known)::

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_bytes(b"id,prompt\\n1,hello\\n2,caf\\xe9\\n")
    >>> read_rows(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tais.errors.DataError: ...t.csv:3:6: not valid UTF-8 (byte 0xe9)
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tais.errors import DataError

FORMATS = ("csv", "tsv", "jsonl", "json", "parquet", "text", "pyrit-seeds")
SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
              ".parquet": "parquet", ".txt": "text", ".prompt": "pyrit-seeds", ".yaml": "pyrit-seeds",
              ".yml": "pyrit-seeds"}


@dataclass(frozen=True)
class Row:
    line: int
    fields: dict[str, Any]


def guess_format(path: Path) -> str:
    """The format implied by a file name's suffix."""
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"cannot tell the format from the suffix {path.suffix!r}; set format: one of "
                        f"{', '.join(FORMATS)}", path=str(path))
    return fmt


def decode_utf8(path: Path, data: bytes) -> str:
    """Decode bytes as UTF-8 (a leading BOM is dropped); a bad byte raises DataError at its line and column (the
    1-based byte position within the line)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", path=str(path), line=line,
                        column=column) from None


def read_text_file(path: Path) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    return decode_utf8(path, data)


def read_rows(path: Path, fmt: str | None = None) -> list[Row]:
    """All rows of a data file. An empty file (no rows) is an error."""
    path = Path(path)
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}", path=str(path))
    if fmt == "parquet":
        rows = _parquet(path)
    else:
        text = read_text_file(path)
        rows = {"csv": _delimited, "tsv": _delimited, "jsonl": _jsonl, "json": _json, "text": _text,
                "pyrit-seeds": _pyrit}[fmt](path, text, fmt)
    if not rows:
        raise DataError("no rows: the file is empty", path=str(path), line=1)
    return rows


def _delimited(path: Path, text: str, fmt: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if fmt == "tsv" else ",", strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            return []
        header = [h.strip() for h in header]
        seen: set[str] = set()
        for i, name in enumerate(header, start=1):
            if not name:
                raise DataError("empty column name in the header", path=str(path), line=1, column=i)
            if name in seen:
                raise DataError(f"duplicate column {name!r} in the header", path=str(path), line=1, column=i)
            seen.add(name)
        rows: list[Row] = []
        start = reader.line_num + 1
        for record in reader:
            if record and any(cell.strip() for cell in record):
                if len(record) != len(header):
                    raise DataError(f"{len(record)} fields, the header has {len(header)}", path=str(path),
                                    line=start)
                rows.append(Row(start, dict(zip(header, record))))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"malformed {fmt.upper()}: {exc}", path=str(path), line=reader.line_num) from None
    return rows


def _jsonl(path: Path, text: str, fmt: str) -> list[Row]:
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", path=str(path), line=n, column=exc.colno) from None
        if not isinstance(value, dict):
            raise DataError("each line must be a JSON object", path=str(path), line=n)
        rows.append(Row(n, value))
    return rows


def _json(path: Path, text: str, fmt: str) -> list[Row]:
    try:
        value = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno, column=exc.colno) from None
    if isinstance(value, dict) and isinstance(value.get("rows"), list):
        value = value["rows"]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise DataError("expected a JSON list of objects", path=str(path), line=1)
    return [Row(i, v) for i, v in enumerate(value, start=1)]


def _text(path: Path, text: str, fmt: str) -> list[Row]:
    return [Row(n, {"text": line.strip()}) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _pyrit(path: Path, text: str, fmt: str) -> list[Row]:
    """A PyRIT seed-dataset file: YAML mapping with ``seeds: [{value: ..., harm_categories: [...]}, ...]``; the row's
    line is the YAML line where the seed starts."""
    import yaml

    try:
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DataError(f"invalid YAML: {getattr(exc, 'problem', exc)}", path=str(path),
                        line=mark.line + 1 if mark else None) from None
    if node is None:
        return []
    data = yaml.safe_load(text)
    seeds_node = next((v for k, v in getattr(node, "value", []) if getattr(k, "value", None) == "seeds"), None)
    if not isinstance(data, dict) or not isinstance(data.get("seeds"), list) or seeds_node is None:
        raise DataError("expected a YAML mapping with a 'seeds:' list", path=str(path), line=1)
    rows = []
    for seed, seed_node in zip(data["seeds"], seeds_node.value):
        line = seed_node.start_mark.line + 1
        if not isinstance(seed, dict):
            raise DataError("each seed must be a mapping with a 'value'", path=str(path), line=line)
        rows.append(Row(line, {k: v for k, v in seed.items()}))
    return rows


def _parquet(path: Path) -> list[Row]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise DataError(f"cannot read Parquet: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                        path=str(path)) from None
    return [Row(i, r) for i, r in enumerate(table.to_pylist(), start=1)]
