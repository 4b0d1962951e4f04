"""Proposers: where the draft tokens of each verify step come from.

Every proposer serves a batch of rows and is told, at each step, each active row's committed output tokens
(the last of which the target has not seen yet); it returns ``drafts`` (rows, k) and ``proposed`` (rows,), the
number of real proposals in each row (slots past it are padding the acceptance rule never accepts).

- :class:`ModelProposer`: a language model decoding greedily with its own KV cache. It is the ``draft`` proposer
  (a smaller model sharing the tokenizer), the ``quantized`` proposer (an int8 copy of the target, see
  :mod:`tais.engines.hf.quantized`) and the ``self`` proposer (the target itself, acceptance ~100%).
  An adversarial draft sees another system prompt and/or adds a logit bias.
- :class:`NgramProposer`: prompt lookup. The longest suffix of the row's tokens (max_n down to min_n) that occurred
  earlier in prompt + output proposes the k tokens that followed its most recent earlier occurrence. Example,
  max_n = 2, k = 3::

      tokens  a b c d e a b      suffix "a b" occurred at 0  ->  propose c d e

A model proposer keeps, per row, the output tokens it has fed to its cache. At each step it keeps the longest
common prefix with the committed tokens, turns the rest into holes (:meth:`SequenceCache.drop_last`), feeds the
missing committed tokens (one or two per row, right-aligned, with holes on the left of shorter rows), then decodes k
tokens one at a time.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any

import torch

from tais.engines.hf.adversarial import draft_logit_bias
from tais.engines.hf.chat import prompt_token_ids
from tais.engines.hf.loading import LoadedModel
from tais.engines.hf.rows import RowState, left_padded
from tais.engines.hf.sequence_cache import SequenceCache
from tais.engines.speculative.config import SpeculativeConfig


class Proposer(abc.ABC):
    """Proposes k draft tokens per active row at each verify step."""

    @abc.abstractmethod
    def start(self, rows: Sequence[RowState]) -> None:
        """Begin a batch (its rows' prompts are known; nothing is committed yet)."""

    @abc.abstractmethod
    def propose(self, committed: Sequence[Sequence[int]], k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(drafts (rows, k), proposed (rows,))`` for the active rows, given each row's committed output tokens."""

    @abc.abstractmethod
    def select_rows(self, rows: torch.Tensor) -> None:
        """Keep only these rows (indices into the current active rows), in that order."""


class ModelProposer(Proposer):
    """Greedy drafts from ``model`` (which shares the target's tokenizer)."""

    def __init__(self, model: Any, tokenizer: Any, *, pad_id: int, system_prompt: str | None = None,
                 logit_bias: torch.Tensor | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.pad_id = pad_id
        self.system_prompt = system_prompt
        self.logit_bias = logit_bias
        self.cache: SequenceCache | None = None
        self.fed: list[list[int]] = []
        self.picker: Callable[[torch.Tensor], torch.Tensor] | None = None

    def start(self, rows: Sequence[RowState]) -> None:
        if self.system_prompt is None:
            prompts = [r.prompt_ids for r in rows]
        else:
            prompts = [prompt_token_ids(self.tokenizer, r.request, system_prompt=self.system_prompt) for r in rows]
        tokens, valid = left_padded(prompts, self.pad_id)
        self.cache = SequenceCache(self.model, len(rows))
        self.cache.feed(tokens, valid, last=1)
        self.fed = [[] for _ in rows]
        if self.logit_bias is not None:
            self.logit_bias = self.logit_bias.to(self.cache.device)

    def _pick(self, logits: torch.Tensor) -> torch.Tensor:
        """The draft token of each row from its logits [rows, vocab]: the argmax, or ``picker``'s choice (a draft
        sampler at temperature > 0, :class:`tais.engines.hf.sampling.DraftSampler`), after any logit bias."""
        if self.logit_bias is not None:
            logits = logits.float() + self.logit_bias[: logits.shape[-1]]
        if self.picker is not None:
            return self.picker(logits)
        return logits.argmax(-1)

    @torch.inference_mode()
    def propose(self, committed: Sequence[Sequence[int]], k: int) -> tuple[torch.Tensor, torch.Tensor]:
        cache = self.cache
        assert cache is not None, "start() first"
        drop, missing = [], []
        for fed, done in zip(self.fed, committed):
            # re-feed at least the last committed token: the logits after it are not kept, and a row whose
            # committed tokens are all fed already (a sampler that recovers the rejected draft token itself, as
            # typical acceptance or planted resampling from the target can) would otherwise have none to read
            keep = min(_common_prefix(fed, done), max(len(done) - 1, 0))
            drop.append(len(fed) - keep)
            del fed[keep:]
            missing.append(list(done[keep:]))
        cache.drop_last(torch.tensor(drop))
        width = max(len(m) for m in missing)
        tokens = torch.full((len(missing), width), self.pad_id, dtype=torch.long)
        valid = torch.zeros((len(missing), width), dtype=torch.long)
        for i, m in enumerate(missing):
            tokens[i, width - len(m):] = torch.tensor(m, dtype=torch.long)
            valid[i, width - len(m):] = 1
            self.fed[i].extend(m)
        logits = cache.feed(tokens, valid, last=1)[:, -1]
        drafts = []
        for j in range(k):
            token = self._pick(logits)
            drafts.append(token)
            if j < k - 1:
                logits = cache.feed(token[:, None], last=1)[:, -1]
                for fed, t in zip(self.fed, token.tolist()):
                    fed.append(t)
        cache.compact()
        out = torch.stack(drafts, dim=1)
        return out, torch.full((out.shape[0],), k, dtype=torch.long, device=out.device)

    def select_rows(self, rows: torch.Tensor) -> None:
        assert self.cache is not None
        self.cache.select_rows(rows)
        self.fed = [self.fed[i] for i in rows.tolist()]


class NgramProposer(Proposer):
    """Prompt-lookup drafts (no model)."""

    def __init__(self, *, min_n: int, max_n: int, pad_id: int) -> None:
        self.min_n, self.max_n, self.pad_id = min_n, max_n, pad_id
        self.prompts: list[list[int]] = []

    def start(self, rows: Sequence[RowState]) -> None:
        self.prompts = [list(r.prompt_ids) for r in rows]

    def propose(self, committed: Sequence[Sequence[int]], k: int) -> tuple[torch.Tensor, torch.Tensor]:
        drafts = torch.full((len(committed), k), self.pad_id, dtype=torch.long)
        proposed = torch.zeros(len(committed), dtype=torch.long)
        for i, (prompt, done) in enumerate(zip(self.prompts, committed)):
            found = lookup(prompt + list(done), k, self.min_n, self.max_n)
            if found:
                drafts[i, : len(found)] = torch.tensor(found, dtype=torch.long)
                proposed[i] = len(found)
        return drafts, proposed

    def select_rows(self, rows: torch.Tensor) -> None:
        self.prompts = [self.prompts[i] for i in rows.tolist()]


def lookup(tokens: Sequence[int], k: int, min_n: int, max_n: int) -> list[int]:
    """Up to k tokens that followed the most recent earlier occurrence of the longest matching suffix of ``tokens``.

    >>> lookup([1, 2, 3, 4, 5, 1, 2], 3, 1, 2)
    [3, 4, 5]
    >>> lookup([1, 2, 3], 3, 1, 2)
    []
    """
    size = len(tokens)
    for n in range(min(max_n, size - 1), min_n - 1, -1):
        suffix = list(tokens[size - n:])
        for start in range(size - n - 1, -1, -1):
            if list(tokens[start:start + n]) == suffix:
                follow = list(tokens[start + n:start + n + k])
                if follow:
                    return follow
    return []


def make_proposer(config: SpeculativeConfig, target: LoadedModel, draft: LoadedModel | None, *,
                  quantized: Any = None) -> Proposer:
    """The proposer an arm's speculative config names; ``quantized`` is the int8 copy of the target for the
    ``quantized`` proposer when the caller already has one (else a new one is made)."""
    if config.proposer == "ngram":
        return NgramProposer(min_n=config.ngram_min_n, max_n=config.ngram_max_n, pad_id=target.pad_token_id)
    if config.proposer == "draft":
        assert draft is not None
        model = draft.model
    elif config.proposer == "quantized":
        from tais.engines.hf.quantized import int8_copy

        model = quantized if quantized is not None else int8_copy(target.model)
    else:
        model = target.model
    adversarial = config.adversarial
    vocab = int(model.get_output_embeddings().weight.shape[0]) if _has_weight(model) else target.model.config.vocab_size
    return ModelProposer(
        model,
        target.tokenizer,
        pad_id=target.pad_token_id,
        system_prompt=adversarial.system_prompt,
        logit_bias=draft_logit_bias(adversarial, target.tokenizer, vocab),
    )


def _has_weight(model: Any) -> bool:
    head = model.get_output_embeddings()
    return head is not None and isinstance(getattr(head, "weight", None), torch.Tensor)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
