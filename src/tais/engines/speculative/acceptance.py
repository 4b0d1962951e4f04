"""Acceptance rules: how many of a row's draft tokens the target keeps after one verify pass.

The verify pass feeds the target ``[t, d_1 .. d_k]`` (``t`` = the last committed token) and yields its logits
``z_0 .. z_k``; ``z_j`` predicts the token after ``d_j`` (``z_0`` the one after ``t``). A row accepts the longest
prefix ``d_1 .. d_a`` whose every token passes the rule, then commits the target's argmax of ``z_a`` (the correction
when ``a < k``, the bonus token when ``a = k``), so each verify step commits ``a + 1`` tokens.

- ``strict``: ``d_j`` passes when it is the argmax of ``z_{j-1}``. Output equals greedy decoding of the target alone.
- ``typical`` (Medusa's posterior threshold, Cai et al. 2024): with ``p = softmax(z_{j-1})`` and its entropy ``H``,
  ``d_j`` passes when ``p(d_j) > min(epsilon, delta * exp(-H))``. The argmax always passes (``p_max >= exp(-H) >
  delta * exp(-H)``), so typical accepts everything strict does, plus plausible non-argmax tokens: lossy on purpose.

Worked example (k = 3, vocabulary {a, b, c}, epsilon = 0.3, delta = 0.09)::

    z_0 -> p = (0.6, 0.3, 0.1)   H = 0.898   threshold = min(0.3, 0.09 * 0.407) = 0.037
    drafts (b, ...)              strict: b is not the argmax -> a = 0, commit a
                                 typical: p(b) = 0.3 > 0.037 -> b passes, go on to z_1
"""

from __future__ import annotations

import torch


def accepted_counts(
    rule: str,
    logits: torch.Tensor,
    drafts: torch.Tensor,
    proposed: torch.Tensor,
    *,
    epsilon: float = 0.3,
    delta: float = 0.09,
) -> torch.Tensor:
    """Accepted draft tokens per row (batch,), from target ``logits`` (batch, k+1, vocab), ``drafts`` (batch, k) and
    ``proposed`` (batch,): how many of a row's k draft slots hold a real proposal (the rest are never accepted)."""
    k = drafts.shape[1]
    head = logits[:, :k]
    if rule == "strict":
        ok = drafts == head.argmax(-1)
    elif rule == "typical":
        ok = typical_pass(head, drafts, epsilon=epsilon, delta=delta)
    else:
        raise ValueError(f"unknown acceptance rule {rule!r}")
    ok &= torch.arange(k, device=drafts.device)[None, :] < proposed[:, None]
    return ok.long().cumprod(1).sum(1)


def typical_pass(logits: torch.Tensor, tokens: torch.Tensor, *, epsilon: float, delta: float) -> torch.Tensor:
    """Medusa's typical-acceptance test for each position: ``p(token) > min(epsilon, delta * exp(-entropy))``.

    >>> z = torch.log(torch.tensor([[[0.6, 0.3, 0.1]]]))
    >>> typical_pass(z, torch.tensor([[1]]), epsilon=0.3, delta=0.09).tolist()
    [[True]]
    >>> typical_pass(z, torch.tensor([[2]]), epsilon=0.3, delta=0.9).tolist()   # 0.1 < min(0.3, 0.9 * 0.407)
    [[False]]
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    p = logp.exp()
    entropy = -(p * logp).nan_to_num().sum(-1)
    threshold = torch.clamp(delta * torch.exp(-entropy), max=epsilon)
    return p.gather(-1, tokens[..., None])[..., 0] > threshold
