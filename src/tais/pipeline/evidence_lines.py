"""Read ``evidence.json`` line by line, in bounded memory: each scalar line with its key path.

``evidence.json`` is written by ``json.dumps(..., sort_keys=True, indent=2)``: every scalar (and every empty ``{}`` /
``[]``) stands on its own line, an object member as ``"key": value``, a container opens at the end of a line and
closes on a line of its own. :func:`line_paths` follows that layout and yields each scalar line's key path and JSON
text, so ``tais verify`` can compare a file of any size against the evidence re-derived from the store and name the
key paths that differ (:func:`differing_lines`), and can read the few header values it needs (:func:`evidence_head`)
without parsing hundreds of megabytes of divergences.

    >>> text = '{\\n  "a": [\\n    1,\\n    {\\n      "b": "x"\\n    }\\n  ],\\n  "c": {}\\n}\\n'
    >>> [(path_text(p), v) for p, v in line_paths(text.splitlines())]
    [('a[0]', '1'), ('a[1].b', '"x"'), ('c', '{}')]
    >>> differing_lines(text.splitlines(), text.replace('"x"', '"y"').splitlines())
    ['a[1].b: "y", expected "x"']
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

MAX_DIFFS = 8
HEAD_KEYS = ("schema", "meta", "thresholds", "manifest", "verdict")
"""top-level keys :func:`evidence_head` keeps (small in schema 2, whatever the size of the run)"""
_DECODER = json.JSONDecoder()

Path_ = tuple  # a key path: str keys and int list indexes


class LayoutError(ValueError):
    """A line that is not in the layout tais writes."""


def line_paths(lines: Iterable[str]) -> Iterator[tuple[Path_, str]]:
    """(key path, JSON text) of every scalar line, in file order; raises :class:`LayoutError` at a line that does
    not follow the layout."""
    stack: list[list[Any]] = []  # [path, is_list, next index]
    for number, raw in enumerate(lines, 1):
        body = raw.strip()
        if body.endswith(","):
            body = body[:-1]
        if not body:
            continue
        if body in ("}", "]"):
            if not stack:
                raise LayoutError(f"line {number}: closes more than it opened")
            stack.pop()
            continue
        parent = stack[-1] if stack else None
        if parent is None:
            if stack or number > 1 and body not in ("{", "["):
                raise LayoutError(f"line {number}: text after the end")
            path: Path_ = ()
        elif parent[1]:
            path = parent[0] + (parent[2],)
            parent[2] += 1
        else:
            try:
                key, end = _DECODER.raw_decode(body)
            except json.JSONDecodeError:
                raise LayoutError(f"line {number}: expected a quoted key") from None
            if not isinstance(key, str) or not body[end:].startswith(": "):
                raise LayoutError(f"line {number}: expected a quoted key")
            path, body = parent[0] + (key,), body[end + 2:]
        if body in ("{", "["):
            stack.append([path, body == "[", 0])
            continue
        yield path, body


def path_text(path: Path_) -> str:
    """``("cells", 3, "diff")`` -> ``cells[3].diff``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "(root)"


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def differing_lines(expected: Iterable[str], actual: Iterable[str], limit: int = MAX_DIFFS) -> list[str]:
    """Where the ``actual`` evidence lines differ from the ``expected`` ones, as ``key.path: found, expected
    wanted`` (at most ``limit``). Where the two stop having the same key paths (an entry added or removed), that
    place is named and the comparison resumes at the next top-level key (``manifest`` after ``divergences``).

    >>> want = '{\\n  "a": [\\n    1\\n  ],\\n  "b": 2\\n}'.splitlines()
    >>> differing_lines(want, '{\\n  "a": [],\\n  "b": 3\\n}'.splitlines())
    ['a[0]: expected here, found a (the entries differ from here on)', 'b: 3, expected 2']
    """
    out: list[str] = []
    want_it, got_it = line_paths(expected), line_paths(actual)
    try:
        want, got = next(want_it, None), next(got_it, None)
        while (want is not None or got is not None) and len(out) < limit:
            if want == got:
                want, got = next(want_it, None), next(got_it, None)
                continue
            if got is None:
                assert want is not None  # the loop runs while one of them is not None
                out.append(f"{path_text(want[0])}: missing (the file ends early)")
                break
            if want is None:
                out.append(f"{path_text(got[0])}: not expected")
                break
            if want[0] == got[0]:
                out.append(f"{path_text(want[0])}: {_short(got[1])}, expected {_short(want[1])}")
                want, got = next(want_it, None), next(got_it, None)
                continue
            out.append(f"{path_text(want[0])}: expected here, found {path_text(got[0])} (the entries differ from "
                       "here on)")
            want, got = _next_top(want, want_it), _next_top(got, got_it)
            while want is not None and got is not None and want[0][:1] != got[0][:1]:
                if (want[0][:1] or ("",)) < (got[0][:1] or ("",)):
                    want = _next_top(want, want_it)
                else:
                    got = _next_top(got, got_it)
    except LayoutError as exc:
        out.append(f"not in the layout tais writes ({exc})")
    return out[:limit]


def _next_top(current: tuple[Path_, str] | None, lines: Iterator[tuple[Path_, str]]) -> tuple[Path_, str] | None:
    """The first line after ``current`` under another top-level key."""
    top = current[0][:1] if current is not None else None
    for line in lines:
        if line[0][:1] != top:
            return line
    return None


def evidence_head(path: Path) -> dict[str, Any]:
    """The top-level ``schema``, ``meta``, ``thresholds``, ``manifest`` and ``verdict`` of an evidence file, read line
    by line; the other top-level containers (the divergences: nearly all of a large file) are skipped unread
    (:func:`_head_lines`), not held. Raises :class:`LayoutError` or ValueError for a head that is not evidence in
    tais's layout. What is skipped is not checked here: ``tais verify`` compares the whole file by sha256."""
    head: dict[str, Any] = {}
    with open(path, "rb") as handle:
        for key_path, text in line_paths(_head_lines(handle)):
            if not key_path or key_path[0] not in HEAD_KEYS:
                continue
            node = head
            for part in key_path[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise LayoutError(f"{path_text(key_path)}: a list where tais writes none")
            node[key_path[-1]] = json.loads(text)
    return head


_CLOSERS = {b"[": b"  ]", b"{": b"  }"}
"""the line that closes a top-level container, by its opening character: two spaces of indent (a nested line has
four or more)"""
_HEAD_OPENERS = tuple(f'  "{key}": '.encode() for key in HEAD_KEYS)


def _head_lines(handle: BinaryIO, chunk: int = 1 << 20) -> Iterator[str]:
    r"""The lines of an evidence file (read from a binary ``handle``, ``chunk`` bytes at a time) with the body of
    every top-level container whose key is not in :data:`HEAD_KEYS` left out: its opening and closing lines are
    kept, so it reads as empty. The body is passed over by searching the bytes for its closing line (no JSON string
    holds a raw newline, and only a top-level container closes at an indent of two), not line by line: the
    divergences of a million-completion run are millions of lines.

    >>> import io
    >>> text = b'{\n  "a": [\n    {\n      "b": 1\n    }\n  ],\n  "schema": "s"\n}\n'
    >>> [line.strip() for line in _head_lines(io.BytesIO(text), chunk=3)]
    ['{', '"a": [', '],', '"schema": "s"', '}']
    """
    lines = _ByteLines(handle, chunk)
    while (line := lines.next_line()) is not None:
        yield line.decode("utf-8")
        opener = line.rstrip()[-1:]
        if opener in _CLOSERS and line.startswith(b'  "') and not line.startswith(_HEAD_OPENERS):
            lines.skip_to(_CLOSERS[opener])


class _ByteLines:
    """Lines of a binary file read a chunk at a time, with a fast skip to the next line that starts with a marker."""

    def __init__(self, handle: BinaryIO, chunk: int) -> None:
        self.handle, self.chunk = handle, chunk
        self.buffer, self.pos = b"", 0

    def _more(self) -> bool:
        data = self.handle.read(self.chunk)
        if not data:
            return False
        self.buffer, self.pos = self.buffer[self.pos:] + data, 0
        return True

    def next_line(self) -> bytes | None:
        """The next line with its newline (the last one may lack it); None at the end of the file."""
        while (end := self.buffer.find(b"\n", self.pos)) < 0:
            if not self._more():
                rest, self.pos = self.buffer[self.pos:], len(self.buffer)
                return rest or None
        line, self.pos = self.buffer[self.pos:end + 1], end + 1
        return line

    def skip_to(self, marker: bytes) -> None:
        """Move to the start of the next line that begins with ``marker`` (the end of the file when none does)."""
        if self.buffer.startswith(marker, self.pos):
            return
        while (found := self.buffer.find(b"\n" + marker, self.pos)) < 0:
            self.pos = max(self.pos, len(self.buffer) - len(marker))  # keeps a match cut by the chunk's end
            if not self._more():
                self.pos = len(self.buffer)
                return
        self.pos = found + 1
