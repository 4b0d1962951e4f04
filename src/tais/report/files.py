"""Write a screen's reports into a run directory, each file atomically (temp file in the same folder, then rename),
so a reader never sees half a report.

Files: ``evidence.json`` (:mod:`tais.report.evidence`), ``report.md`` (:mod:`tais.report.markdown`) with its plots
as ``plots/<name>.svg``, and ``report.html`` (:mod:`tais.report.html`, plots inline).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from tais.report import svg, sweep
from tais.report.evidence import evidence_json, write_evidence
from tais.report.html import render_html
from tais.report.markdown import render_markdown
from tais.screen.result import ScreenResult


def write_reports(result: ScreenResult, out_dir: Path, divergences: Path | None = None) -> dict[str, Path]:
    """Write every report of ``result`` under ``out_dir`` (created if needed). Returns name -> path for
    ``evidence``, ``markdown``, ``html`` and ``plot:<stem>``. All texts are rendered before the first file is
    written, so a rendering error leaves the directory untouched.

    ``divergences``: a file holding every divergence entry of the evidence
    (:func:`~tais.report.evidence.write_evidence`; ``result.divergences`` then holds only the first of them, for the
    human reports), streamed into ``evidence.json``
    rather than held in memory."""
    out_dir = Path(out_dir)
    texts = {
        "markdown": ("report.md", render_markdown(result)),
        "html": ("report.html", render_html(result)),
    }
    texts.update({f"plot:{stem}": (f"plots/{stem}.svg", body) for stem, body in svg.report_plots(result).items()})
    if result.sweep:
        texts[f"plot:{sweep.PLOT_NAME}"] = (f"plots/{sweep.PLOT_NAME}.svg", sweep.sweep_plot(result))
    written = {"evidence": out_dir / "evidence.json"}
    if divergences is None:
        _write_atomic(written["evidence"], evidence_json(result))
    else:
        with open(divergences, encoding="utf-8", newline="") as entries:
            _write_atomic(written["evidence"], lambda handle: write_evidence(result, handle, entries))
    for name, (relative, text) in texts.items():
        path = out_dir / relative
        _write_atomic(path, text)
        written[name] = path
    return written


def _write_atomic(path: Path, text: str | Callable[[TextIO], None]) -> None:
    """Write ``text`` to a new file beside ``path`` (permissions from the umask, like any other file), flush it to
    disk, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as handle:
            if callable(text):
                text(handle)
            else:
                handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
