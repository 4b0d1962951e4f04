"""A fixed-seed sample of a task's items: the same seed and items give the same sample on every machine.

Each item is ranked by sha256 of ``"<seed>\\0<item id>"``; the ``n`` lowest ranks are kept, in the task's own order.
The rank of an item depends only on the seed and its id, so adding items to a source never reshuffles which of the
old ones are drawn (an old item leaves the sample only when a new one ranks below it), and no random generator or
library version enters.

Worked example::

    >>> from tais.types import Item
    >>> items = tuple(Item(id=f"t/{i}", prompt="p") for i in range(10))
    >>> [i.id for i in sample_items(items, 3, seed=1)]
    ['t/0', 't/6', 't/8']
    >>> sample_items(items, 3, seed=1) == sample_items(items, 3, seed=1), len(sample_items(items, 50, seed=1))
    (True, 10)
"""

from __future__ import annotations

import hashlib
from typing import Sequence

from tais.types import Item


def rank(item_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\0{item_id}".encode("utf-8")).hexdigest()


def sample_items(items: Sequence[Item], n: int, *, seed: int) -> tuple[Item, ...]:
    """The ``n`` items of lowest rank, in their original order (all of them when there are at most ``n``)."""
    if n >= len(items):
        return tuple(items)
    keep = set(sorted(range(len(items)), key=lambda i: rank(items[i].id, seed))[:n])
    return tuple(item for i, item in enumerate(items) if i in keep)
