"""``tais verify`` for evidence schema ``tais.evidence/2``, in bounded memory.

1. The run is screened again from the store by :func:`tais.pipeline.stream.streamed_screen`, which checks every
   completion and score against its recorded sha256 (naming each one that differs or is missing).
2. The evidence this implies is written to a temporary file and compared with ``evidence.json`` by sha256; when they
   differ, the key paths that differ are named line by line (:mod:`tais.pipeline.evidence_lines`).
3. Every Merkle root of the manifest is compared with the root of the recorded sha256 now in the store; where one
   differs (a completion edited together with its recorded sha256), the leaves kept in the store when the evidence
   was written are compared with today's, leaf by leaf, naming the exact completion or score whose sha256 changed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from itertools import zip_longest
from pathlib import Path
from typing import Any

from tais.pipeline.analysis import EVIDENCE_FILENAME
from tais.pipeline.evidence_lines import differing_lines
from tais.pipeline.manifest import Tree, file_sha256
from tais.pipeline.stream import StreamedScreen, streamed_screen
from tais.report.evidence import write_evidence
from tais.store import STORE_FILENAME, RunRecord, RunStore
from tais.store.merkle import merkle_root
from tais.types import Thresholds

MAX_LEAVES_NAMED = 8


def verify_streamed(store: RunStore, run: RunRecord, thresholds: Thresholds, evidence_path: Path,
                    evidence: Mapping[str, Any] | None) -> tuple[list[str], int]:
    """(problems, completions checked) of the checks above; ``evidence`` is the evidence's head (schema, manifest,
    ...), None when ``evidence.json`` could not be read (then only the store is checked)."""
    with streamed_screen(store, run, thresholds) as streamed, tempfile.TemporaryDirectory() as tmp:
        problems = [f"{STORE_FILENAME}: {p}" for p in streamed.problems]
        if evidence is not None:
            expected = Path(tmp) / EVIDENCE_FILENAME
            with open(expected, "w", encoding="utf-8", newline="\n") as out, \
                    open(streamed.divergences, encoding="utf-8", newline="") as entries:
                write_evidence(streamed.result, out, entries)
            if file_sha256(expected) != file_sha256(evidence_path):
                with open(expected, encoding="utf-8") as want, open(evidence_path, encoding="utf-8",
                                                                   errors="replace") as got:
                    problems += [f"{EVIDENCE_FILENAME}: {d} (re-derived from the store)"
                                 for d in differing_lines(want, got)]
            problems += leaf_problems(store, streamed, evidence)
        return problems, streamed.completions_checked


def _roots(evidence: Mapping[str, Any]) -> Mapping[str, Any]:
    manifest = evidence.get("manifest")
    merkle = manifest.get("merkle") if isinstance(manifest, Mapping) else None
    roots = merkle.get("roots") if isinstance(merkle, Mapping) else None
    return roots if isinstance(roots, Mapping) else {}


def leaf_problems(store: RunStore, streamed: StreamedScreen, evidence: Mapping[str, Any]) -> list[str]:
    """For every tree whose root differs from the one ``evidence.json`` pins: the leaves that changed since."""
    roots = _roots(evidence)
    problems: list[str] = []
    for tree in streamed.trees:
        entry = roots.get(tree.arm, {}).get(tree.task.name, {}) if isinstance(roots.get(tree.arm), Mapping) else {}
        pinned = entry.get(tree.kind) if isinstance(entry, Mapping) else None
        if not isinstance(pinned, str) or pinned == tree.builder.root():
            continue  # a missing root is already a differing key path of the evidence
        problems += _changed_leaves(store, tree, pinned)
    return problems


def _changed_leaves(store: RunStore, tree: Tree, pinned: str) -> list[str]:
    what = f"arm {tree.arm}: task {tree.task.name} {tree.kind}"
    kept = store.merkle_tree_leaves(pinned)
    if kept is None:
        return [f"{STORE_FILENAME}: {what}: the recorded sha256 no longer give the Merkle root {pinned[:12]} of "
                f"{EVIDENCE_FILENAME}, and the store keeps no leaves for that root"]
    if merkle_root(store.merkle_tree_leaves(pinned) or ()) != pinned:
        return [f"{STORE_FILENAME}: {what}: the recorded sha256 no longer give the Merkle root {pinned[:12]} of "
                f"{EVIDENCE_FILENAME}, and the leaves kept for it were edited too"]
    # leaf i is the i-th key of the plan when no key lacked its row (read in step, by cursor)
    labels = (f"{k.item_id}#{k.replicate}" for k in tree.task.iter_keys()) if tree.missing == 0 else iter(())
    out = []
    for index, (was, now) in enumerate(zip_longest(kept, tree.stored_leaves())):
        key_label = next(labels, None)
        if was == now:
            continue
        noun = tree.kind[:-1]
        label = key_label or f"leaf {index}"
        if was is None or now is None:
            out.append(f"{STORE_FILENAME}: arm {tree.arm}: {noun} {label}: "
                       + ("not pinned by" if was is None else "pinned by, but gone from the store for")
                       + f" the Merkle root of {EVIDENCE_FILENAME}")
        else:
            out.append(f"{STORE_FILENAME}: arm {tree.arm}: {noun} {label}: recorded sha256 {now.hex()[:12]} is not the "
                       f"{was.hex()[:12]} that {EVIDENCE_FILENAME}'s Merkle root pins")
        if len(out) >= MAX_LEAVES_NAMED:
            break
    return out
