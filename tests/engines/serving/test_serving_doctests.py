"""The worked examples in the serving modules' docstrings run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "tais.engines.openai.options",
    "tais.engines.openai.retry",
    "tais.engines.openai.wire",
    "tais.engines.openai.loopback",
    "tais.engines.spec_counters",
    "tais.engines.vllm_config",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
