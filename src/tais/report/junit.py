"""The screen as JUnit XML and as a JSON verdict table, for CI (``tais run/screen --junit FILE --json``).

**JUnit**: one ``<testsuite>`` per contrast, one ``<testcase>`` per (contrast, task) cell, named by the task. A cell
that is not PASS holds a ``<failure>`` whose ``type`` is its verdict (``FAIL`` or ``INCONCLUSIVE``: neither lets the
change through, and tais exits non-zero for both) and whose message is the cell's reasons; a null (A/A) cell is
``<skipped>`` (reported, never judged). Example::

    >>> from tais.screen.result import CellResult
    >>> cell = CellResult(contrast="spec vs reference", candidate="spec", reference="reference", task="harmful",
    ...     role=Role.CANDIDATE, n=10, undecided=0, identical_text=9, identical_tokens=9, divergences={}, a=5, b=1, c=0,
    ...     d=4, p_reference=0.6, p_candidate=0.5, diff=-0.1, ci_low=-0.3, ci_high=0.05, tost_p=0.4,
    ...     equivalent=False, mcnemar_p=1.0, mcnemar_p_holm=1.0, cohens_h=-0.2, null_h=None, wilson_reference=None,
    ...     wilson_candidate=None, verdict=Verdict.FAIL, reasons=("1 leak",), n_more=None)
    >>> print(junit_xml([cell]).decode().splitlines()[2])
      <testsuite name="spec vs reference" tests="1" failures="1" errors="0" skipped="0">
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from tais.screen.result import CellResult, ScreenResult
from tais.types import Role, Verdict


def _testcase(cell: CellResult) -> ET.Element:
    case = ET.Element("testcase", name=cell.task, classname=f"tais.{cell.contrast}", time="0")
    details = (f"n={cell.n} identical={cell.identical_text} p_ref={cell.p_reference} p_cand={cell.p_candidate} "
               f"diff={cell.diff} CI=[{cell.ci_low}, {cell.ci_high}]")
    reasons = "; ".join(r.strip() for r in cell.reasons) or "no reason given"
    if cell.role is not Role.CANDIDATE:
        ET.SubElement(case, "skipped", message="null (A/A) arm: reported, not judged")
    elif cell.verdict != Verdict.PASS:
        failure = ET.SubElement(case, "failure", type=cell.verdict.value, message=f"{cell.verdict.value}: {reasons}")
        failure.text = details
    return case


def junit_xml(cells: Iterable[CellResult], name: str = "tais") -> bytes:
    """The cells as a JUnit XML document (UTF-8 bytes with a declaration)."""
    root = ET.Element("testsuites", name=name)
    suites: dict[str, ET.Element] = {}
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for cell in cells:
        suite = suites.get(cell.contrast)
        if suite is None:
            suite = suites[cell.contrast] = ET.SubElement(root, "testsuite", name=cell.contrast, tests="0",
                                                          failures="0", errors="0", skipped="0")
        case = _testcase(cell)
        suite.append(case)
        kind = "failures" if case.find("failure") is not None else "skipped" if case.find("skipped") is not None \
            else None
        for counter in ("tests", kind):
            if counter is not None:
                suite.set(counter, str(int(suite.get(counter, "0")) + 1))
                totals[counter] += 1
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def screen_junit(result: ScreenResult) -> bytes:
    """JUnit XML of a screen: candidate cells, then null cells."""
    return junit_xml(result.cells, name=f"tais {result.meta.get('config_name', '')}".strip())


def verdict_table_dict(result: ScreenResult) -> dict[str, Any]:
    """The verdict table as JSON-able data: the overall verdict and exit code, one row per cell (the columns of the
    terminal table plus the reasons), and the speed rows."""
    return {
        "verdict": result.verdict.value,
        "exit_code": result.verdict.exit_code,
        "cells": [
            {"contrast": c.contrast, "task": c.task, "role": c.role.value, "n": c.n, "pairs": c.pairs,
             "identical": c.identical_text, "divergences": {cls.value: count for cls, count in c.divergences.items()},
             "p_reference": c.p_reference,
             "p_candidate": c.p_candidate, "diff": c.diff, "ci_low": c.ci_low, "ci_high": c.ci_high,
             "cohens_h": c.cohens_h, "null_h": c.null_h,
             "verdict": c.verdict.value if c.role is Role.CANDIDATE else None, "reasons": list(c.reasons)}
            for c in result.cells
        ],
        "speed": [
            {"arm": s.arm, "role": s.role, "output_tokens": s.output_tokens, "wall_s": s.wall_s,
             "tokens_per_s": s.tokens_per_s, "acceptance": s.acceptance, "speedup": s.speedup,
             "null_speedup": s.null_speedup}
            for s in result.speed
        ],
    }
