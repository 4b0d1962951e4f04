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

Where the candidate's draft is known (:class:`DraftLevel`: an ``hf`` arm drafting with a model, or an arm naming a
``draft:`` model, scored against a reference given by full laws), the battery gains a fourth test, the draft
log-ratio ``log d_t(x) - log q_t(x)``, and its effect size, the draft tilt lambda (the sampler's law as
``q**(1 - lambda) d**lambda``; :mod:`tais.stats.draft_tilt`), with a cluster-by-prompt interval and TOST at
``draft_margin``. Figures stored before the log-ratio existed load with ``draft`` None and decide as before.

Decision of a candidate (:func:`decide`), equivalence first:

1. a hard leak -> FAIL; soft leaks in excess of the null arms' (:class:`SoftLeakExcess`, one-sided exact test at
   alpha) -> FAIL; with a listed (top-k) reference law, a tail count rejecting (:class:`TailLevel`: more tokens
   outside the list than the reference's law allows) -> FAIL; no informative token -> INCONCLUSIVE;
2. a token-level test rejecting after Holm with theta's estimate beyond +-theta_margin -> FAIL;
3. a token-level test rejecting after Holm with lambda's estimate beyond +-draft_margin (where measured) -> FAIL: the
   sampler leans towards its draft (lambda > 0) or away from it;
4. every task's outcome interval inside the margin, theta equivalent (TOST) and lambda equivalent where measured ->
   PASS;
5. an outcome difference significant (two-sided, alpha) and its interval not inside the margin -> FAIL;
6. otherwise INCONCLUSIVE, with the tokens (sizing rule ``17 / (mean varentropy x theta_margin**2)``, and ``17 /
   (mean Var h x draft_margin**2)`` for lambda) and the prompts (at the observed spread) that would decide it.

>>> tok = TokenLevel(n_tokens=600, n_prompts=16, theta=-0.26, theta_se=0.03, theta_low=-0.31, theta_high=-0.21,
...                  theta_tost_p=1.0, theta_equivalent=False, surprisal_z=-6.3, top1_z=5.0, pit_a2=10.8,
...                  p_holm=(1e-9, 1e-6, 1e-5), rejects=True, mean_varentropy=1.5, hard_leaks=0, soft_leaks=0)
>>> decide(tok, (), theta_margin=0.02)[0].value
'FAIL'

A sampler whose theta stays inside its margin but which leans towards its draft (``resample_from_target``):

>>> lean = DraftLevel("draft: noisy", tilt=0.22, se=0.02, low=0.19, high=0.25, tost_p=1.0, equivalent=False,
...                   z=18.1, mean_variance=0.83)
>>> tok = TokenLevel(n_tokens=8000, n_prompts=32, theta=-0.019, theta_se=0.008, theta_low=-0.032,
...                  theta_high=-0.006, theta_tost_p=0.4, theta_equivalent=False, surprisal_z=-1.9, top1_z=0.3,
...                  pit_a2=0.9, p_holm=(0.17, 0.7, 0.7, 1e-70), rejects=True, mean_varentropy=2.4, hard_leaks=0,
...                  soft_leaks=0, draft=lean)
>>> verdict, reasons = decide(tok, (), theta_margin=0.02, draft_margin=0.05)
>>> verdict.value
'FAIL'
>>> reasons[0].split(":")[0]
'token-level draft test rejects (Holm p 1e-70) with the draft tilt lambda +0.220 [+0.190, +0.250] beyond +-0.05'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from tais.screen.sampled_diagnostics import SampledDiagnostics
from tais.stats.draft_tilt import DEFAULT_DRAFT_MARGIN
from tais.stats.outcome_split import OutcomeSplit
from tais.stats.prompt_rates import PromptRateDifference, prompts_needed
from tais.stats.tempering import tokens_needed
from tais.types import Role, Verdict

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from tais.stats.predictable import ReferenceLaws
    from tais.stats.tail_count import TailCount

BATTERY = ("surprisal", "top1", "pit")
"""The token-level tests, in the order of :attr:`TokenLevel.p_holm`; ``draft`` (:data:`DRAFT_TEST`) follows them
where the draft log-ratio was measured (:attr:`TokenLevel.battery`)."""
DRAFT_TEST = "draft"


@dataclass(frozen=True)
class DraftLevel:
    """The draft log-ratio of one arm (:mod:`tais.stats.draft_tilt`): ``draft`` names where the draft's laws came
    from; the tilt lambda with its cluster-robust ``se`` and 1 - 2 alpha interval, its TOST at the draft margin, the
    log-ratio ``z`` and the mean ``Var_q h`` per token (nats², for sizing)."""

    draft: str
    tilt: float
    se: float
    low: float
    high: float
    tost_p: float
    equivalent: bool
    z: float
    mean_variance: float


@dataclass(frozen=True)
class TailLevel:
    """Tokens outside a listed (top-k) reference law (:mod:`tais.stats.tail_count`): ``unlisted`` of ``positions``
    judged, ``expected_max`` the most the reference's law allows on average, the conservative one-sided ``p_value``,
    and whether it ``rejects`` at the run's alpha (the arm samples outside the list more than the law can)."""

    unlisted: int
    positions: int
    expected_max: float
    p_value: float
    rejects: bool


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
    draft: DraftLevel | None = None
    draft_skipped: str = ""
    pit_seed: int = 0
    diagnostics: SampledDiagnostics | None = None  # strata and RNG-reuse diagnostics (None in older runs' figures)
    tail: TailLevel | None = None  # unlisted tokens against a listed law's bound (None for exact laws, older runs)

    @property
    def soft_leak_rate(self) -> float:
        return self.soft_leaks / self.n_tokens if self.n_tokens else 0.0

    @property
    def battery(self) -> tuple[str, ...]:
        """The names of the tests of :attr:`p_holm`, in its order."""
        return BATTERY + ((DRAFT_TEST,) if self.draft is not None else ())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TokenLevel:
        """From stored figures; those stored before a field existed take its default (``draft`` None: no
        log-ratio, three tests; ``pit_seed`` 0: the seed every arm used then)."""
        kwargs: dict[str, Any] = {f.name: (tuple(d[f.name]) if f.name in ("p_holm", "pit_histogram") else d[f.name])
                                  for f in fields(cls) if f.name in d}
        if kwargs.get("draft") is not None:
            kwargs["draft"] = DraftLevel(**kwargs["draft"])
        if kwargs.get("diagnostics") is not None:
            kwargs["diagnostics"] = SampledDiagnostics.from_dict(kwargs["diagnostics"])
        if kwargs.get("tail") is not None:
            kwargs["tail"] = TailLevel(**kwargs["tail"])
        return cls(**kwargs)


@dataclass(frozen=True)
class PromptRate:
    """One prompt's outcome rate over its replicates in the reference and in the arm."""

    item: str
    reference: float
    arm: float


@dataclass(frozen=True)
class OutcomeLevel:
    """One task's outcome rates at T > 0 (:class:`tais.stats.prompt_rates.PromptRateDifference`), the replicates and
    the per-prompt rates the difference came from (in the task's item order)."""

    task: str
    replicates: int
    rates: PromptRateDifference
    prompts: tuple[PromptRate, ...] = ()

    @property
    def significant(self) -> bool:
        return self.rates.p_value < self.rates.alpha


@dataclass(frozen=True)
class SoftLeakExcess:
    """A candidate's soft leaks against its null arms' (pooled): counts over tokens, the one-sided exact ``p_value``
    of :mod:`tais.stats.rate_excess` and whether it ``rejects`` at the run's alpha."""

    leaks: int
    tokens: int
    null_leaks: int
    null_tokens: int
    p_value: float
    rejects: bool


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
    soft_excess: SoftLeakExcess | None = None


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
    draft_margin: float = DEFAULT_DRAFT_MARGIN


def decide(tokens: TokenLevel, outcomes: Sequence[OutcomeLevel], *, theta_margin: float,
           draft_margin: float = DEFAULT_DRAFT_MARGIN,
           soft_excess: SoftLeakExcess | None = None) -> tuple[Verdict, tuple[str, ...]]:
    """The verdict of one contrast and its reasons (rules of the module docstring)."""
    if tokens.hard_leaks:
        return Verdict.FAIL, (f"{tokens.hard_leaks} hard leak(s): tokens far outside the reference's support",)
    if soft_excess is not None and soft_excess.rejects:
        s = soft_excess
        return Verdict.FAIL, (f"{s.leaks} soft leak(s) in {s.tokens} tokens against {s.null_leaks} in the null arms' "
                              f"{s.null_tokens} (one-sided p {s.p_value:.2g}): tokens the reference's law excludes, "
                              "more often than the stack without the change emits them",)
    tail = tokens.tail
    if tail is not None and tail.rejects:
        return Verdict.FAIL, (f"{tail.unlisted} of {tail.positions} tokens outside the reference's listed top tokens, "
                              f"where its law allows at most {tail.expected_max:.1f} on average (one-sided p "
                              f"{tail.p_value:.2g}): the arm samples outside the reference's law",)
    if tokens.mean_varentropy == 0:
        return Verdict.INCONCLUSIVE, (f"no token carries information: {tokens.n_tokens} judged, every law "
                                      f"deterministic ({tokens.left_out} left out)",)
    worst = min(zip(tokens.p_holm, tokens.battery))
    if tokens.rejects and abs(tokens.theta) > theta_margin:
        return Verdict.FAIL, ((f"token-level {worst[1]} test rejects (Holm p {worst[0]:.2g}) with theta "
                               f"{tokens.theta:+.3f} beyond +-{theta_margin}"),)
    draft = tokens.draft
    if tokens.rejects and draft is not None and abs(draft.tilt) > draft_margin:
        side = "towards" if draft.tilt > 0 else "away from"
        return Verdict.FAIL, ((f"token-level {worst[1]} test rejects (Holm p {worst[0]:.2g}) with the draft tilt "
                               f"lambda {_tilt(draft)} beyond +-{draft_margin}: the sampler leans {side} its draft "
                               f"({draft.draft})"),)
    draft_ok = draft is None or draft.equivalent
    if tokens.theta_equivalent and draft_ok and outcomes and all(o.rates.equivalent for o in outcomes):
        tilt = "" if draft is None else f", lambda {_tilt(draft)}"
        return Verdict.PASS, ((f"theta {tokens.theta:+.3f} [{tokens.theta_low:+.3f}, {tokens.theta_high:+.3f}]{tilt} "
                               "and every outcome interval inside their margins"),)
    bad = [o for o in outcomes if o.significant and not o.rates.equivalent]
    if bad:
        o = bad[0]
        return Verdict.FAIL, ((f"task {o.task}: outcome rate differs by {o.rates.diff:+.3f} "
                               f"[{o.rates.ci_low:+.3f}, {o.rates.ci_high:+.3f}] (p {o.rates.p_value:.2g})"),)
    reasons = []
    if not tokens.theta_equivalent:
        reasons.append(f"theta {tokens.theta:+.3f} [{tokens.theta_low:+.3f}, {tokens.theta_high:+.3f}] not inside "
                       f"+-{theta_margin}")
    if not draft_ok:
        assert draft is not None
        reasons.append(f"draft tilt lambda {_tilt(draft)} not inside +-{draft_margin}")
    reasons += [f"task {o.task}: outcome interval [{o.rates.ci_low:+.3f}, {o.rates.ci_high:+.3f}] not inside "
                f"+-{o.rates.margin}" for o in outcomes if not o.rates.equivalent]
    return Verdict.INCONCLUSIVE, tuple(reasons) or ("no outcome cell",)


def _tilt(draft: DraftLevel) -> str:
    return f"{draft.tilt:+.3f} [{draft.low:+.3f}, {draft.high:+.3f}]"


def contrast(arm: str, reference: str, role: Role, tokens: TokenLevel, outcomes: Sequence[OutcomeLevel], *,
             theta_margin: float, draft_margin: float = DEFAULT_DRAFT_MARGIN,
             soft_excess: SoftLeakExcess | None = None) -> SampledContrast:
    """A contrast with its verdict and, when INCONCLUSIVE, the tokens (the larger of theta's and lambda's sizing
    rule, for whichever is not yet equivalent) and prompts that would decide it."""
    verdict, reasons = decide(tokens, outcomes, theta_margin=theta_margin, draft_margin=draft_margin,
                              soft_excess=soft_excess)
    need_tokens = need_prompts = None
    if verdict is Verdict.INCONCLUSIVE:
        sizes = []
        if not tokens.theta_equivalent and tokens.mean_varentropy > 0:
            sizes.append(math.ceil(tokens_needed(theta_margin, tokens.mean_varentropy)))
        draft = tokens.draft
        if draft is not None and not draft.equivalent and draft.mean_variance > 0:
            sizes.append(math.ceil(tokens_needed(draft_margin, draft.mean_variance)))
        need_tokens = max(sizes, default=None)
        wanted = [prompts_needed(o.rates) for o in outcomes if not o.rates.equivalent]
        need_prompts = max((w for w in wanted if w is not None), default=None)
    return SampledContrast(arm, reference, role, tokens, tuple(outcomes), verdict, reasons, need_tokens, need_prompts,
                           soft_excess)


def soft_leak_excess(arm: TokenLevel, nulls: Sequence[TokenLevel], alpha: float) -> SoftLeakExcess | None:
    """A candidate's soft leaks against its null arms' pooled (None without a null arm)."""
    from tais.stats.rate_excess import rate_excess_p

    if not nulls:
        return None
    null_leaks, null_tokens = sum(n.soft_leaks for n in nulls), sum(n.n_tokens for n in nulls)
    p = rate_excess_p(arm.soft_leaks, arm.n_tokens, null_leaks, null_tokens)
    return SoftLeakExcess(arm.soft_leaks, arm.n_tokens, null_leaks, null_tokens, p, p < alpha)


def overall(contrasts: Sequence[SampledContrast]) -> Verdict:
    """FAIL if any candidate fails, else INCONCLUSIVE if any is (or there is none), else PASS."""
    verdicts = [c.verdict for c in contrasts if c.role is Role.CANDIDATE]
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    if not verdicts or Verdict.INCONCLUSIVE in verdicts:
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


@dataclass(frozen=True)
class DraftScores:
    """The draft log-ratio at every token of one arm: ``draft`` names where the draft's laws came from;
    ``observed`` = h(x_t), ``mean`` = E_q h, ``variance`` = Var_q h, each [n] in the order of the arm's tokens."""

    draft: str
    observed: ArrayLike  # [n]
    mean: ArrayLike  # [n]
    variance: ArrayLike  # [n]
    split: OutcomeSplit | None = None  # accepted / recovered parts, where the arm records token origins


def token_level(laws: ReferenceLaws, tokens: ArrayLike, clusters: ArrayLike, *, hard_leaks: int, soft_leaks: int,
                theta_margin: float, alpha: float, seed: int = 0, left_out: int = 0, draft: DraftScores | None = None,
                draft_margin: float = DEFAULT_DRAFT_MARGIN, draft_skipped: str = "",
                tail: TailCount | None = None) -> TokenLevel:
    """The token-level figures of one arm: ``laws`` the reference's sampling laws
    (:class:`tais.stats.predictable.ReferenceLaws`) at the arm's ``tokens`` [n], ``clusters`` [n] their prompts;
    ``seed`` draws the randomised PIT (recorded as ``pit_seed``); ``draft`` the draft log-ratio where the draft is
    known (else ``draft_skipped`` may say why it is not); ``tail`` the unlisted-token count of a listed law."""

    level = _judged(laws, tokens, clusters, hard_leaks=hard_leaks, soft_leaks=soft_leaks, theta_margin=theta_margin,
                    alpha=alpha, seed=seed, left_out=left_out, draft=draft, draft_margin=draft_margin,
                    draft_skipped=draft_skipped)
    if tail is None:
        return level
    figures = TailLevel(tail.unlisted, tail.n, tail.expected_max, tail.p_value, tail.p_value < alpha)
    return replace(level, tail=figures)


def _judged(laws: ReferenceLaws, tokens: ArrayLike, clusters: ArrayLike, *, hard_leaks: int, soft_leaks: int,
            theta_margin: float, alpha: float, seed: int, left_out: int, draft: DraftScores | None,
            draft_margin: float, draft_skipped: str) -> TokenLevel:
    """:func:`token_level` without the tail figures."""
    import numpy as np

    from tais.stats.pit import randomised_pit
    from tais.stats.sampling_law import sampling_law_test

    if not informative(laws, tokens):
        return TokenLevel(n_tokens=laws.n, n_prompts=len(set(np.asarray(clusters).tolist())), theta=0.0,
                          theta_se=0.0, theta_low=0.0, theta_high=0.0, theta_tost_p=1.0, theta_equivalent=False,
                          surprisal_z=0.0, top1_z=0.0, pit_a2=0.0, p_holm=(1.0, 1.0, 1.0), rejects=False,
                          mean_varentropy=0.0, hard_leaks=hard_leaks, soft_leaks=soft_leaks, left_out=left_out,
                          draft_skipped=draft_skipped or "no informative token", pit_seed=seed)
    ratio = None if draft is None else (draft.observed, draft.mean, draft.variance)
    result = sampling_law_test(laws, tokens, clusters, margin=theta_margin, alpha=alpha, seed=seed,
                               draft_ratio=ratio, draft_margin=draft_margin)
    pit = randomised_pit(laws, tokens, np.random.default_rng(seed))
    histogram = np.histogram(pit, bins=10, range=(0.0, 1.0))[0]
    t = result.tempering
    d = result.draft
    level = None if d is None or draft is None else DraftLevel(draft.draft, d.tilt, d.se, d.low, d.high, d.tost_p,
                                                               d.equivalent, d.z, d.mean_variance)
    return TokenLevel(
        n_tokens=t.n_tokens, n_prompts=t.n_clusters, theta=t.theta, theta_se=t.se, theta_low=t.ci_low,
        theta_high=t.ci_high, theta_tost_p=t.tost_p, theta_equivalent=t.equivalent, surprisal_z=t.z,
        top1_z=result.top1.z, pit_a2=result.pit.statistic, p_holm=result.combined.p_holm,
        rejects=result.combined.reject, mean_varentropy=t.mean_varentropy, hard_leaks=hard_leaks,
        soft_leaks=soft_leaks, pit_histogram=tuple(int(c) for c in histogram), left_out=left_out, draft=level,
        draft_skipped=draft_skipped, pit_seed=seed)


def informative(laws: ReferenceLaws, tokens: ArrayLike) -> bool:
    """Whether any judged token's law has varentropy: with none judged (all left out) or every law deterministic
    (a single listed token, top-k 1, or uniform laws) the tempering has nothing to measure and theta is undefined.

    >>> from tais.stats.predictable import ReferenceLaws
    >>> informative(ReferenceLaws.top([[3]], [[1.0]]), [3]), informative(ReferenceLaws.full([[0.7, 0.3]]), [1])
    (False, True)
    """
    from tais.stats.predictable import surprisal_scores

    return laws.n > 0 and float(surprisal_scores(laws, tokens)[2].sum()) > 0


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
