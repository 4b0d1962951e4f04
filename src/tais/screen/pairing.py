"""Pair the completions of two arms by :class:`~tais.types.CompletionKey` and tell whether each pair is identical.

A **pair** joins the reference's and the other arm's completion for the same item and replicate, with both scores.
**Byte identity**: the UTF-8 bytes of the two output texts are equal. **Token identity**: the token ids are equal;
it is only known where both sides gave token ids (``None`` otherwise). A pair is *identical* when its texts are
byte-identical and its token ids, where known on both sides, are equal too. Example::

    >>> from tais.types import Completion
    >>> r = Completion(item_id="t/1", text="No.", token_ids=(5, 6))
    >>> c = Completion(item_id="t/1", text="No.", token_ids=(5, 7))
    >>> bytes_identical(r, c), tokens_identical(r, c)
    (True, False)

Every arm must hold a completion and a score for every key the reference holds (over the battery's items);
anything missing is a ``ValueError`` naming the arm and the first missing key, because a pair silently dropped would
bias the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tais.types import Completion, CompletionKey, Score


@dataclass(frozen=True)
class Pair:
    """The reference's and the other arm's completion (and score) for one ``(item_id, replicate)``."""

    item_id: str
    replicate: int
    reference: Completion
    candidate: Completion
    score_reference: Score
    score_candidate: Score

    @property
    def outcome_reference(self) -> int | None:
        return self.score_reference.outcome

    @property
    def outcome_candidate(self) -> int | None:
        return self.score_candidate.outcome

    @property
    def decided(self) -> bool:
        """Both outcomes are 0/1 (a pair with an undecidable score is left out of the 2x2 table)."""
        return self.outcome_reference is not None and self.outcome_candidate is not None

    @property
    def identical_text(self) -> bool:
        return bytes_identical(self.reference, self.candidate)

    @property
    def identical_tokens(self) -> bool | None:
        return tokens_identical(self.reference, self.candidate)

    @property
    def identical(self) -> bool:
        return self.identical_text and self.identical_tokens is not False


def bytes_identical(reference: Completion, candidate: Completion) -> bool:
    """The two output texts have the same UTF-8 bytes."""
    return reference.text.encode("utf-8", "surrogatepass") == candidate.text.encode("utf-8", "surrogatepass")


def tokens_identical(reference: Completion, candidate: Completion) -> bool | None:
    """The two token-id sequences are equal; None when either side gave no token ids."""
    if reference.token_ids is None or candidate.token_ids is None:
        return None
    return tuple(reference.token_ids) == tuple(candidate.token_ids)


def pair_arm(
    *,
    arm: str,
    keys: Iterable[CompletionKey],
    reference_completions: Mapping[CompletionKey, Completion],
    reference_scores: Mapping[CompletionKey, Score],
    completions: Mapping[CompletionKey, Completion],
    scores: Mapping[CompletionKey, Score],
) -> list[Pair]:
    """Pairs of ``arm`` against the reference for ``keys`` (in the order given).

    Raises ValueError when the arm lacks a completion or either side lacks a score for one of the keys, naming the
    arm, how many keys are missing and the first of them."""
    keys = list(keys)
    for what, mapping, owner in (
        ("completion", completions, arm),
        ("score", scores, arm),
        ("score", reference_scores, "the reference"),
    ):
        missing = [k for k in keys if k not in mapping]
        if missing:
            raise ValueError(
                f"{owner} ({arm} contrast) lacks a {what} for {len(missing)} of {len(keys)} items, "
                f"first {missing[0].item_id!r} replicate {missing[0].replicate}"
            )
    return [
        Pair(
            item_id=k.item_id,
            replicate=k.replicate,
            reference=reference_completions[k],
            candidate=completions[k],
            score_reference=reference_scores[k],
            score_candidate=scores[k],
        )
        for k in keys
    ]


def reference_keys(item_ids: Iterable[str],
                   reference_completions: Mapping[CompletionKey, Completion]) -> list[CompletionKey]:
    """The reference's keys for the given items, in item order then replicate order."""
    by_item: dict[str, list[CompletionKey]] = {}
    for key in reference_completions:
        by_item.setdefault(key.item_id, []).append(key)
    return [k for i in item_ids for k in sorted(by_item.get(i, ()))]
