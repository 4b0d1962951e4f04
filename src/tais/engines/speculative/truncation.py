"""The sampling law of one row at one position: temperature, then top-k, then top-p (the order of transformers'
logits warpers and of vLLM's sampler), renormalised.

- temperature ``T``: logits ``z / T``; ``T = 0`` keeps only the argmax (greedy, ties to the lowest id);
- top-k (``k > 0``): tokens whose scaled logit is below the k-th largest are cut (ties with the k-th are kept, as
  transformers' ``TopKLogitsWarper``);
- top-p (``p < 1``): sort ascending, cut the tokens whose cumulative mass is ``<= 1 - p`` (the most likely token is
  always kept), as transformers' ``TopPLogitsWarper`` and vLLM's ``apply_top_k_top_p``: what remains is the smallest
  set of most likely tokens whose mass reaches ``p``.

Cut tokens get logit ``-inf``. Worked example: logits log(0.5, 0.3, 0.15, 0.05), T = 1, top_k = 3, top_p = 0.8::

    >>> z = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    >>> law = Law(torch.tensor([1.0]), torch.tensor([3]), torch.tensor([0.8]))
    >>> [round(v, 4) for v in sampling_probs(z, law)[0].tolist()]
    [0.625, 0.375, 0.0, 0.0]

top-k cuts 0.05; of (0.5, 0.3, 0.15)/0.95 the ascending cumulative mass of 0.15/0.95 = 0.158 is <= 0.2: cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from tais.engines.speculative.planted import PlantedBug


@dataclass(frozen=True)
class Law:
    """Per-row sampling parameters, as tensors: ``temperature`` [rows] (0 = greedy), ``top_k`` [rows] (0 = off),
    ``top_p`` [rows] (1 = off)."""

    temperature: torch.Tensor  # [rows]
    top_k: torch.Tensor  # [rows]
    top_p: torch.Tensor  # [rows]

    @classmethod
    def of(cls, params: Sequence) -> Law:
        """From :class:`tais.types.SamplingParams` (one per row)."""
        return cls(torch.tensor([float(p.temperature) for p in params], dtype=torch.float32),
                   torch.tensor([int(p.top_k) for p in params], dtype=torch.long),
                   torch.tensor([float(p.top_p) for p in params], dtype=torch.float32))


def truncated_logits(logits: torch.Tensor, law: Law, *, bug: PlantedBug | None = None,
                     role: str = "target") -> torch.Tensor:
    """float32 logits [rows, ..., vocab] after temperature, top-k and top-p for ``logits`` [rows, ..., vocab]; cut
    tokens are ``-inf``. ``bug`` applies a planted bug (:mod:`tais.engines.speculative.planted`) for ``role``
    ``target`` or ``draft``."""
    z = logits.float()
    shape = (z.shape[0],) + (1,) * (z.dim() - 1)
    t = law.temperature.to(z.device).view(shape)  # [rows, 1.., 1]
    greedy = t == 0
    scale = torch.where(greedy, torch.ones_like(t), t)
    if bug is PlantedBug.DOUBLE_TEMPERATURE:
        scale = scale * scale
    z = z / scale
    top_k = law.top_k.to(z.device)
    if bug is PlantedBug.TOP_K_OFF_BY_ONE:
        top_k = torch.where(top_k > 0, top_k + 1, top_k)
    top_p = law.top_p.to(z.device)
    if bug is PlantedBug.TOP_P_DRAFT_ONLY and role == "target":
        top_p = torch.ones_like(top_p)
    if bool((top_k > 0).any()) or bool((top_p < 1).any()):
        z = _cut(z, top_k.view(shape), top_p.view(shape))
    best = z.argmax(-1, keepdim=True)
    only_best = torch.full_like(z, float("-inf")).scatter(-1, best, 0.0)
    return torch.where(greedy, only_best, z)


_HEAD = 1024  # top-p looks at the most likely _HEAD tokens first (exact when they hold mass >= p), see _cut


def _cut(z: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Top-k then top-p on scaled logits ``z`` [rows, ..., vocab]; ``top_k``, ``top_p`` [rows, 1.., 1].

    A token is cut by top-p when the mass of the tokens more likely than it (sort order) is >= p, which is
    transformers' ``ascending cumulative mass <= 1 - p``. Only the most likely ``_HEAD`` tokens (or ``top_k``, if
    more) are sorted: every token past them is cut as soon as they hold mass >= p; rows where they do not fall back
    to a sort of the whole vocabulary."""
    vocab = z.shape[-1]
    head = min(vocab, max(_HEAD, int(top_k.max())))
    values, ids = z.topk(head, dim=-1)  # [rows, ..., head], descending
    if bool((top_k > 0).any()):
        k = top_k.expand(*z.shape[:-1], 1)
        kth = values.gather(-1, (k - 1).clamp(min=0, max=head - 1))
        kth = torch.where(k > 0, kth, torch.full_like(kth, float("-inf")))
        z = z.masked_fill(z < kth, float("-inf"))
        values = values.masked_fill(values < kth, float("-inf"))
    probs = (values - torch.logsumexp(z, dim=-1, keepdim=True)).exp()  # [rows, ..., head]
    above = probs.cumsum(-1) - probs  # the mass more likely than each token
    rank = torch.arange(head, device=z.device)
    keep = (above < top_p) | (rank == 0) | (top_p >= 1)
    out = torch.full_like(z, float("-inf")).scatter(-1, ids, values.masked_fill(~keep, float("-inf")))
    if bool((top_p >= 1).any()):
        out = torch.where(top_p >= 1, z, out)
    short = (probs.sum(-1, keepdim=True) < top_p) & (top_p < 1)
    if bool(short.any()):
        out = torch.where(short, _cut_sorted(z, top_p), out)
    return out


def _cut_sorted(z: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Top-p by a sort of the whole vocabulary (transformers' ``TopPLogitsWarper``)."""
    ascending, order = z.sort(-1)
    mass = ascending.softmax(-1).cumsum(-1)
    cut = (mass <= 1 - top_p) & (torch.arange(z.shape[-1], device=z.device) < z.shape[-1] - 1)
    return torch.empty_like(z).scatter(-1, order, ascending.masked_fill(cut, float("-inf")))


def sampling_probs(logits: torch.Tensor, law: Law, *, bug: PlantedBug | None = None,
                   role: str = "target") -> torch.Tensor:
    """The sampling law, float32 [rows, ..., vocab], for ``logits`` [rows, ..., vocab] (:func:`truncated_logits`)."""
    return truncated_logits(logits, law, bug=bug, role=role).softmax(-1)


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The token whose cumulative-probability interval (in token-id order) holds ``u``: ids [...] for ``probs``
    [..., vocab] (need not sum to 1) and ``u`` [...] in (0, 1). A token of probability 0 is never returned.

    >>> inverse_cdf(torch.tensor([[0.2, 0.0, 0.8], [0.2, 0.0, 0.8]]), torch.tensor([0.1, 0.5])).tolist()
    [0, 2]
    """
    cdf = probs.double().cumsum(-1)
    cdf = cdf / cdf[..., -1:]
    index = torch.searchsorted(cdf, u.double().to(cdf.device)[..., None], right=True)[..., 0]
    return index.clamp(max=probs.shape[-1] - 1)
