"""The report's plots as standalone inline SVG (no script, no external font or image, every label escaped).

- :func:`forest_plot`: each cell's paired difference p_C - p_R with its Tango interval, against the shaded
  equivalence band (-margin, +margin);
- :func:`identity_plot`: per cell, the share of pairs that are byte-identical, and of the rest the first divergences
  by class (near-tie / leak / unexplained), as one stacked bar;
- :func:`divergence_histogram`: first-divergence token positions, stacked by class;
- :func:`acceptance_plot`: speculative acceptance rate against speedup over the reference, one point per arm.

Each function returns an ``<svg>`` element as a string, with a ``<title>`` for screen readers and a ``data-plot``
attribute naming it; :func:`report_plots` gives all four for a screen, in report order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape

from tais.screen.result import ArmSpeed, CellResult, Divergence, ScreenResult
from tais.types import DivergenceClass, Role, Verdict

FONT = "font-family='system-ui,-apple-system,Segoe UI,Roboto,sans-serif' font-size='12'"
VERDICT_COLOURS = {Verdict.PASS: "#1a7f37", Verdict.FAIL: "#cf222e", Verdict.INCONCLUSIVE: "#9a6700"}
CLASS_COLOURS = {DivergenceClass.NEAR_TIE: "#0969da", DivergenceClass.LEAK: "#cf222e",
                 DivergenceClass.UNEXPLAINED: "#8c959f"}
IDENTICAL_COLOUR = "#a5d6a7"
MUTED = "#57606a"
GRID = "#d0d7de"


def _text(x: float, y: float, s: str, anchor: str = "start", fill: str = "#1f2328", extra: str = "") -> str:
    return (
        f"<text x='{x:.1f}' y='{y:.1f}' text-anchor='{anchor}' fill='{fill}' {extra}>{escape(s)}</text>"
    )


def _svg(name: str, title: str, width: int, height: int, body: Iterable[str]) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' data-plot='{name}' role='img' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' {FONT}><title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _label(cell: CellResult) -> str:
    arm = cell.candidate + (" (A/A)" if cell.role is Role.NULL else "")
    return f"{arm} · {cell.task}"


def _clip(s: str, width: int) -> str:
    return s if len(s) <= width else s[: width - 1] + "…"


def forest_plot(cells: Sequence[CellResult], margin: float, level: float = 0.90) -> str:
    """Paired difference and its ``level`` interval for each cell against the margin band."""
    rows = [c for c in cells if c.diff is not None]
    extent = max([margin * 2.0] + [abs(v) for c in rows for v in (c.ci_low, c.ci_high) if v is not None])
    extent = math.ceil(extent * 1.1 * 100) / 100
    left, plot_w, right, top, row_h = 250, 400, 170, 30, 24
    width, height = left + plot_w + right, top + row_h * max(1, len(rows)) + 40

    def x(v: float) -> float:
        return left + (v + extent) / (2 * extent) * plot_w

    body = [
        f"<rect x='{x(-margin):.1f}' y='{top - 6}' width='{x(margin) - x(-margin):.1f}' "
        f"height='{row_h * max(1, len(rows)) + 6}' fill='#dafbe1'/>",
        f"<line x1='{x(0):.1f}' x2='{x(0):.1f}' y1='{top - 6}' y2='{top + row_h * max(1, len(rows))}' "
        f"stroke='{MUTED}' stroke-dasharray='3 3'/>",
        _text(x(0), 16, f"margin ±{margin:g}", "middle", MUTED),
    ]
    for i, c in enumerate(rows):
        y = top + row_h * i + row_h / 2
        colour = VERDICT_COLOURS[c.verdict]
        assert c.diff is not None  # rows have a diff
        body.append(_text(left - 8, y + 4, _clip(_label(c), 38), "end"))
        if c.ci_low is not None and c.ci_high is not None:
            body.append(f"<line x1='{x(c.ci_low):.1f}' x2='{x(c.ci_high):.1f}' y1='{y:.1f}' y2='{y:.1f}' "
                        f"stroke='{colour}' stroke-width='2'/>")  # fmt: skip
        body.append(f"<circle cx='{x(c.diff):.1f}' cy='{y:.1f}' r='4.5' fill='{colour}'/>")
        body.append(_text(left + plot_w + 8, y + 4, f"{c.diff:+.3f} {c.verdict.value}", fill=colour))
    if not rows:
        body.append(_text(left + plot_w / 2, top + 14, "no cell has decided pairs", "middle", MUTED))
    axis_y = top + row_h * max(1, len(rows)) + 4
    body.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{axis_y}' y2='{axis_y}' stroke='{GRID}'/>")
    for v in (-extent, -margin, 0.0, margin, extent):
        body.append(f"<line x1='{x(v):.1f}' x2='{x(v):.1f}' y1='{axis_y}' y2='{axis_y + 4}' stroke='{MUTED}'/>")
        body.append(_text(x(v), axis_y + 16, f"{v:+.2f}" if v else "0", "middle", MUTED))
    caption = f"p_candidate − p_reference ({level:.0%} Tango interval)"
    body.append(_text(left + plot_w / 2, axis_y + 32, caption, "middle", MUTED))
    return _svg("forest", "Paired difference per cell against the equivalence margin", width, height, body)


def identity_plot(cells: Sequence[CellResult]) -> str:
    """Per cell: byte-identical pairs and first divergences by class, as shares of all pairs."""
    left, plot_w, right, top, row_h = 250, 400, 120, 30, 24
    width, height = left + plot_w + right, top + row_h * max(1, len(cells)) + 30
    parts = [("identical", IDENTICAL_COLOUR)] + list(CLASS_COLOURS.items())
    body = []
    for j, (name, colour) in enumerate(parts):
        body.append(f"<rect x='{left + j * 100}' y='6' width='10' height='10' fill='{colour}'/>")
        body.append(_text(left + j * 100 + 14, 15, name, fill=MUTED))
    for i, c in enumerate(cells):
        y = top + row_h * i
        body.append(_text(left - 8, y + row_h / 2 + 4, _clip(_label(c), 38), "end"))
        total = c.pairs or 1
        start = 0.0
        counts = [c.identical_text] + [c.divergences.get(name, 0) for name in CLASS_COLOURS]
        for (name, colour), k in zip(parts, counts):
            w = k / total * plot_w
            if w > 0:
                body.append(f"<rect x='{left + start:.1f}' y='{y + 4}' width='{w:.1f}' height='{row_h - 8}' "
                            f"fill='{colour}'><title>{escape(f'{name}: {k} of {c.pairs}')}</title></rect>")  # fmt: skip
            start += w
        share = c.identical_text / c.pairs if c.pairs else 0.0
        body.append(_text(left + plot_w + 8, y + row_h / 2 + 4, f"{share:.0%} identical", fill=MUTED))
    axis_y = top + row_h * max(1, len(cells)) + 4
    for v in (0, 0.5, 1):
        body.append(_text(left + v * plot_w, axis_y + 12, f"{v:.0%}", "middle", MUTED))
    return _svg("identity", "Byte-identical pairs and first divergences by class, per cell", width, height, body)


def divergence_histogram(divergences: Sequence[Divergence], bins: int = 16, found: int | None = None) -> str:
    """First-divergence token positions, stacked by class (divergences located only by text offset are left out).
    ``found``: how many divergences the screen found when ``divergences`` holds only the first of them."""
    tokens = [d for d in divergences if d.basis != "text"]
    left, plot_w, top, plot_h = 60, 600, 30, 180
    width, height = left + plot_w + 40, top + plot_h + 50
    top_pos = max([d.position for d in tokens] + [bins - 1])
    size = max(1, math.ceil((top_pos + 1) / bins))
    nbins = math.ceil((top_pos + 1) / size)
    counts = {name: [0] * nbins for name in CLASS_COLOURS}
    for d in tokens:
        counts[d.cls][d.position // size] += 1
    totals = [sum(counts[name][b] for name in CLASS_COLOURS) for b in range(nbins)]
    peak = max(totals + [1])
    body = []
    for j, (name, colour) in enumerate(CLASS_COLOURS.items()):
        body.append(f"<rect x='{left + j * 110}' y='6' width='10' height='10' fill='{colour}'/>")
        body.append(_text(left + j * 110 + 14, 15, f"{name} ({sum(counts[name])})", fill=MUTED))
    bar_w = plot_w / nbins
    for b in range(nbins):
        base: float = top + plot_h
        for name, colour in CLASS_COLOURS.items():
            h = counts[name][b] / peak * plot_h
            if h > 0:
                lo, hi = b * size, b * size + size - 1
                span = f"{lo}" if size == 1 else f"{lo}-{hi}"
                tip = escape(f"{name}, tokens {span}: {counts[name][b]}")
                body.append(f"<rect x='{left + b * bar_w + 1:.1f}' y='{base - h:.1f}' width='{bar_w - 2:.1f}' "
                            f"height='{h:.1f}' fill='{colour}'><title>{tip}</title></rect>")  # fmt: skip
                base -= h
    body.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{top + plot_h}' y2='{top + plot_h}' stroke='{GRID}'/>")
    for b in range(0, nbins + 1, max(1, nbins // 8)):
        body.append(_text(left + b * bar_w, top + plot_h + 14, str(b * size), "middle", MUTED))
    body.append(_text(left - 6, top + 4, str(peak), "end", MUTED))
    body.append(_text(left - 6, top + plot_h, "0", "end", MUTED))
    note = "first differing token index" + (f" ({len(divergences) - len(tokens)} located by text only, not shown)"
                                            if len(tokens) < len(divergences) else "")  # fmt: skip
    if found is not None and found > len(divergences):
        note += f"; the first {len(divergences)} of {found} divergences (all are in evidence.json)"
    if not divergences:
        note = "no divergences: every pair is identical"
    body.append(_text(left + plot_w / 2, top + plot_h + 36, note, "middle", MUTED))
    return _svg("divergence-positions", "First-divergence positions by class", width, height, body)


def acceptance_plot(speed: Sequence[ArmSpeed]) -> str:
    """Acceptance rate (x) against speedup over the reference (y), one point per speculative arm."""
    points = [s for s in speed if s.acceptance is not None and s.speedup is not None]
    left, plot_w, top, plot_h = 60, 420, 20, 220
    width, height = left + plot_w + 220, top + plot_h + 60
    y_max = max([s.speedup for s in points if s.speedup is not None] + [1.0]) * 1.2

    def x(v: float) -> float:
        return left + v * plot_w

    def y(v: float) -> float:
        return top + plot_h - v / y_max * plot_h

    body = [
        f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' stroke='{GRID}'/>",
        f"<line x1='{left}' x2='{left + plot_w}' y1='{y(1):.1f}' y2='{y(1):.1f}' stroke='{MUTED}' "
        "stroke-dasharray='3 3'/>",
        _text(left + plot_w + 4, y(1) + 4, "reference (1.0×)", fill=MUTED),
    ]
    for v in (0, 0.25, 0.5, 0.75, 1):
        body.append(_text(x(v), top + plot_h + 14, f"{v:.0%}", "middle", MUTED))
    for k in range(0, int(y_max) + 1):
        body.append(_text(left - 6, y(k) + 4, f"{k}×", "end", MUTED))
    for s in points:
        body.append(f"<circle cx='{x(s.acceptance):.1f}' cy='{y(s.speedup):.1f}' r='5' fill='#8250df'/>")  # type: ignore[arg-type]  # points: both not None
        body.append(_text(x(s.acceptance) + 8, y(s.speedup) + 4,  # type: ignore[arg-type]  # points: both not None
                          _clip(f"{s.arm} ({s.speedup:.2f}×)", 34)))  # fmt: skip
    middle = left + plot_w / 2
    body.append(_text(middle, top + plot_h + 32, "acceptance rate (accepted / drafted tokens)", "middle", MUTED))
    others = [s.arm for s in speed if s not in points and s.role is not Role.REFERENCE]
    if not points:
        body.append(_text(middle, top + plot_h / 2, "no arm reports speculative acceptance", "middle", MUTED))
    elif others:
        body.append(_text(left, top + plot_h + 50, _clip("no acceptance data: " + ", ".join(others), 90), fill=MUTED))
    rotate = f"transform='rotate(-90 14 {top + plot_h / 2})'"
    body.append(_text(14, top + plot_h / 2, "speedup", "middle", MUTED, rotate))
    return _svg("acceptance", "Acceptance rate against speedup per arm", width, height, body)


CAPTIONS = {
    "forest": "Paired difference per cell against the equivalence margin",
    "identity": "Byte identity and first divergences per cell",
    "divergence-positions": "First-divergence position by class (candidate contrasts)",
    "acceptance": "Acceptance rate against speedup per arm",
}
"""Plot name (``data-plot``, and the file stem ``plots/<name>.svg`` beside report.md) -> caption, in report order."""


def report_plots(result: ScreenResult) -> dict[str, str]:
    """Plot name -> SVG text for every plot of the report, in the order of :data:`CAPTIONS`."""
    return {
        "forest": forest_plot(result.cells, result.thresholds.margin, 1 - 2 * result.thresholds.alpha),
        "identity": identity_plot(result.cells),
        "divergence-positions": divergence_histogram([d for d in result.divergences if d.role is Role.CANDIDATE],
                                                     found=result.divergences_total),
        "acceptance": acceptance_plot(result.speed),
    }


STRIP_COLUMNS = 48
"""Tokens per row of a token strip."""
STRIP_GAP_MAX = 4.0
"""The reference gap (nats) drawn at full colour; larger gaps are drawn the same."""


def gap_colour(gap: float) -> str:
    """The fill of a token by the reference's gap there: white-green at 0 (the reference's own top-1), through
    yellow, to red at :data:`STRIP_GAP_MAX` nats and beyond.

    >>> gap_colour(0.0), gap_colour(4.0), gap_colour(99.0)
    ('#e6f4ea', '#f0a8a0', '#f0a8a0')
    """
    t = max(0.0, min(1.0, gap / STRIP_GAP_MAX))
    start, end = (0xE6, 0xF4, 0xEA), (0xF0, 0xA8, 0xA0)
    return "#" + "".join(f"{round(a + (b - a) * t):02x}" for a, b in zip(start, end))


def token_strip(label: str, token_ids: Sequence[int], tokens: Sequence[str] | None, gaps: Sequence[float],
                classes: Sequence[DivergenceClass | None]) -> str:
    """One completion as a strip of cells, one per token, coloured by the reference's gap at that token
    (:func:`gap_colour`); a near-tie / shift has a blue outline, a leak a thick red outline and a mark above. Each
    cell's ``<title>`` names the position, the token, the gap and the class."""
    cell, pad = 14, 6
    rows = max(1, math.ceil(len(gaps) / STRIP_COLUMNS))
    width, height = pad * 2 + STRIP_COLUMNS * cell, pad + rows * (cell + 6) + 4
    body = []
    for i, (gap, cls) in enumerate(zip(gaps, classes)):
        x, y = pad + (i % STRIP_COLUMNS) * cell, pad + (i // STRIP_COLUMNS) * (cell + 6)
        token = tokens[i] if tokens is not None else f"[id {token_ids[i]}]"
        stroke = ""
        if cls is DivergenceClass.LEAK:
            stroke = f" stroke='{CLASS_COLOURS[DivergenceClass.LEAK]}' stroke-width='2.5' class='leak'"
        elif cls is not None:
            stroke = f" stroke='{CLASS_COLOURS[DivergenceClass.NEAR_TIE]}' stroke-width='1.2'"
        what = "" if cls is None else f", {cls.value}"
        body.append(f"<rect x='{x}' y='{y}' width='{cell - 2}' height='{cell - 2}' fill='{gap_colour(gap)}'{stroke}>"
                    f"<title>{escape(f'token {i} {token!r}: gap {gap:.3f} nats{what}')}</title></rect>")
    return _svg("token-strip", label, width, height, body).replace("<svg ", "<svg class='token-strip' ", 1)
