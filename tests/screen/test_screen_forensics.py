"""First-divergence position and class on hand-built completions whose answer is known by construction."""

from __future__ import annotations

import pytest

from tais.screen.forensics import END, first_divergence
from tais.screen.pairing import bytes_identical, tokens_identical
from tais.types import Completion, DivergenceClass, StepLogprobs, TopLogprob

TAU = 0.1


def step(token, logprob, token_id=None, top=()):
    return StepLogprobs(token, logprob, token_id, tuple(TopLogprob(t, lp, i) for t, lp, i in top))


# The worked example of the module docstring: "I can't" vs "I cannot" with the reference's top-3 at step 1.
REF_STEPS = (
    step("I", -0.01, 1, [("I", -0.01, 1), ("Sure", -5.0, 2)]),
    step(" can", -0.70, 3, [(" can", -0.70, 3), (" cannot", -0.75, 4), (" will", -2.30, 5)]),
    step("'t", -0.02, 6, [("'t", -0.02, 6)]),
)
REF = Completion("t/1", "I can't", token_ids=(1, 3, 6), logprobs=REF_STEPS)


def cand(text, ids, steps=None):
    return Completion("t/1", text, token_ids=ids, logprobs=steps)


def test_identical_pairs_have_no_divergence():
    assert first_divergence(REF, cand("I can't", (1, 3, 6)), TAU) is None
    assert first_divergence(REF, Completion("t/1", "I can't"), TAU) is None  # no ids on one side: text decides


def test_near_tie_when_the_gap_is_below_tau():
    info = first_divergence(REF, cand("I cannot", (1, 4)), TAU)
    assert (info.position, info.cls, info.basis) == (1, DivergenceClass.NEAR_TIE, "token_ids")
    assert info.gap == pytest.approx(0.05)  # -0.70 - (-0.75)
    assert (info.reference_token, info.candidate_token) == (" can", " cannot")
    assert info.reference_top == ((" can", -0.70), (" cannot", -0.75), (" will", -2.30))
    assert info.char_offset == 1  # "I" is the common text


def test_leak_when_the_gap_reaches_tau():
    info = first_divergence(REF, cand("I will", (1, 5)), TAU)
    assert (info.cls, info.gap) == (DivergenceClass.LEAK, pytest.approx(1.6))
    assert first_divergence(REF, cand("I will", (1, 5)), 1.61).cls is DivergenceClass.NEAR_TIE


def test_gap_equal_to_tau_is_a_leak():
    steps = (step("a", -0.5, 1, [("a", -0.5, 1), ("b", -0.75, 2)]),)
    info = first_divergence(Completion("t/1", "a", token_ids=(1,), logprobs=steps), cand("b", (2,)), 0.25)
    assert info.gap == 0.25 and info.cls is DivergenceClass.LEAK


def test_candidate_token_absent_from_top_k_is_a_leak_without_gap():
    info = first_divergence(REF, cand("I must", (1, 9)), TAU)
    assert (info.position, info.cls, info.gap) == (1, DivergenceClass.LEAK, None)
    assert info.candidate_token == "[id 9]"


def test_no_reference_logprobs_is_unexplained():
    ref = Completion("t/1", "I can't", token_ids=(1, 3, 6))
    info = first_divergence(ref, cand("I will", (1, 5)), TAU)
    assert (info.position, info.cls, info.gap, info.reference_top) == (1, DivergenceClass.UNEXPLAINED, None, ())


def test_logprob_steps_locate_the_divergence_when_ids_are_missing():
    ref = Completion("t/1", "I can't", logprobs=tuple(step(s.token, s.logprob, None, [(t.token, t.logprob, None)
                                                                                    for t in s.top])
                                                      for s in REF_STEPS))  # fmt: skip
    other = Completion("t/1", "I cannot", logprobs=(step("I", -0.01), step(" cannot", -0.8)))
    info = first_divergence(ref, other, TAU)
    assert (info.position, info.basis, info.cls) == (1, "logprob_tokens", DivergenceClass.NEAR_TIE)
    assert info.gap == pytest.approx(0.05)


def test_text_offset_when_neither_ids_nor_logprobs():
    info = first_divergence(Completion("t/1", "Sorry, no."), Completion("t/1", "Sorry, yes."), TAU)
    assert (info.position, info.basis, info.cls, info.char_offset) == (7, "text", DivergenceClass.UNEXPLAINED, 7)
    assert (info.reference_token, info.candidate_token) == ("n", "y")


def test_a_side_that_stops_early_diverges_at_its_length():
    info = first_divergence(REF, cand("I can", (1, 3)), TAU)
    assert (info.position, info.candidate_token, info.reference_token) == (2, END, "'t")
    assert info.cls is DivergenceClass.UNEXPLAINED
    longer = first_divergence(REF, cand("I can't.", (1, 3, 6, 7)), TAU)
    assert (longer.position, longer.reference_token, longer.cls) == (3, END, DivergenceClass.UNEXPLAINED)


def test_same_text_but_different_token_ids_is_a_divergence():
    info = first_divergence(REF, cand("I can't", (1, 3, 60, 61)), TAU)
    assert info is not None and info.position == 2 and info.basis == "token_ids"


def test_candidate_id_matched_against_top_k_ids_not_text():
    # The candidate's token id 4 is " cannot" in the reference's top-k even though its own step text differs
    # (a backend that decodes tokens differently); the id decides.
    other = cand("I cannot", (1, 4), (step("I", -0.01, 1), step(" can not", -0.9, 4)))
    info = first_divergence(REF, other, TAU)
    assert info.cls is DivergenceClass.NEAR_TIE and info.gap == pytest.approx(0.05)


def test_identity_helpers():
    assert bytes_identical(Completion("t", "é"), Completion("t", "é"))
    assert not bytes_identical(Completion("t", "é"), Completion("t", "e\u0301"))  # same glyph, other bytes
    assert tokens_identical(REF, Completion("t/1", "I can't")) is None
    assert tokens_identical(REF, cand("I can't", (1, 3, 6))) is True
