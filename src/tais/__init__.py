"""tais: screen a change to an LLM decoding stack for changes in safety behaviour, with paired statistics.

``import tais`` is light: torch, transformers and vLLM are imported only by the engine that needs them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
