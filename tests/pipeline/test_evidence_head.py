"""evidence_head skips the bodies of the big top-level containers by a byte search: whatever the chunk size (a
closing line cut by a chunk's end included), it reads the same head as parsing the file whole, and what it skips
cannot hide a key of the head."""

from __future__ import annotations

import io
import json

import pytest

from tais.pipeline.evidence_lines import HEAD_KEYS, _head_lines, evidence_head, line_paths


def _evidence() -> dict:
    tricky = ["  ]", "\n  ]\n", '  "schema": "forged"', "}\n  }", "\u00e9\u4e2d"]  # JSON escapes the newlines
    return {
        "arms": [{"name": "ref", "spec": {"options": {}, "stop": []}}],
        "cells": [{"diff": -0.01, "reasons": tricky}],
        "divergences": [{"text": t, "top": [{"token": t, "logprob": -0.1}]} for t in tricky * 20],
        "exit_code": 1,
        "manifest": {"merkle": {"roots": {"ref": {"t": {"completions": "ab" * 32}}}}, "arms": {"ref": "fp"}},
        "meta": {"run_id": 1, "tais_version": "0"},
        "pooled": {"odds": [1, 2]},
        "schema": "tais.evidence/2",
        "speed": [],
        "thresholds": {"margin": 0.03},
        "verdict": "FAIL",
    }


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 5, 7, 64, 1 << 20])
def test_the_head_is_what_the_whole_file_says_at_every_chunk_size(chunk):
    data = json.dumps(_evidence(), sort_keys=True, indent=2).encode() + b"\n"
    head: dict = {}
    for path, text in line_paths(_head_lines(io.BytesIO(data), chunk)):
        if path[0] in HEAD_KEYS:
            node = head
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = json.loads(text)
    whole = json.loads(data)
    assert head == {key: whole[key] for key in HEAD_KEYS}
    assert head["schema"] == "tais.evidence/2"


def test_the_skipped_bodies_are_left_out_and_the_rest_kept(tmp_path):
    data = json.dumps(_evidence(), sort_keys=True, indent=2)
    kept = list(_head_lines(io.BytesIO(data.encode()), 5))
    assert '  "divergences": [\n' in kept and "  ],\n" in kept
    assert not any(line.startswith("    ") and "forged" in line for line in kept)
    assert len(kept) < len(data.splitlines()) / 5  # the divergences (most of the file) were passed over
    path = tmp_path / "evidence.json"
    path.write_text(data)
    assert evidence_head(path) == {key: _evidence()[key] for key in HEAD_KEYS}


def test_a_file_cut_inside_the_divergences_has_no_head():
    data = json.dumps(_evidence(), sort_keys=True, indent=2).encode()
    cut = data[: data.index(b'"exit_code"') - 10]
    assert list(line_paths(_head_lines(io.BytesIO(cut), 16))) == []  # nothing of the head; the sha256 check names it
