"""Token origins recorded by hf's speculative decoders on the real SmolLM2-135M-Instruct (float32, CPU): every token
has one (target, accepted at slot j, recovered at slot j, bonus), draft rounds read off the origins are well formed
(slots 1 .. k in order, a recovered or bonus token ends a round, bonus at slot proposed + 1) and agree with the
telemetry the decoder already counts (verify steps, accepted by position; a round cut by a stop counted whole there).
Speculative sampling at T = 0.8 with the int8 quantized target as drafter (about 30% acceptance, so every kind
occurs), the same with the planted bug ``resample_from_target`` and with prompt lookup (rounds without a proposal);
greedy speculative decoding, whose tokens are target-only greedy decoding's; target-only decoding records none."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from conftest import SMOLLM2, benign_prompts, chat_requests
from tais.engines.hf.engine import HFEngine
from tais.types import ArmSpec, Completion, OriginKind, SamplingParams, TokenOrigin

SAMPLING = SamplingParams(temperature=0.8, top_p=0.95, top_k=50, max_tokens=16, logprobs=0, seed=3)
GREEDY = replace(SAMPLING, temperature=0.0, top_p=1.0, top_k=0)
K = 3


def run(speculative: dict | None, sampling: SamplingParams) -> list[Completion]:
    arm = ArmSpec(name="arm", backend="hf", model=SMOLLM2, speculative=speculative or {}, sampling=sampling,
                  options={"batch_size": 6})
    requests = [replace(r, sampling=sampling) for r in chat_requests(benign_prompts()[:6], logprobs=0)]
    engine = HFEngine.from_arm(arm)
    try:
        return engine.generate_batch(requests)
    finally:
        engine.close()


def rounds(c: Completion, k: int) -> tuple[Counter, int, int | None]:
    """Check one completion's origins round by round; returns (accepted per slot, rounds ended, the slot a stop cut
    the last round after, None when it ended whole)."""
    assert c.origins is not None and len(c.origins) == len(c.token_ids) == c.output_tokens
    origins = [TokenOrigin.of(code) for code in c.origins]
    assert origins[0] == TokenOrigin(OriginKind.TARGET), "the prefill token is the target's"
    accepted: Counter = Counter()
    ended, slot = 0, 1  # ``slot``: where the next token sits in its round
    for o in origins[1:]:
        if o.kind is OriginKind.TARGET:  # a round without a proposal
            assert slot == 1
        else:
            assert o.slot == slot, (c.item_id, c.origins)
            assert o.slot <= k + (o.kind is OriginKind.BONUS)
        if o.kind is OriginKind.ACCEPTED:
            accepted[o.slot] += 1
            slot += 1
        else:  # recovered, bonus or target: the round ends
            ended += 1
            slot = 1
    return accepted, ended, None if slot == 1 else slot - 1


def check_against_telemetry(out: list[Completion], k: int, *, full_rounds: bool) -> Counter:
    kinds: Counter = Counter()
    for c in out:
        accepted, ended, cut = rounds(c, k)
        kinds.update(TokenOrigin.of(code).kind for code in c.origins)
        by_position = dict(enumerate(c.spec.accepted_by_position, start=1))
        if cut is None:  # every round whole: the telemetry's counts are the origins'
            assert c.spec.verify_steps == ended
            assert all(by_position[j] == accepted[j] for j in by_position), (c.origins, c.spec)
        else:  # a stop after the accepted draft at slot ``cut``: that round's later accepted drafts were discarded
            assert c.finish_reason in ("stop", "length") and c.spec.verify_steps == ended + 1
            extra = [by_position[j] - accepted[j] for j in sorted(by_position)]
            assert extra[:cut] == [0] * cut and set(extra) <= {0, 1}
            assert extra[cut:] == sorted(extra[cut:], reverse=True)  # slots cut + 1 .. a of the cut round
        assert c.spec.accepted == sum(c.spec.accepted_by_position)
        if full_rounds:  # a model proposer drafts k every round
            assert c.spec.drafted == k * c.spec.verify_steps
    return kinds


@pytest.fixture(scope="module")
def lossless(smollm2) -> list[Completion]:
    return run({"proposer": "quantized", "k": K}, SAMPLING)


@pytest.mark.parametrize("bug", [None, "resample_from_target"])
def test_speculative_sampling_origins_agree_with_the_telemetry(lossless, bug):
    out = lossless if bug is None else run({"proposer": "quantized", "k": K, "planted_bug": bug}, SAMPLING)
    if bug is not None:  # the bug acts (on the recovered tokens, and so on what follows them)
        assert sum(a.origins != b.origins for a, b in zip(out, lossless)) >= 3
    kinds = check_against_telemetry(out, K, full_rounds=True)
    print(f"\nquantized k={K}, T=0.8, bug {bug}: {dict(kinds)}")
    assert kinds[OriginKind.ACCEPTED] > 0 and kinds[OriginKind.RECOVERED] > 0
    assert kinds[OriginKind.TARGET] == len(out)  # the prefill token only: the model proposer always proposes
    assert sum(kinds.values()) == sum(c.output_tokens for c in out)


def test_prompt_lookup_rounds_without_a_proposal_are_target_tokens(smollm2):
    out = run({"proposer": "ngram", "k": K}, SAMPLING)
    kinds = check_against_telemetry(out, K, full_rounds=False)
    print(f"\nngram k={K}, T=0.8: {dict(kinds)}")
    assert kinds[OriginKind.TARGET] > len(out)  # rounds where prompt lookup found nothing


def test_greedy_speculative_origins_and_target_only_records_none(smollm2):
    out = run({"proposer": "quantized", "k": K}, GREEDY)
    kinds = check_against_telemetry(out, K, full_rounds=True)
    print(f"\nquantized k={K}, T=0: {dict(kinds)}")
    assert kinds[OriginKind.RECOVERED] > 0 and kinds[OriginKind.ACCEPTED] > 0
    target = run(None, GREEDY)
    assert [c.token_ids for c in out] == [c.token_ids for c in target]  # lossless at T = 0 (the positive match)
    assert all(c.origins is None for c in target) and all(c.origins is None for c in run(None, SAMPLING))
    restored = Completion.from_dict(out[0].to_dict())
    assert restored == out[0] and "origins" not in target[0].to_dict()
