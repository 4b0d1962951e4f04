"""Speculative sampling at temperature > 0: the lossless rejection rule on tensors (no backend).

Leviathan, Kalman and Matias 2023, "Fast Inference from Transformers via Speculative Decoding" (arXiv 2211.17192);
Chen et al. 2023, "Accelerating Large Language Model Decoding with Speculative Sampling" (arXiv 2302.01318).

One verify step of a row: the draft model drew ``d_1 .. d_k`` with ``d_j ~ p_j`` (its law at that position), the
target's verify pass gave its laws ``q_0 .. q_k`` (``q_j`` is the law of the token after ``d_j``; both ``p`` and
``q`` after the same temperature / top-k / top-p, :mod:`tais.engines.speculative.truncation`). Terms (as vLLM's
``v1/sample/rejection_sampler.py`` uses them):

- **accepted tokens**: ``d_j`` is accepted when ``u_j < q_{j-1}(d_j) / p_j(d_j)`` (``u_j`` uniform), i.e. with
  probability ``min(1, q/p)``; a row keeps the longest accepted prefix ``d_1 .. d_a``;
- **recovered token**: at the first rejection (``a < k``) the row commits a token drawn from the residual law
  ``norm(max(0, q_a - p_{a+1}))``;
- **bonus token**: when all ``k`` drafts are accepted, one more token drawn from ``q_k``.

Output tokens = accepted + one recovered or bonus token; each committed token then follows the target's law exactly
(the rule is *lossless*). Draft slots past a row's ``proposed`` count are never accepted, and the token at the first
such slot is drawn from ``q`` (a bonus token). A proposer without a law (prompt lookup) has ``p`` = one-hot of its
draft: ``d`` is accepted with probability ``q(d)``, and the residual is ``q`` without ``d``.

Worked example (vocabulary {a, b, c}, k = 1): ``p_1 = (0.1, 0.9, 0)``, ``q_0 = (0.5, 0.3, 0.2)``, draft ``b``.
``b`` is accepted with probability 0.3 / 0.9 = 1/3; on rejection the recovered token follows
``norm(max(0, q_0 - p_1)) = norm(0.4, 0, 0.2) = (2/3, 0, 1/3)``; so P(b) = 0.9 * 1/3 = 0.3, P(a) = 0.1 * 1 +
(1 - 0.1 - 0.3) * 2/3 = 0.5::

    >>> q = torch.tensor([[[0.5, 0.3, 0.2], [1.0, 0.0, 0.0]]])
    >>> p = torch.tensor([[[0.1, 0.9, 0.0]]])
    >>> counts, token = rejection_sample(q, p, torch.tensor([[1]]), torch.tensor([1]), torch.tensor([[0.5]]),
    ...                                  torch.tensor([[0.7, 0.5]]))
    >>> counts.tolist(), token.tolist()     # u = 0.5 >= 1/3: rejected; 0.7 falls in c's share of (2/3, 0, 1/3)
    ([0], [2])
"""

from __future__ import annotations

import torch

from tais.engines.speculative.acceptance import typical_pass
from tais.engines.speculative.planted import PlantedBug
from tais.engines.speculative.truncation import inverse_cdf


def rejection_sample(
    target_probs: torch.Tensor,  # [batch, k+1, vocab]
    draft_probs: torch.Tensor,  # [batch, k, vocab]
    drafts: torch.Tensor,  # [batch, k]
    proposed: torch.Tensor,  # [batch]
    accept_u: torch.Tensor,  # [batch, k]
    sample_u: torch.Tensor,  # [batch, k+1]
    *,
    bug: PlantedBug | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(accepted [batch], token [batch])``: how many drafts each row accepts, and its recovered or bonus token,
    drawn by inverse CDF with ``sample_u`` at the first non-accepted slot. ``bug`` ``resample_from_target`` draws the
    recovered token from ``q`` (a planted bug)."""
    batch, k = drafts.shape
    real = torch.arange(k, device=drafts.device)[None, :] < proposed[:, None]  # [batch, k]
    q_d = target_probs[:, :k].gather(-1, drafts[..., None])[..., 0]  # [batch, k]
    p_d = draft_probs.gather(-1, drafts[..., None])[..., 0]  # [batch, k]
    ok = (accept_u.to(q_d.device) * p_d < q_d) & real
    accepted = ok.long().cumprod(1).sum(1)  # [batch]
    residual = torch.cat([draft_probs * real[..., None], torch.zeros_like(target_probs[:, :1])], dim=1)
    at = accepted[:, None, None].expand(batch, 1, target_probs.shape[-1])
    q_a = target_probs.gather(1, at)[:, 0]  # [batch, vocab]
    p_a = residual.gather(1, at)[:, 0]  # [batch, vocab]: 0 past the real drafts (bonus)
    law = (q_a - p_a).clamp(min=0)
    if bug is PlantedBug.RESAMPLE_FROM_TARGET:
        law = q_a
    law = torch.where(law.sum(-1, keepdim=True) > 0, law, q_a)  # q = p exactly: rejection had probability 0
    u = sample_u.to(law.device).gather(1, accepted[:, None])[:, 0]  # [batch]
    return accepted, inverse_cdf(law, u)


def typical_sample(
    target_logits: torch.Tensor,  # [batch, k+1, vocab], after temperature / truncation
    drafts: torch.Tensor,  # [batch, k]
    proposed: torch.Tensor,  # [batch]
    sample_u: torch.Tensor,  # [batch, k+1]
    *,
    epsilon: float,
    delta: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Typical acceptance at temperature > 0 (Medusa, Cai et al. 2024; lossy on purpose): ``d_j`` is accepted when
    ``q(d_j) > min(epsilon, delta * exp(-H(q)))`` with ``q`` the target's truncated law; the token after the accepted
    prefix is drawn from ``q`` there. Returns ``(accepted [batch], token [batch])``."""
    k = drafts.shape[1]
    ok = typical_pass(target_logits[:, :k], drafts, epsilon=epsilon, delta=delta)
    ok &= torch.arange(k, device=drafts.device)[None, :] < proposed[:, None]
    accepted = ok.long().cumprod(1).sum(1)
    at = accepted[:, None, None].expand(-1, 1, target_logits.shape[-1])
    q_a = target_logits.gather(1, at)[:, 0].softmax(-1)
    u = sample_u.to(q_a.device).gather(1, accepted[:, None])[:, 0]
    return accepted, inverse_cdf(q_a, u)
