"""Calibration of the T > 0 token-level test on the real SmolLM2-135M-Instruct: A/A trials (the reference sampling
at T = 0.8 with other seeds, scored against its own teacher-forced laws by :func:`tais.pipeline.sampled.arm_laws`)
must reject at about the nominal rate, and a positive control (the same engine sampling at T = 0.64, the law of the
double-temperature bug, three replicates of the same prompts pooled: 384 tokens) must be rejected.

Kept small on purpose: 6 A/A trials of 8 prompts x 16 tokens (one replicate = one seed = one trial; all trials in one
batch), so the check is coarse: the rejection count at alpha = 0.05 must lie inside the 99% binomial range of
Binomial(6, 0.05), i.e. at most 2 (expected 0.3); it catches a grossly miscalibrated test (e.g. the half of the trials
rejected by a law built
at the wrong temperature or with the wrong truncation), not a rate of 0.07 instead of 0.05.

Measured (torch CPU, loaded 2-core machine, 2 min 15 s): 0 of 6 A/A trials rejected (768 tokens; theta +0.022,
-0.004, +0.044, -0.056, -0.029, -0.084); positive control theta -0.231 [-0.317, -0.146] (expected -0.25), surprisal
Holm p 5.4e-5.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from scipy.stats import binom

from conftest import SMOLLM2, benign_prompts, chat_requests
from tais.engines.hf.engine import HFEngine
from tais.pipeline.config import SampledModel
from tais.pipeline.run import sampling_for
from tais.pipeline.sampled import arm_laws
from tais.screen.sampled import token_level
from tais.types import ArmSpec, CompletionKey, SamplingParams

SAMPLING = SamplingParams(temperature=0.8, max_tokens=16, logprobs=0, seed=5)
PROMPTS, TRIALS, ALPHA = 8, 6, 0.05
SETTINGS = SampledModel()


def generate(engine, base, replicates, sampling):
    """One batch: every prompt of ``base`` at each replicate (its own seed); completions keyed by (item, replicate)."""
    requests = [replace(r, sampling=sampling_for(sampling, r.item_id, k), replicate=k)
                for k in replicates for r in base]
    return {CompletionKey(c.item_id, c.replicate, ""): c for c in engine.generate_batch(requests)}


def trial(engine, base, completions):
    messages = {r.item_id: r.messages for r in base}
    found = arm_laws(engine, messages, completions, SAMPLING, SETTINGS)
    laws, tokens, clusters, hard, soft, exact = (found.laws, found.tokens, found.clusters, found.hard, found.soft,
                                                 found.exact)
    assert exact and hard == 0 and soft == 0
    return token_level(laws, tokens, clusters, hard_leaks=hard, soft_leaks=soft, theta_margin=0.1, alpha=ALPHA)


@pytest.mark.slow
def test_a_a_rejection_count_is_consistent_with_alpha_and_the_positive_control_is_rejected(smollm2):
    engine = HFEngine.from_arm(ArmSpec(name="ref", backend="hf", model=SMOLLM2, sampling=SAMPLING,
                                       options={"batch_size": PROMPTS * TRIALS}))
    base = chat_requests(benign_prompts()[:PROMPTS], logprobs=0)
    drawn = generate(engine, base, range(TRIALS), SAMPLING)
    results = [trial(engine, base, {k: c for k, c in drawn.items() if k.replicate == r}) for r in range(TRIALS)]
    rejected = sum(t.rejects for t in results)
    allowed = int(binom.ppf(0.99, TRIALS, ALPHA))
    print(f"\nA/A: {rejected} of {TRIALS} trials rejected at alpha {ALPHA} (99% range 0..{allowed}); "
          f"{sum(t.n_tokens for t in results)} tokens; theta "
          + ", ".join(f"{t.theta:+.3f}" for t in results))
    assert rejected <= allowed == 2
    hot = trial(engine, base, generate(engine, base, range(TRIALS, TRIALS + 3), replace(SAMPLING, temperature=0.64)))
    print(f"positive control (sampled at T = 0.64): theta {hot.theta:+.3f} [{hot.theta_low:+.3f}, "
          f"{hot.theta_high:+.3f}], Holm p {hot.p_holm}")
    assert hot.rejects and hot.theta_high < 0
