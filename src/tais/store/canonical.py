"""Canonical JSON and its sha256: the one way tais turns a stored record into bytes and a hash.

*Canonical* means: keys sorted, no insignificant whitespace, UTF-8, floats in Python's shortest round-trip form. Two
equal records always give the same bytes, so their sha256 can pin them in a manifest::

    >>> canonical_json({"b": 1, "a": [1.5, "x"]})
    '{"a":[1.5,"x"],"b":1}'
    >>> sha256_json({"a": 1}) == sha256_json({"a": 1})
    True
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON text (sorted keys, compact separators, non-ASCII kept as UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_text(text: str) -> str:
    """Hex sha256 of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_json(value: Any) -> str:
    """Hex sha256 of ``canonical_json(value)``."""
    return sha256_text(canonical_json(value))
