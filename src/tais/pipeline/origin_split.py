"""The accepted / recovered split (:mod:`tais.stats.outcome_split`) of one completion's tokens, from the reference's
and the draft's full rows teacher-forced on it and the origins its decoder recorded: where a T > 0 screen knows an
arm's draft (:mod:`tais.pipeline.draft_ratio`) and the arm records token origins (hf's speculative decoders).

The laws are those of :func:`tais.pipeline.draft_ratio.ratio_scores`: ``q`` the reference's sampling law, ``p`` the
draft's under the arm's sampling params (its columns cut or padded to the reference's vocabulary); the scores the
clipped surprisal ``min(-log q, clip)`` and the draft log-ratio clipped to ``[-clip, clip]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tais.stats.outcome_split import OutcomeSplit, split_terms
from tais.stats.predictable import DEFAULT_CLIP
from tais.stats.strata import ScoreTerms
from tais.types import OriginKind, SamplingParams


def origin_split(reference_rows: Any, draft_rows: Any, tokens: Sequence[int], origins: Sequence[int] | None,
                 reference: SamplingParams, arm: SamplingParams, clip: float = DEFAULT_CLIP) -> OutcomeSplit:
    """The split at each of the n ``tokens`` of one completion (``reference_rows`` [n, vocab], ``draft_rows``
    [n, draft vocab], torch log-softmax; ``origins`` [n] codes or None: then all zeros)."""
    import torch

    from tais.engines.speculative.truncation import Law, truncated_logits

    n = len(tokens)
    codes = np.asarray(origins if origins is not None and len(origins) == n else [-1] * n, dtype=np.int64)
    kind = codes % 4
    drafted = (codes >= 0) & ((kind == OriginKind.ACCEPTED) | (kind == OriginKind.RECOVERED))
    zero = ScoreTerms(np.zeros(n), np.zeros(n), np.zeros(n))
    if not drafted.any():
        return OutcomeSplit(zero, zero, zero, zero)
    at = torch.tensor(np.flatnonzero(drafted), dtype=torch.long, device=reference_rows.device)
    vocab = reference_rows.shape[-1]
    d = draft_rows[:, :vocab].to(reference_rows.device)[at]
    if d.shape[-1] < vocab:
        d = torch.cat([d, torch.full((d.shape[0], vocab - d.shape[-1]), float("-inf"), device=d.device)], dim=-1)
    log_q = torch.log_softmax(truncated_logits(reference_rows[at][None], Law.of([reference]))[0].double(), -1)
    log_p = torch.log_softmax(truncated_logits(d[None], Law.of([arm]))[0].double(), -1)  # [m, vocab]
    surprisal = (-log_q).clamp(max=clip)
    ratio = torch.nan_to_num((log_p - log_q).clamp(-clip, clip), nan=0.0)
    q, p = log_q.exp().cpu().numpy(), log_p.exp().cpu().numpy()
    emitted = np.asarray(tokens, dtype=np.int64)[drafted]
    accepted = kind[drafted] == OriginKind.ACCEPTED
    parts = [*split_terms(q, p, surprisal.cpu().numpy(), emitted, accepted),
             *split_terms(q, p, ratio.cpu().numpy(), emitted, accepted)]
    return OutcomeSplit(*(_spread(t, drafted) for t in parts))


def _spread(terms: ScoreTerms, drafted: np.ndarray) -> ScoreTerms:
    """Terms at the drafted tokens [m] laid out over all n tokens (zeros elsewhere)."""
    out = []
    for values in terms:
        full = np.zeros(drafted.size)
        full[drafted] = values
        out.append(full)
    return ScoreTerms(*out)
