"""A sane KV-cache size for vLLM arms on the CPU build.

On CPU, vLLM (0.32) reserves ``gpu_memory_utilization`` (default 0.92) of the machine's memory for each engine unless
``kv_cache_memory_bytes`` (or the env ``VLLM_CPU_KVCACHE_SPACE``, in GiB) is set, and refuses to start when that much
is not free: a second or third vLLM arm then fails although one arm needs a small fraction of it. So when the arm sets
neither option (and the env is unset), tais passes ``kv_cache_memory_bytes`` sized for the arm:

    bytes per token = 2 (K and V) x layers x KV heads x head dim x bytes per value, target and draft together;
    size = bytes per token x max_model_len x ``KV_SEQUENCES`` sequences, within [``MIN_BYTES``, a quarter of RAM].

``max_model_len`` is the arm's option, else the model's ``max_position_embeddings``. SmolLM2-135M in float32 (30
layers, 3 KV heads of 64) takes 46,080 bytes a token: with 8192 positions and 4 sequences, 1.5 GB::

    >>> kv_bytes_per_token({"num_hidden_layers": 30, "num_key_value_heads": 3, "hidden_size": 576,
    ...                     "num_attention_heads": 9}, "float32")
    46080
    >>> kv_cache_bytes(46080, max_model_len=8192, total_memory=64 * 2**30)
    1509949440

The size does not enter the arm's fingerprint: it bounds how many sequences run at once, not what each one decodes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KV_SEQUENCES = 4
MIN_BYTES = 512 * 2**20
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
USER_KEYS = ("kv_cache_memory_bytes", "gpu_memory_utilization")
ENV_KEY = "VLLM_CPU_KVCACHE_SPACE"


def kv_bytes_per_token(config: Mapping[str, Any], dtype: str) -> int:
    """KV-cache bytes one token takes in a model with this ``config.json`` at ``dtype`` (``auto``: the config's
    ``torch_dtype``, float32 when unknown)."""
    if dtype == "auto":
        dtype = str(config.get("torch_dtype") or config.get("dtype") or "float32")
    heads = int(config["num_attention_heads"])
    head_dim = int(config.get("head_dim") or int(config["hidden_size"]) // heads)
    kv_heads = int(config.get("num_key_value_heads") or heads)
    return 2 * int(config["num_hidden_layers"]) * kv_heads * head_dim * DTYPE_BYTES.get(dtype, 4)


def kv_cache_bytes(per_token: int, *, max_model_len: int, total_memory: int) -> int:
    """``per_token x max_model_len x KV_SEQUENCES`` within [MIN_BYTES, total_memory / 4]."""
    return int(min(max(per_token * max_model_len * KV_SEQUENCES, MIN_BYTES), total_memory // 4))


def _config(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "config.json").read_text())


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 16 * 2**30


def cpu_kv_cache_default(model: Path, draft: Path | None, dtype: str, engine_args: Mapping[str, Any],
                         *, cpu_build: bool) -> dict[str, Any]:
    """``{"kv_cache_memory_bytes": N}`` for a CPU build when the arm leaves the KV cache to vLLM's default, else
    ``{}`` (a GPU build, an arm that sets either option, or ``VLLM_CPU_KVCACHE_SPACE`` in the environment)."""
    if not cpu_build or any(k in engine_args for k in USER_KEYS) or os.environ.get(ENV_KEY):
        return {}
    try:
        config = _config(model)
        per_token = kv_bytes_per_token(config, dtype)
        if draft is not None:
            per_token += kv_bytes_per_token(_config(draft), dtype)
        max_len = int(engine_args.get("max_model_len") or config.get("max_position_embeddings") or 2048)
    except (OSError, ValueError, KeyError, TypeError):  # an unusual config: leave the choice to vLLM
        return {}
    return {"kv_cache_memory_bytes": kv_cache_bytes(per_token, max_model_len=max_len, total_memory=_total_memory())}


def memory_hint(message: str) -> str:
    """The option to set, for a vLLM error about memory (empty for any other error)."""
    lowered = message.lower()
    if "memory" not in lowered and "kv cache" not in lowered:
        return ""
    return (" (tais: set the arm's options.kv_cache_memory_bytes, e.g. 1000000000, or lower "
            "options.gpu_memory_utilization; on CPU vLLM reserves that fraction of all memory per engine)")
