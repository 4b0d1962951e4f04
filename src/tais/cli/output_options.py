"""The output options of ``tais run`` and ``tais screen`` (kept apart from the renderer so that building the parser
imports nothing heavy)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--quiet``, ``--json`` and ``--junit FILE``: what ``tais run`` and ``tais screen`` print, for CI."""
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars and no tables: only the verdict line (errors still go to stderr)")
    parser.add_argument("--json", action="store_true", dest="as_json",
                        help="print the verdict table as JSON on stdout (and nothing else there)")
    parser.add_argument("--junit", type=Path, default=None, metavar="FILE",
                        help="write JUnit XML: one test case per cell, a failure (with the reasons) per cell "
                             "that is not PASS")
