"""write_reports: every file in place with the renderers' text, no temp file left, nothing written on failure."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from tais.report import evidence_json, render_html, render_markdown, write_reports


def test_writes_every_report(screen_result, tmp_path):
    out = tmp_path / "run"
    paths = write_reports(screen_result, out)
    assert paths["evidence"].read_text(encoding="utf-8") == evidence_json(screen_result)
    assert paths["markdown"].read_text(encoding="utf-8") == render_markdown(screen_result)
    assert paths["html"].read_text(encoding="utf-8") == render_html(screen_result)
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "acceptance.svg", "divergence-positions.svg", "forest.svg", "identity.svg"]  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["evidence.json", "plots", "report.html", "report.md"]
    assert json.loads(paths["evidence"].read_text())["verdict"] == "FAIL"
    umask = os.umask(0)
    os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in paths.values()} == {0o666 & ~umask}  # readable like any other file


def test_rewrite_replaces_and_failure_writes_nothing(screen_result, tmp_path):
    out = tmp_path / "run"
    write_reports(screen_result, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(TypeError):
        write_reports(replace(screen_result, meta={"bad": object()}), out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    write_reports(replace(screen_result, meta={"run": 2}), out)
    assert json.loads((out / "evidence.json").read_text())["meta"] == {"run": 2}
    assert not [p for p in out.rglob("*.tmp")]
