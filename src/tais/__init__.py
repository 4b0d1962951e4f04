"""tais: screen a change to an LLM decoding stack for changes in safety behaviour, with paired statistics.

``import tais`` is light: torch, transformers and vLLM are imported only by the engine that needs them.

The Python API (loaded on first use, from :mod:`tais.pipeline.api`)::

    import tais
    result = tais.run_screen("screen.yaml")    # run or resume a screen -> ScreenResult
    tais.assert_screen_passes(result)          # AssertionError naming every cell that did not pass

``tais.screen`` is the package of the screen layer (pairing, forensics, cells, verdict policy), nothing else.
``__all__`` is the whole public API (a test holds it to that); every other module-level name here is private.
"""

import importlib as _importlib

__version__ = "0.1.0"

__all__ = ["__version__", "run_screen", "assert_screen_passes"]

_API = "tais.pipeline.api"
_LAZY = ("run_screen", "assert_screen_passes")


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(_importlib.import_module(_API), name)
    raise AttributeError(f"module 'tais' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
