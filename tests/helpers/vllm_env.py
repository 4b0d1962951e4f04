"""The environment every test that starts vLLM on the CPU runs it in: the CPU target, a 1 GiB KV cache, and vLLM's,
inductor's and Hugging Face's caches, RPC sockets and temporary files in folders of the test's own (so runs never
share state with each other or with the user's home)."""

from __future__ import annotations

from pathlib import Path

_FOLDERS = (("VLLM_CACHE_ROOT", "vllm-cache"), ("VLLM_RPC_BASE_PATH", "rpc"), ("TORCHINDUCTOR_CACHE_DIR", "inductor"),
            ("HF_HOME", "hf"), ("TMPDIR", "tmp"))


def vllm_cpu_env(root: Path) -> dict[str, str]:
    """The variables to set, with their folders made under ``root``."""
    env = {"VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": "1"}
    for var, sub in _FOLDERS:
        (root / sub).mkdir()
        env[var] = str(root / sub)
    return env
