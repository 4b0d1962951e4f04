"""report.html and its SVG plots, read with the standard library's HTML and XML parsers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from helpers.report_inputs import PAYLOADS
from tais.report import render_html
from tais.report.svg import acceptance_plot, divergence_histogram, forest_plot, identity_plot, report_plots

SVG = "{http://www.w3.org/2000/svg}"


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Tags:
    p = Tags()
    p.feed(html)
    return p


def test_hostile_text_is_only_text(hostile_result):
    html = render_html(hostile_result)
    page = parse(html)
    assert not [t for t, _ in page.tags if t in ("script", "img", "iframe", "object", "embed", "link")]
    assert not [(t, a) for t, attrs in page.tags for a in attrs if a.startswith("on")]
    text = "".join(page.text)
    for payload in PAYLOADS[:4]:
        assert payload in text  # the parser decodes the escapes back to the payload: shown verbatim
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'; img-src data:"]


def test_order_plots_and_divergence_view(screen_result):
    html = render_html(screen_result)
    assert html.index("id='verdict'") < html.index("Candidate contrasts") < html.index("data-plot='forest'")
    assert html.index("data-plot='forest'") < html.index("Divergences (19)")
    plots = [a["data-plot"] for t, a in parse(html).tags if t == "svg"]
    assert plots == ["forest", "identity", "divergence-positions", "acceptance"]
    # lossy harm/0: reference " w12" vs candidate " far" at token 2, both continuations marked from that token
    assert "<mark class='tok '> w12</mark> w13 w14" in html
    assert "<mark class='tok leak'> far</mark> w13 w14" in html
    assert "<td><code>&quot; far&quot;</code></td><td class='num'>-3.0000</td><td>candidate</td>" in html


def test_plots_are_well_formed_svg(hostile_result):
    for plot in (forest_plot(hostile_result.cells, 0.03), identity_plot(hostile_result.cells),
                 divergence_histogram(hostile_result.divergences), acceptance_plot(hostile_result.speed)):  # fmt: skip
        root = ET.fromstring(plot)
        assert root.tag == SVG + "svg" and root.find(SVG + "title") is not None
        assert not [e for e in root.iter() if e.tag.endswith("script") or any(a.startswith("on") for a in e.attrib)]


def test_forest_geometry(screen_result):
    # extent = ceil(max(2 margin, |CI ends|) * 1.1 * 100) / 100; x(v) = 250 + (v + extent) / (2 extent) * 400
    cells = screen_result.cells
    extent = max([0.06] + [abs(v) for c in cells for v in (c.ci_low, c.ci_high)])
    extent = -(-extent * 1.1 * 100 // 1) / 100
    root = ET.fromstring(forest_plot(cells, 0.03))
    band = root.find(SVG + "rect")
    x = lambda v: 250 + (v + extent) / (2 * extent) * 400  # noqa: E731
    assert float(band.get("x")) == pytest.approx(x(-0.03), abs=0.05)
    assert float(band.get("width")) == pytest.approx(x(0.03) - x(-0.03), abs=0.1)
    dots = [float(c.get("cx")) for c in root.iter(SVG + "circle")]
    assert dots == pytest.approx([x(c.diff) for c in cells], abs=0.05)


def test_histogram_counts_by_class(screen_result):
    root = ET.fromstring(report_plots(screen_result)["divergence-positions"])
    titles = [t.text for t in root.iter(SVG + "title")][1:]
    # positions: strict near-tie at 3 (x3), strict mc unexplained at 1 (x2), lossy leak at 2 (x10) and 0 (x2),
    # one token per bin; the A/A arm's near-ties at 4 are not part of the candidate histogram
    assert sorted(titles) == sorted(["leak, tokens 0: 2", "unexplained, tokens 1: 2", "leak, tokens 2: 10",
                                     "near-tie, tokens 3: 3"])  # fmt: skip


def test_leaks_are_expanded(screen_result):
    details = [attrs for tag, attrs in parse(render_html(screen_result)).tags if tag == "details"]
    opened = [i for i, attrs in enumerate(details) if "open" in attrs]
    # divergences 1-3 (strict near-ties) and the 12 leaks of the lossy arm (divergences 6-17)
    assert len(details) == 19 and opened == [0, 1, 2, *range(5, 17)]
