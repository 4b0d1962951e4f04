"""The KV-cache default of CPU vLLM arms (no vLLM engine is started: the sizing reads the model's config.json)."""

from __future__ import annotations

import json

import pytest

from tais.engines.vllm.kv_cache import MIN_BYTES, cpu_kv_cache_default, kv_bytes_per_token, memory_hint

SMOLLM2_CONFIG = {"num_hidden_layers": 30, "num_key_value_heads": 3, "num_attention_heads": 9, "hidden_size": 576,
                  "max_position_embeddings": 8192, "torch_dtype": "bfloat16"}


@pytest.fixture
def model(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SMOLLM2_CONFIG))
    return tmp_path


def test_kv_bytes_per_token_by_hand():
    # 2 (K, V) x 30 layers x 3 KV heads x 64 dims (576 / 9) x 2 bytes
    assert kv_bytes_per_token(SMOLLM2_CONFIG, "bfloat16") == 2 * 30 * 3 * 64 * 2
    assert kv_bytes_per_token(SMOLLM2_CONFIG, "auto") == 2 * 30 * 3 * 64 * 2  # the config's torch_dtype
    assert kv_bytes_per_token({**SMOLLM2_CONFIG, "head_dim": 32}, "float32") == 2 * 30 * 3 * 32 * 4


def test_a_cpu_arm_without_kv_options_gets_a_size_for_its_model_len(model, monkeypatch):
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    got = cpu_kv_cache_default(model, None, "float32", {"max_model_len": 4096}, cpu_build=True)
    assert got == {"kv_cache_memory_bytes": 2 * 30 * 3 * 64 * 4 * 4096 * 4}
    with_draft = cpu_kv_cache_default(model, model, "float32", {"max_model_len": 4096}, cpu_build=True)
    assert with_draft["kv_cache_memory_bytes"] == 2 * got["kv_cache_memory_bytes"]
    small = cpu_kv_cache_default(model, None, "float32", {"max_model_len": 16}, cpu_build=True)
    assert small == {"kv_cache_memory_bytes": MIN_BYTES}


@pytest.mark.parametrize("args, env, cpu", [({"kv_cache_memory_bytes": 10**9}, None, True),
                                            ({"gpu_memory_utilization": 0.3}, None, True),
                                            ({}, "4", True), ({}, None, False)])
def test_the_arm_the_env_or_a_gpu_build_keep_their_own_choice(model, monkeypatch, args, env, cpu):
    if env is None:
        monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    else:
        monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", env)
    assert cpu_kv_cache_default(model, None, "float32", args, cpu_build=cpu) == {}


def test_a_memory_error_names_the_option_to_set():
    message = ("Available memory on node 0 (3.1/15.5 GiB) on startup is less than desired CPU memory utilization "
               "(0.92, 14.3 GiB).")
    assert "options.kv_cache_memory_bytes" in memory_hint(message)
    assert memory_hint("unrecognized arguments: --foo") == ""
