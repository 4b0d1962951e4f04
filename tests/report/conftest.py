"""Session fixtures of the report tests (built by :mod:`helpers.report_inputs`)."""

from __future__ import annotations

import pytest

from helpers import report_inputs


@pytest.fixture(scope="session")
def screen_result():
    return report_inputs.screen_result()


@pytest.fixture(scope="session")
def hostile_result():
    return report_inputs.hostile_result()
