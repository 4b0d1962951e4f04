"""The manifest of a run's evidence: one Merkle tree per arm, task and kind (completions, scores), built while the
streaming analysis (:mod:`tais.pipeline.stream`) walks the store, its leaves kept in the store for ``tais verify``.

Each tree's leaves are the rows' recorded sha256 in run plan key order (:mod:`tais.store.merkle`, RFC 6962); the
builder holds log2(n) hashes and the leaves go to a temporary file, a chunk at a time, so memory stays bounded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tais.store import PlannedTask, RunRecord, RunStore
from tais.store.merkle import MerkleBuilder, leaf_bytes

MANIFEST_VERSION = 2
"""manifest version of evidence schema 2: one Merkle root per arm, task and kind (1: every completion's sha256)"""
KINDS = ("completions", "scores")
LEAF_CHUNK = 4096
"""leaves a Merkle tree takes at a time (a power of two: each full chunk is one complete subtree)"""


@dataclass
class Tree:
    """One Merkle tree of the manifest: an arm's completions or scores of one task, its leaves in a temporary file."""

    arm: str
    fingerprint: str
    task: PlannedTask
    kind: str
    leaves: Path
    builder: MerkleBuilder = field(default_factory=MerkleBuilder)
    missing: int = 0
    """keys of the plan with no row (their leaves are absent, so leaf i is the i-th key only when this is 0)"""

    pending: list[bytes] = field(default_factory=list)
    """leaves not yet in the builder and the file (at most :data:`LEAF_CHUNK`)"""

    def add(self, sha256_hex: str) -> None:
        self.pending.append(leaf_bytes(sha256_hex))
        if len(self.pending) == LEAF_CHUNK:
            self.flush()

    def flush(self) -> None:
        """Hash the pending leaves into the tree (a full chunk as one complete subtree) and append them to the
        file."""
        if self.pending:
            self.builder.add_many(self.pending)
            with open(self.leaves, "ab") as handle:
                handle.write(b"".join(self.pending))
            self.pending = []

    def stored_leaves(self) -> Iterator[bytes]:
        """The 32-byte leaves in order, read back from the temporary file."""
        self.flush()
        with open(self.leaves, "rb") as handle:
            while chunk := handle.read(1 << 16):
                yield from (chunk[i:i + 32] for i in range(0, len(chunk), 32))


def merkle_manifest(run: RunRecord, trees: tuple[Tree, ...]) -> dict[str, Any]:
    """The manifest of evidence schema 2: the config, task and arm hashes, and per arm and task the Merkle root of
    its completions' and of its scores' recorded sha256 (RFC 6962, leaves in run plan key order) with the leaf count."""
    roots: dict[str, dict[str, dict[str, Any]]] = {}
    for tree in trees:
        entry = roots.setdefault(tree.arm, {}).setdefault(tree.task.name, {})
        entry[tree.kind] = tree.builder.root()
        entry[f"{tree.kind}_leaves"] = tree.builder.size
    plan = run.plan
    return {
        "manifest_version": MANIFEST_VERSION,
        "config_sha256": run.config_sha256,
        "tasks": {t.name: t.content_sha256 for t in plan.tasks},
        "arms": {a.name: a.fingerprint for a in plan.arms},
        "merkle": {"tree": "RFC 6962 Merkle Tree Hash, sha256; leaves: each row's recorded sha256, in run plan key "
                           "order", "roots": roots},
    }


def keep_leaves(store: RunStore, trees: tuple[Tree, ...]) -> None:
    """Keep every tree's leaves in the store under its root (once per root), for ``tais verify``."""
    for tree in trees:
        store.put_merkle_tree(tree.builder.root(), tree.stored_leaves())


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
