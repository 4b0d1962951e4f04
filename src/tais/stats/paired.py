"""The paired 2x2 table of two binary outcome vectors over the same prompts.

Terms: y = 1 is the behaviour a task wants. For each prompt the reference arm R gives y_R and the candidate arm C gives
y_C. The table counts the four combinations::

                     candidate 1   candidate 0
    reference 1          a             b
    reference 0          c             d

b and c are the *discordant* pairs. The marginal rates are p_R = (a + b) / n and p_C = (a + c) / n, and the paired
difference is p_C - p_R = (c - b) / n.

Worked example::

    >>> t = paired_table([1, 1, 0, 0, 1], [1, 0, 1, 0, 1])
    >>> (t.a, t.b, t.c, t.d, t.n)
    (2, 1, 1, 1, 5)
    >>> t.p_reference, t.p_candidate, t.diff
    (0.6, 0.6, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class PairedTable:
    """Counts of (y_R, y_C) pairs: a = (1, 1), b = (1, 0), c = (0, 1), d = (0, 0)."""

    a: int
    b: int
    c: int
    d: int

    def __post_init__(self) -> None:
        for name in ("a", "b", "c", "d"):
            value = getattr(self, name)
            if int(value) != value or value < 0:
                raise ValueError(f"PairedTable.{name} must be a non-negative integer, got {value!r}")

    @property
    def n(self) -> int:
        """Number of pairs."""
        return self.a + self.b + self.c + self.d

    @property
    def discordant(self) -> int:
        """b + c: pairs where the two arms disagree."""
        return self.b + self.c

    @property
    def p_reference(self) -> float:
        """(a + b) / n; NaN when the table is empty."""
        return (self.a + self.b) / self.n if self.n else float("nan")

    @property
    def p_candidate(self) -> float:
        """(a + c) / n; NaN when the table is empty."""
        return (self.a + self.c) / self.n if self.n else float("nan")

    @property
    def diff(self) -> float:
        """Paired difference p_C - p_R = (c - b) / n; NaN when the table is empty."""
        return (self.c - self.b) / self.n if self.n else float("nan")


def paired_table(y_reference: ArrayLike, y_candidate: ArrayLike) -> PairedTable:
    """Count the paired table of two equal-length 0/1 sequences (reference first, candidate second).

    Raises ValueError when the lengths differ, when an array is not one-dimensional, or when a value is not 0 or 1.

    >>> paired_table([1, 0, 0], [0, 0, 1])
    PairedTable(a=0, b=1, c=1, d=1)
    """
    r = np.asarray(y_reference)
    c = np.asarray(y_candidate)
    if r.ndim != 1 or c.ndim != 1:
        raise ValueError("paired_table needs two one-dimensional outcome sequences")
    if r.shape != c.shape:
        raise ValueError(f"paired_table needs equal lengths, got {r.shape[0]} reference and {c.shape[0]} candidate")
    for name, y in (("y_reference", r), ("y_candidate", c)):
        if y.size and not np.isin(y, (0, 1)).all():
            bad = y[~np.isin(y, (0, 1))][0]
            raise ValueError(f"{name} must hold only 0 and 1, found {bad!r}")
    r = r.astype(bool)
    c = c.astype(bool)
    return PairedTable(
        a=int(np.count_nonzero(r & c)),
        b=int(np.count_nonzero(r & ~c)),
        c=int(np.count_nonzero(~r & c)),
        d=int(np.count_nonzero(~r & ~c)),
    )


def paired_counts(y_reference: ArrayLike, y_candidate: ArrayLike, cells: ArrayLike | None = None,
                  n_cells: int | None = None) -> tuple[NDArray[np.int64], ...]:
    """Count (a, b, c, d) for many cells at once: ``cells[i]`` is the cell index (0 .. n_cells - 1) of pair i.
    Returns four integer arrays of length n_cells (one bincount over 4 * cell + 2 * y_R + y_C). Without ``cells``
    every pair is in cell 0. Validation as in :func:`paired_table`.

    >>> a, b, c, d = paired_counts([1, 1, 0, 0, 1], [1, 0, 1, 0, 0], cells=[0, 0, 0, 1, 1])
    >>> a.tolist(), b.tolist(), c.tolist(), d.tolist()
    ([1, 0], [1, 1], [1, 0], [0, 1])
    """
    r = np.asarray(y_reference)
    c = np.asarray(y_candidate)
    if r.ndim != 1 or r.shape != c.shape:
        raise ValueError("paired_counts needs two one-dimensional outcome arrays of equal length")
    for name, y in (("y_reference", r), ("y_candidate", c)):
        if y.size and y.dtype != bool and not np.isin(y, (0, 1)).all():
            raise ValueError(f"{name} must hold only 0 and 1")
    cell = np.zeros(r.shape, dtype=np.int64) if cells is None else np.asarray(cells, dtype=np.int64)
    if cell.shape != r.shape:
        raise ValueError("cells must have one entry per pair")
    if n_cells is None:
        n_cells = int(cell.max()) + 1 if cell.size else 1
    if cell.size and (cell.min() < 0 or cell.max() >= n_cells):
        raise ValueError(f"cell indices must lie in 0 .. {n_cells - 1}")
    code = 4 * cell + 2 * r.astype(np.int64) + c.astype(np.int64)
    counts = np.bincount(code, minlength=4 * n_cells).reshape(n_cells, 4)
    return counts[:, 3], counts[:, 2], counts[:, 1], counts[:, 0]
