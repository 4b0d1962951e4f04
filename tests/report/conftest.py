"""Session fixtures of the report tests (built by ``report_inputs``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report_inputs  # noqa: E402


@pytest.fixture(scope="session")
def screen_result():
    return report_inputs.screen_result()


@pytest.fixture(scope="session")
def hostile_result():
    return report_inputs.hostile_result()
