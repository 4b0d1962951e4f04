"""The worked examples in the docstrings of the statistics and verdict modules run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["tais.stats.paired", "tais.stats.tango", "tais.stats.tost", "tais.stats.mcnemar", "tais.stats.proportions",
           "tais.stats.mantel_haenszel", "tais.stats.power", "tais.screen.verdict"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no worked example"
    assert result.failed == 0
