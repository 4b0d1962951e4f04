"""The sweep view: one row per grid point with its verdict and speed, in report.md, report.html and one inline SVG
(no script), and the evidence's optional ``sweep`` / ``cluster`` keys (absent without a sweep or a cluster)."""

from __future__ import annotations

import json
from dataclasses import replace

from helpers.report_inputs import PAYLOADS, screen_result
from tais.report import write_reports
from tais.report.evidence import evidence_dict
from tais.report.html import render_html
from tais.report.markdown import render_markdown
from tais.report.svg import VERDICT_COLOURS
from tais.report.sweep import sweep_plot, sweep_rows
from tais.screen.result import SweepPoint
from tais.types import Verdict


def _swept(value=4):
    # in the synthetic screen, strict passes one task and is inconclusive on another (2.0x); lossy fails one (2.5x)
    return replace(screen_result(), sweep=(SweepPoint("strict", "spec", (("speculative.k", 2), ("dtype", "float32"))),
                                           SweepPoint("lossy", "spec", (("speculative.k", value), ("dtype", "bf16")))))


def test_each_grid_point_gets_its_arms_combined_verdict_and_speed():
    rows = sweep_rows(_swept())
    assert [(r.arm, r.verdict, r.speedup) for r in rows] == [("strict", Verdict.INCONCLUSIVE, 2.0),
                                                             ("lossy", Verdict.FAIL, 2.5)]
    assert sweep_rows(screen_result()) == []


def test_markdown_and_html_show_one_table_and_the_plot():
    result = _swept()
    md = render_markdown(result)
    section = md.split("## Sweep\n", 1)[1].split("## Plots", 1)[0]
    assert "| arm | speculative.k | dtype | verdict | identical | tokens/s | speedup |" in section
    assert "| lossy | 4 | bf16 | FAIL |" in section and "| 2.50× |" in section
    assert "](plots/sweep.svg)" in section
    assert "## Sweep" not in render_markdown(screen_result())
    html = render_html(result)
    assert "<h2>Sweep</h2>" in html and "data-plot='sweep'" in html
    assert "<h2>Sweep</h2>" not in render_html(screen_result())


def test_the_plot_is_script_free_svg_with_one_bar_per_point_in_its_verdict_colour():
    plot = sweep_plot(_swept(value=PAYLOADS[0]))
    assert plot.startswith("<svg") and "<script" not in plot.lower() and "onerror" not in plot
    assert plot.count(f"fill='{VERDICT_COLOURS[Verdict.FAIL]}'") == 1
    assert plot.count(f"fill='{VERDICT_COLOURS[Verdict.INCONCLUSIVE]}'") == 1
    assert "<script" not in render_html(_swept(value=PAYLOADS[0])).split("<h2>Sweep</h2>", 1)[1].split("<h2>", 1)[0]


def test_evidence_gains_sweep_and_cluster_only_when_present(tmp_path):
    plain = evidence_dict(screen_result())
    assert "sweep" not in plain and "cluster" not in plain
    cluster = {"arms": {"lossy": [{"executor": "ray", "hostname": "n1", "node_id": "ab", "requests_sent": 3,
                                   "worker_restarts": 0}]}, "resources": {"CPU": 2.0}}
    data = evidence_dict(replace(_swept(), cluster=cluster))
    assert data["sweep"][1] == {"arm": "lossy", "template": "spec", "point": {"speculative.k": 4, "dtype": "bf16"}}
    assert data["cluster"] == cluster
    assert set(data) - set(plain) == {"sweep", "cluster"}
    paths = write_reports(_swept(), tmp_path)
    assert (tmp_path / "plots" / "sweep.svg").read_text().startswith("<svg") and "plot:sweep" in paths
    assert json.loads(paths["evidence"].read_text())["sweep"][0]["arm"] == "strict"
