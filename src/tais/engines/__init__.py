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

Every engine class has ``from_arm(arm: ArmSpec, *, workdir: Path | None = None) -> Engine``; ``workdir`` is a folder
of the run directory where the engine may keep logs (a started server's output, say); it never enters the
fingerprint.
"""

from __future__ import annotations

import importlib
from pathlib import Path

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


def engine_class(backend: str) -> type[Engine]:
    """The Engine class for a backend name (imports its module)."""
    try:
        target = BACKENDS[backend]
    except KeyError:
        raise ConfigError(f"unknown backend {backend!r}; known: {', '.join(sorted(BACKENDS))}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def create_engine(arm: ArmSpec, *, workdir: Path | None = None) -> Engine:
    """Build the engine for one arm."""
    return engine_class(arm.backend).from_arm(arm, workdir=workdir)  # type: ignore[attr-defined]
