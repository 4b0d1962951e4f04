"""The Merkle manifest: one root per (arm, task, kind) pins every completion's (or score's) sha256 in key order.

The tree is RFC 6962's Merkle Tree Hash (Certificate Transparency, section 2.1) over the leaves ``d[0..n-1]``, each
leaf being the 32-byte sha256 digest recorded for one completion (or score) when it was written, in the run plan's
key order (task items in battery order, then replicates):

- ``MTH({}) = sha256(b"")`` (no leaf);
- ``MTH({d0}) = sha256(0x00 || d0)`` (a leaf hash: the byte 0x00, then the 32 leaf bytes);
- ``MTH(D[n]) = sha256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`` for n > 1, with k the largest power of two < n.

The 0x00 / 0x01 prefixes keep a leaf from being passed off as an inner node. :class:`MerkleBuilder` computes the
root in one pass over the leaves, holding one hash per level (log2 n of them), so a million leaves cost 20 hashes
of memory. Worked example, three leaves ``sha256(b"a")``, ``sha256(b"b")``, ``sha256(b"c")``::

    root = sha256(0x01 || sha256(0x01 || sha256(0x00||a) || sha256(0x00||b)) || sha256(0x00||c))

    >>> import hashlib
    >>> leaves = [hashlib.sha256(x).digest() for x in (b"a", b"b", b"c")]
    >>> merkle_root(leaves)
    'cac3d448d4e20a2ad5eae1f500e63c2a7f9217cd14572ba7fd22e26dc1ec2648'
    >>> merkle_root([])
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

Where the leaves live: each completion's and score's sha256 is a column of its row in the store, and the analysis
that wrote ``evidence.json`` also keeps a copy of every tree's leaves (``merkle_leaves``, keyed by root), so ``tais
verify`` can compare leaf by leaf and name the exact completion whose recorded sha256 changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def leaf_hash(digest: bytes) -> bytes:
    """``sha256(0x00 || digest)``: the hash of one leaf."""
    return hashlib.sha256(LEAF_PREFIX + digest).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``sha256(0x01 || left || right)``: the hash of an inner node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


class MerkleBuilder:
    """The RFC 6962 root of leaves fed one at a time (:meth:`add`), in O(log n) memory.

    It keeps the roots of the complete subtrees seen so far, largest first (a binary counter: two subtrees of the same
    size merge into one); :meth:`root` folds them right to left, which is exactly the split at the largest power of
    two of the recursive definition.

    >>> b = MerkleBuilder()
    >>> for x in (b"a", b"b", b"c"):
    ...     b.add(hashlib.sha256(x).digest())
    >>> b.root() == merkle_root([hashlib.sha256(x).digest() for x in (b"a", b"b", b"c")]), b.size
    (True, 3)
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (subtree size, subtree root), sizes strictly decreasing
        self.size = 0

    def add(self, digest: bytes) -> None:
        """Append one leaf (the 32-byte digest it pins)."""
        size, node = 1, leaf_hash(digest)
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, node = left_size + size, node_hash(left, node)
        self._stack.append((size, node))
        self.size += 1

    def add_many(self, digests: list[bytes]) -> None:
        """Append several leaves, in order: the same root as :meth:`add` of each. When the leaves fill one complete
        subtree (a power of two of them, starting at a multiple of that power), its root is computed level by level
        and pushed as one (the per-leaf work of :meth:`add` was most of the manifest's cost at a million leaves).

        >>> one, many = MerkleBuilder(), MerkleBuilder()
        >>> leaves = [hashlib.sha256(bytes([i])).digest() for i in range(21)]
        >>> for d in leaves:
        ...     one.add(d)
        >>> many.add_many(leaves[:8]); many.add_many(leaves[8:16]); many.add_many(leaves[16:])
        >>> many.root() == one.root() == merkle_root(leaves), many.size
        (True, 21)
        """
        n = len(digests)
        if n < 2 or n & (n - 1) or self.size % n:
            for digest in digests:
                self.add(digest)
            return
        sha256 = hashlib.sha256
        level = [sha256(LEAF_PREFIX + d).digest() for d in digests]
        while len(level) > 1:
            pairs = iter(level)
            level = [sha256(NODE_PREFIX + left + right).digest() for left, right in zip(pairs, pairs)]
        size, node = n, level[0]
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, node = left_size + size, node_hash(left, node)
        self._stack.append((size, node))
        self.size += n

    def add_hex(self, sha256_hex: str) -> None:
        """Append one leaf given as a hex sha256 (as the store records it); text that is not 64 hex digits is
        pinned by the sha256 of its UTF-8 bytes instead, so an edited column still changes the root."""
        self.add(leaf_bytes(sha256_hex))

    def root(self) -> str:
        """Hex root of the leaves added so far (``sha256(b"")`` for none)."""
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node.hex()


def merkle_root(leaves: Iterable[bytes]) -> str:
    """Hex RFC 6962 root of the 32-byte leaf digests, in the order given."""
    builder = MerkleBuilder()
    for digest in leaves:
        builder.add(digest)
    return builder.root()


def leaf_bytes(sha256_hex: str) -> bytes:
    """The 32 leaf bytes a recorded hex sha256 stands for (see :meth:`MerkleBuilder.add_hex`)."""
    try:
        digest = bytes.fromhex(sha256_hex)
    except (ValueError, TypeError):
        digest = b""
    return digest if len(digest) == 32 else hashlib.sha256(str(sha256_hex).encode("utf-8", "surrogatepass")).digest()
