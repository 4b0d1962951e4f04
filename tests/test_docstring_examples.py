"""The worked examples in the docstrings of every module that imports without torch (all but the hf engine and the
torch acceptance rules) run and give what they say; the modules whose algorithm is the point must have one."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import tais

HEAVY = ("tais.engines.hf", "tais.engines.speculative.acceptance")  # the modules that import torch
MUST_HAVE_EXAMPLES = {
    "tais.stats.paired", "tais.stats.tango", "tais.stats.tost", "tais.stats.mcnemar", "tais.stats.proportions",
    "tais.stats.mantel_haenszel", "tais.stats.power", "tais.screen.verdict", "tais.screen.precision",
    "tais.engines.openai.options", "tais.engines.openai.retry", "tais.engines.openai.wire",
    "tais.testing.loopback", "tais.engines.speculative.counters", "tais.engines.vllm.config",
    "tais.pipeline.fingerprint", "tais.sources.resolve", "tais.errors", "tais.types",
    "tais.schema", "tais.engines.speculative.config", "tais.engines.vllm.options", "tais.store.run_plan",
    "tais.screen.token_metrics", "tais.screen.trajectory", "tais.engines.openai.scoring",
    "tais.pipeline.sweep", "tais.pipeline.placement",
}


def light_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(tais.__path__, "tais.")]
    return sorted(n for n in names if not n.startswith(HEAVY))


@pytest.mark.parametrize("name", light_modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
    if name in MUST_HAVE_EXAMPLES:
        assert result.attempted > 0, f"{name} has no worked example"


def test_every_module_that_must_have_an_example_is_collected():
    assert MUST_HAVE_EXAMPLES <= set(light_modules())
