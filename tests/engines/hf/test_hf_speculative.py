"""Batched speculative decoding on the real SmolLM2-135M-Instruct.

- ``strict`` acceptance is lossless: with every proposer the output equals the reference token for token in float32
  (50 prompts x 64 tokens, batch 25: rows accept different counts in the same verify pass).
- a real draft that differs from the target (SmolLM2 with noise on its MLP weights) is rejected often and strict
  acceptance still reproduces the reference.
- ``typical`` acceptance with an adversarial draft (another system prompt, bias against refusal openings) is lossy:
  the output diverges from the reference on harmful-style prompts (the positive control has teeth); the same draft
  under ``strict`` stays identical.
- bfloat16: the number of prompts whose strict speculative output differs from bfloat16 greedy is reported (35 of 50
  on torch 2.13 CPU), and each first difference must be a near tie of the reference (rounding, not a leak).
"""

from __future__ import annotations

import pytest

from conftest import (
    ADVERSARIAL_SYSTEM_PROMPT,
    HARMFUL_REQUESTS,
    HARMFUL_SYSTEM_PROMPT,
    SMOLLM2,
    benign_prompts,
    chat_requests,
)
from tais.engines.hf.engine import HFEngine
from tais.types import ArmSpec

pytestmark = pytest.mark.slow  # every case runs the real SmolLM2

PROMPTS = benign_prompts()[:50]
BATCH = 25
K = 4


def run(arm: ArmSpec, requests):
    engine = HFEngine.from_arm(arm)
    return [c for s in range(0, len(requests), engine.batch_size)
            for c in engine.generate_batch(requests[s:s + engine.batch_size])]


def arm(speculative=None, *, dtype="float32", draft=None) -> ArmSpec:
    return ArmSpec(name="arm", backend="hf", model=SMOLLM2, dtype=dtype, draft=draft, speculative=speculative or {},
                   options={"batch_size": BATCH})


def first_difference(a, b) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


@pytest.fixture(scope="module")
def requests():
    return chat_requests(PROMPTS, max_tokens=64, logprobs=1)


@pytest.fixture(scope="module")
def reference(smollm2, requests):
    return run(arm(), requests)


@pytest.mark.parametrize("proposer", ["self", "quantized", "ngram", "draft"])
def test_strict_speculative_equals_reference_token_for_token(proposer, reference, requests):
    spec = {"proposer": proposer, "k": K, "acceptance": "strict"}
    out = run(arm(spec, draft=SMOLLM2 if proposer == "draft" else None), requests)
    differing = [c.item_id for c, r in zip(out, reference) if c.token_ids != r.token_ids]
    assert not differing, f"{proposer}: {len(differing)} of {len(out)} differ: {differing}"
    assert sum(c.output_tokens for c in out) >= 50 * 32
    for c, r in zip(out, reference):
        assert c.finish_reason == r.finish_reason and c.text == r.text
        assert [s.logprob for s in c.logprobs] == pytest.approx([s.logprob for s in r.logprobs], abs=1e-3)
        t = c.spec
        assert 0 <= t.accepted <= t.drafted <= K * t.verify_steps
        assert sum(t.accepted_by_position) == t.accepted and len(t.accepted_by_position) == K
        assert list(t.accepted_by_position) == sorted(t.accepted_by_position, reverse=True)
        assert t.verify_steps >= (c.output_tokens - 1) / (K + 1)
    accepted = sum(c.spec.accepted for c in out)
    drafted = sum(c.spec.drafted for c in out)
    print(f"\n{proposer}: acceptance {accepted}/{drafted} = {accepted / drafted:.3f}")
    if proposer in ("self", "draft"):
        assert accepted / drafted > 0.99
    steps = sum(c.spec.verify_steps for c in out)
    assert steps < sum(c.output_tokens for c in out) or proposer == "ngram"


@pytest.fixture(scope="module")
def harmful_requests():
    return chat_requests(HARMFUL_REQUESTS, max_tokens=48, logprobs=1, system_prompt=HARMFUL_SYSTEM_PROMPT,
                         prefix="harmful")


@pytest.fixture(scope="module")
def harmful_reference(smollm2, harmful_requests):
    return run(arm(), harmful_requests)


ADVERSARIAL = {"system_prompt": ADVERSARIAL_SYSTEM_PROMPT, "bias_against_refusal": 8.0}


def test_typical_acceptance_with_adversarial_draft_diverges(harmful_reference, harmful_requests):
    spec = {"proposer": "self", "k": K, "acceptance": "typical", "adversarial": ADVERSARIAL}
    out = run(arm(spec), harmful_requests)
    diverged = [c for c, r in zip(out, harmful_reference) if c.token_ids != r.token_ids]
    print(f"\ntypical + adversarial draft: {len(diverged)} of {len(out)} harmful prompts diverge from the reference")
    assert len(diverged) >= 3 * len(out) // 4  # 16 of 16 on torch 2.13 CPU: a weakened attack shows up here
    openings_changed = sum(c.token_ids[:3] != r.token_ids[:3] for c, r in zip(out, harmful_reference))
    print(f"first three tokens changed on {openings_changed} of {len(out)}")


def test_strict_acceptance_is_lossless_even_with_adversarial_draft(harmful_reference, harmful_requests):
    spec = {"proposer": "self", "k": K, "acceptance": "strict", "adversarial": ADVERSARIAL}
    out = run(arm(spec), harmful_requests)
    assert [c.token_ids for c in out] == [r.token_ids for r in harmful_reference]
    accepted = sum(c.spec.accepted for c in out) / sum(c.spec.drafted for c in out)
    print(f"\nstrict + adversarial draft: acceptance {accepted:.3f}")
    assert accepted < 0.99  # the adversarial draft really proposes other tokens


def test_bfloat16_strict_divergences_are_near_ties():
    requests = chat_requests(PROMPTS, max_tokens=64, logprobs=5)
    reference = run(arm(dtype="bfloat16"), requests)
    out = run(arm({"proposer": "self", "k": K, "acceptance": "strict"}, dtype="bfloat16"), requests)
    gaps = []
    for c, r in zip(out, reference):
        i = first_difference(c.token_ids, r.token_ids)
        if i is None:
            continue
        step = r.logprobs[i]
        candidate_lp = {t.token_id: t.logprob for t in step.top}.get(c.token_ids[i], float("-inf"))
        gaps.append(step.logprob - candidate_lp)
    print(f"\nbfloat16 strict: {len(gaps)} of {len(out)} prompts diverge from bfloat16 greedy; gaps (nats) {gaps}")
    # bfloat16 keeps 8 significant bits: logits in [16, 32) are multiples of 0.125, so a flip caused by rounding
    # alone has a gap of at most two such steps; a leak would show a larger gap or a token outside the top 5.
    assert all(g <= 0.25 + 1e-6 for g in gaps), gaps


@pytest.fixture(scope="module")
def perturbed_draft(smollm2, tmp_path_factory):
    """A real draft that disagrees with the target: SmolLM2 with Gaussian noise (std 0.02, seeded) added to the MLP
    weights of every layer, saved as its own model folder (same tokenizer): :mod:`tais.testing.drafts`' ``noisy``."""
    from tais.testing.drafts import DraftRecipe, write_draft

    folder = tmp_path_factory.mktemp("perturbed-draft") / "smollm2-noisy"
    return write_draft(SMOLLM2, folder, DraftRecipe.of("noisy", 0.02))


def test_strict_speculative_with_a_perturbed_draft_rejects_yet_equals_the_reference(perturbed_draft):
    """The ``draft`` proposer with a draft that really differs from the target: rejections happen (acceptance < 1)
    and strict acceptance still reproduces the reference token for token."""
    requests = chat_requests(PROMPTS[:10], max_tokens=32, logprobs=1)
    reference = run(arm(), requests)
    out = run(arm({"proposer": "draft", "k": K, "acceptance": "strict"}, draft=perturbed_draft), requests)
    assert [c.token_ids for c in out] == [r.token_ids for r in reference]
    accepted = sum(c.spec.accepted for c in out)
    drafted = sum(c.spec.drafted for c in out)
    print(f"\nperturbed draft: acceptance {accepted}/{drafted} = {accepted / drafted:.3f}")
    assert 0.05 < accepted / drafted < 0.95
