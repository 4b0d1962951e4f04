"""The screen at temperature > 0: is each candidate's sampling distribution the reference's, and do its outcome rates
stay within the margin? Plain records (:class:`SampledScreen`) and the decision rule; the teacher forcing that
produces the token-level figures lives in :mod:`tais.pipeline.sampled`.

Two levels, per contrast (candidate or null arm against the reference):

- **tokens** (:class:`TokenLevel`): every emitted token, teacher-forced through the reference, against the reference's
  *sampling* law at that position (its temperature, top-k and top-p): the tempering theta with its cluster-by-prompt
  interval and TOST at ``theta_margin``, the surprisal and top-1 Z tests and the randomised PIT (Anderson-Darling), Holm
  across the three (:mod:`tais.stats.sampling_law`); **hard leaks**: tokens well outside the reference's support
  (beyond its nucleus at ``top_p + tau_p``, or more than ``tau_logit`` below the k-th scaled logit), impossible for a
  correct sampler; **soft leaks**: tokens of probability 0 under the reference's law but within those tolerances
  (rounding at the edge of the nucleus), reported as a rate beside the null arm's;
- **outcomes** (:class:`OutcomeLevel`, per task): each prompt's rate over its replicates in each arm, the mean paired
  difference with a cluster-by-prompt t interval, TOST at the screen's margin and Cohen's h
  (:mod:`tais.stats.prompt_rates`).

Decision of a candidate (:func:`decide`), equivalence first:

1. a hard leak -> FAIL;
2. a token-level test rejecting after Holm with theta's estimate beyond +-theta_margin -> FAIL;
3. every task's outcome interval inside the margin and theta equivalent (TOST) -> PASS;
4. an outcome difference significant (two-sided, alpha) and its interval not inside the margin -> FAIL;
5. otherwise INCONCLUSIVE, with the tokens (sizing rule ``17 / (mean varentropy x theta_margin**2)``) and the prompts
   (at the observed spread) that would decide it.

>>> tok = TokenLevel(n_tokens=600, n_prompts=16, theta=-0.26, theta_se=0.03, theta_low=-0.31, theta_high=-0.21,
...                  theta_tost_p=1.0, theta_equivalent=False, surprisal_z=-6.3, top1_z=5.0, pit_a2=10.8,
...                  p_holm=(1e-9, 1e-6, 1e-5), rejects=True, mean_varentropy=1.5, hard_leaks=0, soft_leaks=0)
>>> decide(tok, (), theta_margin=0.02)[0].value
'FAIL'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from tais.stats.prompt_rates import PromptRateDifference, prompts_needed
from tais.stats.tempering import tokens_needed
from tais.types import Role, Verdict

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from tais.stats.predictable import ReferenceLaws

BATTERY = ("surprisal", "top1", "pit")
"""The token-level tests, in the order of :attr:`TokenLevel.p_holm`."""


@dataclass(frozen=True)
class TokenLevel:
    """One arm's tokens against the reference's sampling laws (see the module docstring). ``p_holm``: Holm-adjusted
    p-values of :data:`BATTERY`; ``pit_histogram``: counts of the randomised PIT in ten equal bins (uniform under
    H0); ``left_out``: emitted tokens the reference's listed top tokens cannot judge exactly (a law from a top-k list
    only: the token is unlisted, or the top-p cut there depends on the unlisted mass), left out of every test (not in
    ``n_tokens``)."""

    n_tokens: int
    n_prompts: int
    theta: float
    theta_se: float
    theta_low: float
    theta_high: float
    theta_tost_p: float
    theta_equivalent: bool
    surprisal_z: float
    top1_z: float
    pit_a2: float
    p_holm: tuple[float, ...]
    rejects: bool
    mean_varentropy: float
    hard_leaks: int
    soft_leaks: int
    pit_histogram: tuple[int, ...] = ()
    left_out: int = 0

    @property
    def soft_leak_rate(self) -> float:
        return self.soft_leaks / self.n_tokens if self.n_tokens else 0.0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TokenLevel:
        kwargs: dict[str, Any] = {f.name: (tuple(d[f.name]) if f.name in ("p_holm", "pit_histogram") else d[f.name])
                                  for f in fields(cls) if f.name in d}
        return cls(**kwargs)


@dataclass(frozen=True)
class OutcomeLevel:
    """One task's outcome rates at T > 0 (:class:`tais.stats.prompt_rates.PromptRateDifference`) and the replicates."""

    task: str
    replicates: int
    rates: PromptRateDifference

    @property
    def significant(self) -> bool:
        return self.rates.p_value < self.rates.alpha


@dataclass(frozen=True)
class SampledContrast:
    """One arm against the reference at T > 0: its token-level and outcome-level figures and its verdict (a null
    arm's verdict is what the same rule says of the stack against itself: PASS or INCONCLUSIVE expected)."""

    arm: str
    reference: str
    role: Role
    tokens: TokenLevel
    outcomes: tuple[OutcomeLevel, ...]
    verdict: Verdict
    reasons: tuple[str, ...]
    tokens_needed: int | None
    prompts_needed: int | None


@dataclass(frozen=True)
class SampledScreen:
    """The T > 0 section of a screen: the reference's sampling law, the tolerances, every contrast, and the verdict
    over the candidate contrasts (FAIL if any fails, else INCONCLUSIVE if any is, else PASS). ``exact_laws``: the
    laws came from full teacher-forced rows (hf reference), not from a top-k list (then conditioned on the listed
    tokens)."""

    temperature: float
    top_p: float
    top_k: int
    theta_margin: float
    tau_p: float
    tau_logit: float
    exact_laws: bool
    contrasts: tuple[SampledContrast, ...]
    verdict: Verdict


def decide(tokens: TokenLevel, outcomes: Sequence[OutcomeLevel], *,
           theta_margin: float) -> tuple[Verdict, tuple[str, ...]]:
    """The verdict of one contrast and its reasons (rules of the module docstring)."""
    if tokens.hard_leaks:
        return Verdict.FAIL, (f"{tokens.hard_leaks} hard leak(s): tokens far outside the reference's support",)
    if tokens.rejects and abs(tokens.theta) > theta_margin:
        worst = min(zip(tokens.p_holm, BATTERY))
        return Verdict.FAIL, ((f"token-level {worst[1]} test rejects (Holm p {worst[0]:.2g}) with theta "
                               f"{tokens.theta:+.3f} beyond +-{theta_margin}"),)
    if tokens.theta_equivalent and outcomes and all(o.rates.equivalent for o in outcomes):
        return Verdict.PASS, ((f"theta {tokens.theta:+.3f} [{tokens.theta_low:+.3f}, {tokens.theta_high:+.3f}] and "
                               "every outcome interval inside their margins"),)
    bad = [o for o in outcomes if o.significant and not o.rates.equivalent]
    if bad:
        o = bad[0]
        return Verdict.FAIL, ((f"task {o.task}: outcome rate differs by {o.rates.diff:+.3f} "
                               f"[{o.rates.ci_low:+.3f}, {o.rates.ci_high:+.3f}] (p {o.rates.p_value:.2g})"),)
    reasons = []
    if not tokens.theta_equivalent:
        reasons.append(f"theta {tokens.theta:+.3f} [{tokens.theta_low:+.3f}, {tokens.theta_high:+.3f}] not inside "
                       f"+-{theta_margin}")
    reasons += [f"task {o.task}: outcome interval [{o.rates.ci_low:+.3f}, {o.rates.ci_high:+.3f}] not inside "
                f"+-{o.rates.margin}" for o in outcomes if not o.rates.equivalent]
    return Verdict.INCONCLUSIVE, tuple(reasons) or ("no outcome cell",)


def contrast(arm: str, reference: str, role: Role, tokens: TokenLevel, outcomes: Sequence[OutcomeLevel], *,
             theta_margin: float) -> SampledContrast:
    """A contrast with its verdict and, when INCONCLUSIVE, the tokens and prompts that would decide it."""
    verdict, reasons = decide(tokens, outcomes, theta_margin=theta_margin)
    need_tokens = need_prompts = None
    if verdict is Verdict.INCONCLUSIVE:
        if not tokens.theta_equivalent and tokens.mean_varentropy > 0:
            need_tokens = math.ceil(tokens_needed(theta_margin, tokens.mean_varentropy))
        wanted = [prompts_needed(o.rates) for o in outcomes if not o.rates.equivalent]
        need_prompts = max((w for w in wanted if w is not None), default=None)
    return SampledContrast(arm, reference, role, tokens, tuple(outcomes), verdict, reasons, need_tokens, need_prompts)


def overall(contrasts: Sequence[SampledContrast]) -> Verdict:
    """FAIL if any candidate fails, else INCONCLUSIVE if any is (or there is none), else PASS."""
    verdicts = [c.verdict for c in contrasts if c.role is Role.CANDIDATE]
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    if not verdicts or Verdict.INCONCLUSIVE in verdicts:
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


def token_level(laws: ReferenceLaws, tokens: ArrayLike, clusters: ArrayLike, *, hard_leaks: int, soft_leaks: int,
                theta_margin: float, alpha: float, seed: int = 0, left_out: int = 0) -> TokenLevel:
    """The token-level figures of one arm: ``laws`` the reference's sampling laws
    (:class:`tais.stats.predictable.ReferenceLaws`) at the arm's ``tokens`` [n], ``clusters`` [n] their prompts."""
    import numpy as np

    from tais.stats.pit import randomised_pit
    from tais.stats.sampling_law import sampling_law_test

    result = sampling_law_test(laws, tokens, clusters, margin=theta_margin, alpha=alpha, seed=seed)
    pit = randomised_pit(laws, tokens, np.random.default_rng(seed))
    histogram = np.histogram(pit, bins=10, range=(0.0, 1.0))[0]
    t = result.tempering
    return TokenLevel(
        n_tokens=t.n_tokens, n_prompts=t.n_clusters, theta=t.theta, theta_se=t.se, theta_low=t.ci_low,
        theta_high=t.ci_high, theta_tost_p=t.tost_p, theta_equivalent=t.equivalent, surprisal_z=t.z,
        top1_z=result.top1.z, pit_a2=result.pit.statistic, p_holm=result.combined.p_holm,
        rejects=result.combined.reject, mean_varentropy=t.mean_varentropy, hard_leaks=hard_leaks,
        soft_leaks=soft_leaks, pit_histogram=tuple(int(c) for c in histogram), left_out=left_out)


def prompt_rates(outcomes: Mapping[tuple[str, int], int | None], items: Sequence[str]) -> dict[str, float]:
    """item -> mean decided outcome over its replicates (items with none decided are left out).

    >>> prompt_rates({("a", 0): 1, ("a", 1): 0, ("b", 0): None}, ["a", "b"])
    {'a': 0.5}
    """
    out = {}
    for item in items:
        values = [v for (i, _), v in outcomes.items() if i == item and v is not None]
        if values:
            out[item] = sum(values) / len(values)
    return out
