"""Decoding backends behind the :class:`tais.interfaces.Engine` interface.

Backends (the ``backend`` of an arm) and where they live; each module is imported only when an arm uses it, so heavy
dependencies (torch, vLLM) stay optional:

=============  ===========================================================
``hf``         embedded PyTorch / transformers, with speculative decoding
``vllm``       in-process ``vllm.LLM``
``vllm-server`` ``vllm serve`` started by tais, driven over HTTP
``openai``     any OpenAI-compatible server
``mock``       deterministic text from a table; for tests of the layers above
=============  ===========================================================

Every engine class implements :meth:`tais.interfaces.Engine.from_arm` (``from_arm(arm, *, workdir=None)``), which
validates the arm's ``options`` into the backend's typed options model (:data:`OPTIONS`); the screen config validates
``options`` with the same models when it loads, so a bad value is reported with the file and the arm's key path
before anything runs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tais.errors import ConfigError
from tais.interfaces import Engine
from tais.types import ArmSpec

BACKENDS: dict[str, str] = {
    "hf": "tais.engines.hf.engine:HFEngine",
    "vllm": "tais.engines.vllm.offline:VLLMEngine",
    "vllm-server": "tais.engines.vllm.server:VLLMServerEngine",
    "openai": "tais.engines.openai:OpenAIEngine",
    "mock": "tais.engines.mock:MockEngine",
}

#: each backend's ``options`` model (pydantic, in a module that imports no heavy dependency)
OPTIONS: dict[str, str] = {
    "hf": "tais.engines.hf.options:HFOptions",
    "vllm": "tais.engines.vllm.options:VLLMOptions",
    "vllm-server": "tais.engines.vllm.options:VLLMServerOptions",
    "openai": "tais.engines.openai.options:OpenAIOptions",
    "mock": "tais.engines.mock:MockOptions",
}


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def engine_class(backend: str) -> type[Engine]:
    """The Engine class for a backend name (imports its module)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; known: {', '.join(sorted(BACKENDS))}")
    return _load(BACKENDS[backend])


def options_model(backend: str) -> type[BaseModel]:
    """The pydantic model of a backend's ``options`` (imports only its light options module)."""
    if backend not in OPTIONS:
        raise ConfigError(f"unknown backend {backend!r}; known: {', '.join(sorted(BACKENDS))}")
    return _load(OPTIONS[backend])


def create_engine(arm: ArmSpec, *, workdir: Path | None = None) -> Engine:
    """Build the engine for one arm."""
    return engine_class(arm.backend).from_arm(arm, workdir=workdir)
