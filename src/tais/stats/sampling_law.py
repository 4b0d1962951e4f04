"""Is the candidate's sampling distribution the reference's? The predictable-score tests of a temperature > 0
screen, joined: the tempering test (:mod:`tais.stats.tempering`), the top-1 indicator test
(:mod:`tais.stats.predictable`) and the randomised PIT with Anderson-Darling (:mod:`tais.stats.pit`), Holm-combined.

The candidate *differs* when the Holm-adjusted p-value of any of the three is below alpha, or when it emitted a token
the reference's law gives probability 0 (impossible under H0); it is *equivalent* when it does not differ and the
tempering TOST holds (|theta| below the margin with 1 - 2 alpha confidence). Where the draft is known, its
log-ratio ``(h, E_q h, Var_q h)`` per token (``draft_ratio``) joins the battery as a fourth test, with its effect size
the draft tilt (:mod:`tais.stats.draft_tilt`); *equivalent* then also needs the tilt's TOST.

Worked example: 2 000 tokens drawn from the reference's own laws, then from laws at a 25% higher temperature::

    >>> rng = np.random.default_rng(1)
    >>> logits = rng.normal(size=(2000, 12)) * 2
    >>> q = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    >>> hot = np.exp(logits * 0.8) / np.exp(logits * 0.8).sum(1, keepdims=True)
    >>> draw = lambda p: (p.cumsum(1) > rng.uniform(size=(len(p), 1))).argmax(1)
    >>> prompts = np.repeat(np.arange(80), 25)
    >>> same = sampling_law_test(ReferenceLaws.full(q), draw(q), prompts, margin=0.1)
    >>> same.differs, same.equivalent
    (False, True)
    >>> wrong = sampling_law_test(ReferenceLaws.full(q), draw(hot), prompts, margin=0.1)
    >>> wrong.differs, round(wrong.tempering.theta, 2)
    (True, 0.2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .draft_tilt import DEFAULT_DRAFT_MARGIN, DraftTilt, draft_tilt_test
from .pit import AndersonDarling, anderson_darling_uniform, randomised_pit
from .predictable import (
    DEFAULT_CLIP,
    CombinedTest,
    ReferenceLaws,
    ScoreTest,
    combined_test,
    impossible_tokens,
    score_test,
    top1_scores,
)
from .tempering import TemperingResult, tempering_test


@dataclass(frozen=True)
class SamplingLawResult:
    tempering: TemperingResult
    top1: ScoreTest
    pit: AndersonDarling
    combined: CombinedTest
    impossible: int
    draft: DraftTilt | None = None

    @property
    def differs(self) -> bool:
        return self.combined.reject or self.impossible > 0

    @property
    def equivalent(self) -> bool:
        return not self.differs and self.tempering.equivalent and (self.draft is None or self.draft.equivalent)


def sampling_law_test(laws: ReferenceLaws, tokens: ArrayLike, clusters: ArrayLike, *, margin: float = 0.05,
                      alpha: float = 0.05, clip: float = DEFAULT_CLIP, seed: int = 0,
                      draft_ratio: tuple[ArrayLike, ArrayLike, ArrayLike] | None = None,
                      draft_margin: float = DEFAULT_DRAFT_MARGIN) -> SamplingLawResult:
    """All tests of the module docstring for emitted ``tokens`` [n] under ``laws``; ``clusters`` [n] names each
    token's prompt; ``seed`` draws the PIT's randomisation; ``draft_ratio``: the draft log-ratio's ``(h(x_t), E_q h,
    Var_q h)`` [n] each, where the draft is known (:func:`tais.stats.predictable.log_ratio_scores`)."""
    tokens = np.asarray(tokens)
    tempering = tempering_test(laws, tokens, clusters, margin=margin, alpha=alpha, clip=clip)
    top1 = score_test(*top1_scores(laws, tokens))
    pit = anderson_darling_uniform(randomised_pit(laws, tokens, np.random.default_rng(seed)))
    p_values = {"surprisal": tempering.p_value, "top1": top1.p_value, "pit": pit.p_value}
    draft = None
    if draft_ratio is not None:
        draft = draft_tilt_test(*draft_ratio, clusters, margin=draft_margin, alpha=alpha)
        p_values["draft"] = draft.p_value
    combined = combined_test(p_values, alpha)
    return SamplingLawResult(tempering, top1, pit, combined, impossible_tokens(laws, tokens), draft)
