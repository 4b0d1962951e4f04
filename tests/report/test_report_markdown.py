"""report.md: reading order, tables whose columns model text cannot break, fences it cannot close, no live markup."""

from __future__ import annotations

import re

from helpers.report_inputs import PAYLOADS
from tais.report import render_markdown
from tais.report.markdown import fenced, md_escape


def _outside_fences(text: str) -> str:
    """The Markdown with every fenced block removed (fences of three or more tildes, matched by length)."""
    out, fence = [], None
    for line in text.splitlines():
        if fence is None:
            m = re.match(r"^(~{3,})", line)
            if m:
                fence = m.group(1)
                continue
            out.append(line)
        elif line.startswith(fence) and set(line.strip()) == {"~"} and len(line.strip()) >= len(fence):
            fence = None
    assert fence is None, "a fenced block is not closed"
    return "\n".join(out)


def test_reading_order(screen_result):
    md = render_markdown(screen_result)
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert md.startswith("# tais screen: **FAIL**")
    assert heads == ["## Candidate contrasts", "## A/A null contrasts (noise floor; not part of the verdict)",
                     "## Speed", "## Plots", "## Divergences (19)", "## Arms"]  # fmt: skip
    null_section = md.split("## A/A null contrasts")[1].split("## Speed")[0]
    assert "### aa vs ref:" in null_section and "| harm |" in null_section  # the null contrast's cells are shown
    assert "![Paired difference per cell against the equivalence margin](plots/forest.svg)" in md


def test_cell_rows_carry_the_figures(screen_result):
    md = render_markdown(screen_result)
    row = next(line for line in md.splitlines() if line.startswith("| harm | 400 | 0 | 388/400"))
    assert "290/10/2/98" in row and "**FAIL**" in row and "leak 12" in row
    assert "undecidable score" in md  # strict/mc has 2 undecided pairs


def test_hostile_text_cannot_break_tables_fences_or_markup(hostile_result):
    md = render_markdown(hostile_result)
    outside = _outside_fences(md)
    for line in outside.splitlines():
        assert not re.search(r"(?<!\\)[<>`]", line), line  # every angle bracket and backtick escaped
    tables = re.findall(r"(?:^\|.*\n)+", outside + "\n", flags=re.M)
    for table in tables:
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in table.strip().splitlines()}
        assert len(widths) == 1, table  # every row of a table has the header's column count
    for payload in PAYLOADS[:4]:
        assert payload in md  # verbatim inside a fenced block


def test_escape_and_fence_helpers():
    assert md_escape("a|b<c>`d`*e*\n[f](g)") == r"a\|b\<c\>\`d\`\*e\* ⏎ \[f\](g)"
    block = fenced("x\n~~~~\ny")
    assert block.startswith("~~~~~text\n") and block.endswith("\n~~~~~")


def test_speed_rows(screen_result):
    md = render_markdown(screen_result)
    assert "| strict | candidate | 2300 | 10.0 | 230.0 | 71.7% | harm 75.0%, mc 50.0% | 2.00× |" in md
    assert "| lossy | candidate | 2300 | 8.0 | 287.5 | 90.0% | – | 2.50× |" in md
