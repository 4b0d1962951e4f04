"""Render a ScreenResult as JSON evidence, Markdown and HTML (with inline SVG plots). Pure rendering: never touches
the store or an engine.

``write_reports(result, out_dir)`` writes ``evidence.json``, ``report.md`` (+ ``plots/*.svg``) and ``report.html``;
``evidence_dict``, ``render_markdown`` and ``render_html`` return each one as data or text.
"""

from tais.report.evidence import SCHEMA, evidence_dict, evidence_json
from tais.report.files import write_reports
from tais.report.html import render_html
from tais.report.markdown import render_markdown

__all__ = ["SCHEMA", "evidence_dict", "evidence_json", "render_html", "render_markdown", "write_reports"]
