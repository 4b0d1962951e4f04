"""Logit bias for an adversarial draft (a positive control): what the draft is pushed towards is what a lossy
acceptance rule lets leak into the output.

- ``logit_bias`` maps a text to a bias; the bias goes to the first token of the text, written both as is and after
  a space (``"Sure"`` and ``" Sure"`` are different tokens).
- ``bias_against_refusal`` (>= 0) is subtracted from the first tokens of common refusal openings
  (:data:`REFUSAL_OPENINGS`), so that a draft steers away from refusing.

    >>> sorted(REFUSAL_OPENINGS)[:3]
    ['Apologies', 'As', 'I']
"""

from __future__ import annotations

from typing import Any

import torch

from tais.engines.speculative.config import AdversarialDraft

REFUSAL_OPENINGS = frozenset({
    "I", "I'm", "Sorry", "Unfortunately", "As", "Apologies", "cannot", "can't", "unable", "not", "refuse",
    "sorry", "illegal", "harmful", "unethical", "No",
})


def first_token_ids(tokenizer: Any, text: str) -> set[int]:
    """The first token id of ``text`` and of ``" " + text``."""
    ids = set()
    for variant in (text, " " + text):
        encoded = tokenizer(variant, add_special_tokens=False)["input_ids"]
        if encoded:
            ids.add(int(encoded[0]))
    return ids


def draft_logit_bias(adversarial: AdversarialDraft, tokenizer: Any, vocab_size: int) -> torch.Tensor | None:
    """The bias vector (vocab,) to add to the draft's logits, or None when there is none."""
    if not adversarial.logit_bias and adversarial.bias_against_refusal == 0:
        return None
    bias = torch.zeros(vocab_size, dtype=torch.float32)
    for text, value in adversarial.logit_bias:
        for i in first_token_ids(tokenizer, text):
            if i < vocab_size:
                bias[i] += value
    if adversarial.bias_against_refusal:
        refusal_ids = set().union(*(first_token_ids(tokenizer, text) for text in REFUSAL_OPENINGS))
        for i in sorted(refusal_ids):
            if i < vocab_size:
                bias[i] -= adversarial.bias_against_refusal
    return bias
