"""The sweep view: one row per grid point of a config's ``sweep:`` with its verdict and speed, as a Markdown table,
an HTML table and one inline SVG plot (speedup per grid point, coloured by verdict; no script).

A grid point's verdict is that of its arm's candidate cells together (:func:`tais.screen.verdict.decide_screen`:
FAIL if any cell fails, PASS only if every cell passes); ``identical`` is the share of its pairs whose texts are
byte-identical to the reference's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from tais.report.svg import GRID, MUTED, VERDICT_COLOURS, _clip, _svg, _text
from tais.screen.result import ScreenResult
from tais.screen.verdict import decide_screen
from tais.types import Verdict

PLOT_NAME = "sweep"
CAPTION = "Speedup over the reference per sweep grid point, coloured by verdict"


@dataclass(frozen=True)
class SweepRow:
    """One grid point as the report shows it."""

    arm: str
    settings: tuple[tuple[str, Any], ...]
    verdict: Verdict
    identical: float | None
    tokens_per_s: float | None
    speedup: float | None


def sweep_rows(result: ScreenResult) -> list[SweepRow]:
    """The rows of the sweep view, in grid order (empty when the screen has no sweep)."""
    speed = {s.arm: s for s in result.speed}
    rows = []
    for point in result.sweep:
        cells = [c for c in result.candidate_cells if c.candidate == point.arm]
        pairs = sum(c.pairs for c in cells)
        s = speed.get(point.arm)
        rows.append(SweepRow(point.arm, point.point, decide_screen(c.verdict for c in cells),
                             sum(c.identical_text for c in cells) / pairs if pairs else None,
                             None if s is None else s.tokens_per_s, None if s is None else s.speedup))
    return rows


def _keys(rows: Sequence[SweepRow]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k, _ in r.settings))


def _cells(row: SweepRow, keys: Sequence[str]) -> list[str]:
    settings = dict(row.settings)
    return [row.arm, *(str(settings.get(k, "–")) for k in keys), row.verdict.value,
            "–" if row.identical is None else f"{row.identical:.0%}",
            "–" if row.tokens_per_s is None else f"{row.tokens_per_s:.1f}",
            "–" if row.speedup is None else f"{row.speedup:.2f}×"]


def sweep_markdown(result: ScreenResult, escape_md: Callable[[object], str]) -> str:
    """The sweep section of report.md (empty string without a sweep); the plot is ``plots/sweep.svg``."""
    rows = sweep_rows(result)
    if not rows:
        return ""
    keys = _keys(rows)
    header = ["arm", *keys, "verdict", "identical", "tokens/s", "speedup"]
    lines = ["| " + " | ".join(escape_md(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape_md(c) for c in _cells(r, keys)) + " |" for r in rows]
    return "## Sweep\n\n" + "\n".join(lines) + f"\n\n![{CAPTION}](plots/{PLOT_NAME}.svg)\n"


def sweep_html(result: ScreenResult) -> str:
    """The sweep section of report.html (empty string without a sweep), with the plot inline."""
    rows = sweep_rows(result)
    if not rows:
        return ""
    keys = _keys(rows)
    head = "".join(f"<th>{escape(h)}</th>" for h in ["arm", *keys, "verdict", "identical", "tokens/s", "speedup"])
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in _cells(r, keys)) + "</tr>" for r in rows)
    return (f"<h2>Sweep</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<figure><figcaption>{escape(CAPTION)}</figcaption>{sweep_plot(result)}</figure>")


def sweep_plot(result: ScreenResult) -> str:
    """One bar per grid point: its speedup over the reference (dashed line: 1.0×), in its verdict's colour."""
    rows = sweep_rows(result)
    left, top, plot_h, bar_w, gap = 50, 20, 200, 28, 14
    plot_w = max(len(rows), 1) * (bar_w + gap) + gap
    width, height = left + plot_w + 20, top + plot_h + 130
    y_max = max([r.speedup or 0.0 for r in rows] + [1.0]) * 1.2

    def y(v: float) -> float:
        return top + plot_h - v / y_max * plot_h

    body = [f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' stroke='{GRID}'/>",
            f"<line x1='{left}' x2='{left + plot_w}' y1='{y(1):.1f}' y2='{y(1):.1f}' stroke='{MUTED}' "
            "stroke-dasharray='3 3'/>"]
    for k in range(0, int(y_max) + 1):
        body.append(_text(left - 6, y(k) + 4, f"{k}×", "end", MUTED))
    for i, row in enumerate(rows):
        x = left + gap + i * (bar_w + gap)
        colour = VERDICT_COLOURS[row.verdict]
        if row.speedup is not None:
            body.append(f"<rect x='{x}' y='{y(row.speedup):.1f}' width='{bar_w}' "
                        f"height='{top + plot_h - y(row.speedup):.1f}' fill='{colour}'>"
                        f"<title>{escape(f'{row.arm}: {row.verdict.value}, {row.speedup:.2f}×')}</title></rect>")
        label = ",".join(str(v) for _, v in row.settings)
        cx, cy = x + bar_w / 2, top + plot_h + 10
        body.append(_text(cx, cy, _clip(label, 18), "end", MUTED, f"transform='rotate(-60 {cx:.1f} {cy:.1f})'"))
    keys = ", ".join(_keys(rows))
    body.append(_text(left, height - 6, _clip(f"grid: {keys}; colour: verdict", 90), fill=MUTED))
    return _svg(PLOT_NAME, "Speedup per sweep grid point", width, height, body)
