"""First-divergence forensics: where two completions of the same prompt first differ, and why.

**Position.** The first differing token index, found by the best evidence both sides give:

1. ``token_ids`` on both sides: the first index where the ids differ (``basis="token_ids"``);
2. else per-step logprobs on both sides: the first step whose token differs (by id where both steps carry one,
   else by token text) (``basis="logprob_tokens"``);
3. else the first differing character of the texts (``basis="text"``; the position is a character offset).

When one sequence is a strict prefix of the other, the position is the shorter length (one side stopped).

**Class** (:class:`~tais.types.DivergenceClass`; docs/design.md, "The method": first divergence), from the
reference's top-k at that step and the near-tie threshold tau:

- ``gap`` = reference logprob of its own token - reference logprob of the candidate's token (nats);
- gap < tau: ``near-tie`` (the target holds the two tokens almost equal: a numerical tie);
- gap >= tau, or the candidate's token absent from the reference's top-k: ``leak``;
- no reference logprobs at that step, or the candidate's token unknown: ``unexplained``.

Worked example (tau = 0.1)::

    reference steps: "I"(-0.01)  " can"(-0.70, top: " can" -0.70, " cannot" -0.75, " will" -2.3)
    candidate steps: "I"         " cannot"
    position 1, gap = -0.70 - (-0.75) = 0.05 < 0.1  ->  near-tie
    had the candidate said " will": gap = -0.70 - (-2.3) = 1.6 >= 0.1  ->  leak
    had it said " must" (absent from the top-k)                       ->  leak, gap None
"""

from __future__ import annotations

from dataclasses import dataclass

from tais.types import Completion, DivergenceClass, StepLogprobs

END = "<end>"
"""Shown as the token of a side that has no token at the divergence position (it stopped there)."""


@dataclass(frozen=True)
class DivergenceInfo:
    """Where and why a pair first differs.

    ``position``: token index (character offset for ``basis="text"``); ``char_offset``: length of the common text
    before the divergence (the point where the side-by-side view splits the two texts); ``reference_token`` /
    ``candidate_token``: token text at that position (``"<end>"`` for a side that stopped, ``"[id N]"`` when only
    the id is known, None when unknown); ``reference_top``: the reference's top-k ``(token, logprob)`` there."""

    position: int
    cls: DivergenceClass
    gap: float | None
    reference_token: str | None
    candidate_token: str | None
    reference_top: tuple[tuple[str, float], ...]
    basis: str
    char_offset: int


def first_divergence(reference: Completion, candidate: Completion, tau: float) -> DivergenceInfo | None:
    """The first divergence of ``candidate`` from ``reference``, or None when the pair is identical (same text bytes
    and, where both sides gave them, the same token ids)."""
    same_text = reference.text == candidate.text
    both_ids = reference.token_ids is not None and candidate.token_ids is not None
    if same_text and (not both_ids or tuple(reference.token_ids) == tuple(candidate.token_ids)):  # type: ignore[arg-type]  # both_ids: neither is None
        return None
    if both_ids and tuple(reference.token_ids) != tuple(candidate.token_ids):  # type: ignore[arg-type]  # both_ids: neither is None
        position = _first_difference(reference.token_ids, candidate.token_ids)  # type: ignore[arg-type]  # both_ids: neither is None
        return _classify(reference, candidate, position, "token_ids", tau)
    if reference.logprobs is not None and candidate.logprobs is not None:
        ref_steps = [_step_key(s, t) for s, t in zip(reference.logprobs, candidate.logprobs)]
        if any(a != b for a, b in ref_steps) or len(reference.logprobs) != len(candidate.logprobs):
            position = next((i for i, (a, b) in enumerate(ref_steps) if a != b), len(ref_steps))
            return _classify(reference, candidate, position, "logprob_tokens", tau)
    offset = _common_prefix_length(reference.text, candidate.text)
    return DivergenceInfo(
        position=offset,
        cls=DivergenceClass.UNEXPLAINED,
        gap=None,
        reference_token=reference.text[offset : offset + 1] or END,
        candidate_token=candidate.text[offset : offset + 1] or END,
        reference_top=(),
        basis="text",
        char_offset=offset,
    )


def _step_key(a: StepLogprobs, b: StepLogprobs) -> tuple[object, object]:
    """What identifies the token of two aligned steps: the ids where both have one, else the token texts."""
    if a.token_id is not None and b.token_id is not None:
        return a.token_id, b.token_id
    return a.token, b.token


def _first_difference(a: tuple[int, ...] | list[int], b: tuple[int, ...] | list[int]) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def _common_prefix_length(a: str, b: str) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _token_at(completion: Completion, position: int) -> tuple[str | None, int | None]:
    """(token text, token id) of ``completion`` at ``position``; ``("<end>", None)`` past its last token."""
    steps = completion.logprobs
    ids = completion.token_ids
    length = len(ids) if ids is not None else (len(steps) if steps is not None else 0)
    if position >= length:
        return END, None
    token_id = ids[position] if ids is not None else None
    if steps is not None and position < len(steps):
        step = steps[position]
        return step.token, token_id if token_id is not None else step.token_id
    return None, token_id


def _char_offset(reference: Completion, candidate: Completion, position: int) -> int:
    """Characters of common text before token ``position``: the length of the reference's first ``position`` step
    tokens when they spell a prefix that both texts share, else the texts' common character prefix."""
    common = _common_prefix_length(reference.text, candidate.text)
    if reference.logprobs is not None and position <= len(reference.logprobs):
        spelled = "".join(s.token for s in reference.logprobs[:position])
        if reference.text.startswith(spelled) and len(spelled) <= common:
            return len(spelled)
    return common


def _classify(reference: Completion, candidate: Completion, position: int, basis: str, tau: float) -> DivergenceInfo:
    """Class and gap of a divergence at token ``position`` from the reference's top-k at that step."""
    ref_token, ref_id = _token_at(reference, position)
    cand_token, cand_id = _token_at(candidate, position)
    steps = reference.logprobs or ()
    step = steps[position] if position < len(steps) else None
    top = step.top if step is not None else ()
    if cand_token is None and cand_id is not None:
        cand_token = next((t.token for t in top if t.token_id == cand_id), None)
    cls, gap = DivergenceClass.UNEXPLAINED, None
    if step is not None and top and cand_token != END:
        if cand_id is not None and all(t.token_id is not None for t in top):
            match, known = next((t for t in top if t.token_id == cand_id), None), True
        else:
            match, known = next((t for t in top if t.token == cand_token), None), cand_token is not None
        if known and match is None:
            cls = DivergenceClass.LEAK
        elif match is not None:
            gap = step.logprob - match.logprob
            cls = DivergenceClass.NEAR_TIE if gap < tau else DivergenceClass.LEAK
    return DivergenceInfo(
        position=position,
        cls=cls,
        gap=gap,
        reference_token=_shown(ref_token, ref_id),
        candidate_token=_shown(cand_token, cand_id),
        reference_top=tuple((t.token, t.logprob) for t in top),
        basis=basis,
        char_offset=_char_offset(reference, candidate, position),
    )


def _shown(token: str | None, token_id: int | None) -> str | None:
    """A token as the report shows it: its text, else ``[id N]``, else None (unknown)."""
    if token is not None:
        return token
    return None if token_id is None else f"[id {token_id}]"
