"""tais: screen a change to an LLM decoding stack for changes in safety behaviour, with paired statistics.

``import tais`` is light: torch, transformers and vLLM are imported only by the engine that needs them.

The Python API (loaded on first use, from :mod:`tais.pipeline.api`)::

    import tais
    result = tais.screen("screen.yaml")        # run or resume a screen -> ScreenResult
    tais.assert_screen_passes(result)          # AssertionError naming every cell that did not pass

``tais.screen`` is also the package of the screen layer (``tais.screen.analyse``); calling it runs a screen.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType as _ModuleType  # not `import types`: the sub-module tais.types would shadow it
from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "screen", "assert_screen_passes"]

_API = "tais.pipeline.api"


class _CallableScreenPackage(_ModuleType):
    """The ``tais.screen`` package, made callable: ``tais.screen(config, ...)`` runs :func:`tais.pipeline.api.screen`."""

    def __call__(self, config: Any, **kwargs: Any) -> Any:
        return importlib.import_module(_API).screen(config, **kwargs)


class _TaisPackage(_ModuleType):
    """``tais`` itself: when the import system binds the ``tais.screen`` sub-package here, make it callable."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "screen" and type(value) is _ModuleType:
            value.__class__ = _CallableScreenPackage
        super().__setattr__(name, value)


def __getattr__(name: str) -> Any:
    if name == "screen":
        return importlib.import_module("tais.screen")
    if name == "assert_screen_passes":
        return importlib.import_module(_API).assert_screen_passes
    raise AttributeError(f"module 'tais' has no attribute {name!r}")


sys.modules[__name__].__class__ = _TaisPackage
