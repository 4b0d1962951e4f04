"""The temperature > 0 phase of a run: teacher-force every sampled completion of every candidate and null arm through
the reference arm, build the reference's *sampling* law at each emitted token, and keep the token-level figures
(:class:`tais.screen.sampled.TokenLevel`) in the store; :func:`sampled_section` then joins them with the outcome rates
into the :class:`~tais.screen.sampled.SampledScreen` of the evidence.

Laws. With an ``hf`` reference the full float32 log-softmax rows (``log_prob_rows``) go through the reference arm's
own temperature, top-k and top-p (:func:`tais.engines.speculative.truncation.truncated_logits`, the order of
transformers and vLLM): exact laws, cut to the ``sampled.top`` most likely tokens plus the exact mass of the rest.
Another reference backend gives its top ``sampled.top`` raw log-probabilities (``score_tokens``); the law is then
tempered from those with the unlisted mass bounded above (``exact_laws`` false in the evidence).

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
from typing import TYPE_CHECKING, Any

import numpy as np

from tais.battery import messages_for
from tais.errors import CannotTeacherForce, EngineError
from tais.interfaces import Engine
from tais.pipeline.draft_ratio import LISTED_LAWS, DraftPlan, draft_plan, draft_rows_of, ratio_scores
from tais.screen.result import ScreenResult
from tais.screen.sampled import (
    DraftScores,
    OutcomeLevel,
    SampledScreen,
    TokenLevel,
    contrast,
    overall,
    prompt_rates,
    token_level,
)
from tais.stats.draft_tilt import DEFAULT_DRAFT_MARGIN
from tais.stats.predictable import ReferenceLaws
from tais.stats.prompt_rates import prompt_rate_difference
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
                        forced = teacher_force(engine, messages, inputs.completions[arm.name], sampling, settings,
                                               draft=(plan.label, draft_rows_of(drafter, plan), spec.sampling))
                else:
                    forced = teacher_force(engine, messages, inputs.completions[arm.name], sampling, settings)
            except CannotTeacherForce as exc:
                raise EngineError(f"the reference samples at temperature {sampling.temperature}, and a T > 0 screen "
                                  f"teacher-forces every sample through it, which it cannot: {exc}") from None
            exact = exact and forced.exact
            draft, skipped = measured_draft(plan, forced)
            figures[arm.name] = token_level(forced.laws, forced.tokens, forced.clusters, hard_leaks=forced.hard,
                                            soft_leaks=forced.soft, theta_margin=settings.theta_margin, alpha=alpha,
                                            seed=pit_seed(inputs.run.id, arm.name), draft=draft,
                                            draft_margin=settings.draft_margin, draft_skipped=skipped)
    stored = StoredTokens(sampling.temperature, sampling.top_p, sampling.top_k, settings.theta_margin,
                          settings.tau_p, settings.tau_logit, exact, figures, settings.draft_margin)
    store.put_meta(meta_key(inputs.run.id), stored.to_json())
    return stored


def measured_draft(plan: DraftPlan | str | None, forced: ForcedArm) -> tuple[DraftScores | None, str]:
    """The draft log-ratio to test, or None with why not (empty when the arm has no draft)."""
    if isinstance(plan, str):
        return None, plan
    if plan is None:
        return None, ""
    if forced.draft is None:
        return None, LISTED_LAWS if not forced.exact else "no engine to score the draft with"
    if float(np.sum(forced.draft.variance)) <= 0:
        return None, "the draft's law equals the reference's at every token (Var h = 0): no draft log-ratio"
    return forced.draft, ""


def arm_spec(stored: Mapping[str, Any]) -> ArmSpec:
    """The :class:`ArmSpec` of a stored arm spec (the run's own keys beside it, such as the request ``order``, left
    out)."""
    names = {f.name for f in fields(ArmSpec)}
    return ArmSpec.from_dict({k: v for k, v in stored.items() if k in names})


@dataclass(frozen=True)
class ForcedArm:
    """One arm's samples teacher-forced through the reference (and its draft): the reference's ``laws`` at every
    token, ``tokens`` [n], ``clusters`` [n] (prompt index), hard and soft leak counts, whether the laws are
    ``exact``, and the draft log-ratio (None where not measured)."""

    laws: ReferenceLaws
    tokens: np.ndarray  # [n]
    clusters: np.ndarray  # [n]
    hard: int
    soft: int
    exact: bool
    draft: DraftScores | None


DraftSource = tuple[str, Callable[[Sequence[ScoringRequest]], list[Any]], SamplingParams]
"""A draft to score against: its label, its rows function (requests -> log-softmax rows [n, vocab] each) and the
arm's sampling params (the draft's law is the arm's temperature / top-k / top-p on those rows)."""


def teacher_force(engine: Engine, messages: Mapping[str, tuple[ChatMessage, ...]],
                  completions: Mapping[CompletionKey, Completion], sampling: SamplingParams, settings: SampledModel,
                  draft: DraftSource | None = None) -> ForcedArm:
    """The reference's laws at every token of ``completions`` (item id -> its chat ``messages``), batch by batch;
    with ``draft`` and exact laws, the draft log-ratio of each token too (no batch's full rows are kept)."""
    prompt_index = {item_id: i for i, item_id in enumerate(messages)}
    requests = [ScoringRequest(Request(key.item_id, sampling, messages=messages[key.item_id],
                                       replicate=key.replicate), tuple(c.token_ids), top_k=settings.top)
                for key, c in sorted(completions.items()) if c.token_ids]
    exact = hasattr(engine, "log_prob_rows")
    with_draft = exact and draft is not None
    parts: list[tuple[np.ndarray, ...]] = []
    ratios: list[tuple[np.ndarray, ...]] = []
    for start in range(0, len(requests), BATCH):
        batch = requests[start:start + BATCH]
        if exact:
            rows = engine.log_prob_rows(batch)  # type: ignore[attr-defined]  # exact: hasattr checked above
            parts += [exact_law(row, r.token_ids, sampling, settings) for row, r in zip(rows, batch)]
            if with_draft:
                assert draft is not None
                _, draft_rows, arm_sampling = draft
                ratios += [ratio_scores(row, d, r.token_ids, sampling, arm_sampling)
                           for row, d, r in zip(rows, draft_rows(batch), batch)]
            del rows
        else:
            parts += [listed_law(s, sampling, settings) for s in engine.score_tokens(batch)]
    ids, probs, hard, soft = (np.concatenate([p[i] for p in parts]) for i in range(4))
    tokens = np.concatenate([np.asarray(r.token_ids) for r in requests])
    clusters = np.concatenate([np.full(len(r.token_ids), prompt_index[r.request.item_id]) for r in requests])
    scores = None
    if with_draft:
        assert draft is not None
        scores = DraftScores(draft[0], *(np.concatenate([r[i] for r in ratios]) for i in range(3)))
    return ForcedArm(ReferenceLaws.top(ids, probs), tokens, clusters, int(hard.sum()), int(soft.sum()), exact, scores)


def arm_laws(engine: Engine, messages: Mapping[str, tuple[ChatMessage, ...]],
             completions: Mapping[CompletionKey, Completion], sampling: SamplingParams,
             settings: SampledModel) -> tuple[ReferenceLaws, np.ndarray, np.ndarray, int, int, bool]:
    """The reference's laws at every token of ``completions`` (item id -> its chat ``messages``): (laws, tokens [n],
    prompt index [n], hard leaks, soft leaks, exact); :func:`teacher_force` without a draft."""
    f = teacher_force(engine, messages, completions, sampling, settings)
    return f.laws, f.tokens, f.clusters, f.hard, f.soft, f.exact


def exact_law(log_probs: Any, tokens: Sequence[int], sampling: SamplingParams,
              settings: SampledModel) -> tuple[np.ndarray, ...]:
    """From full log-softmax rows ``log_probs`` [n, vocab] (torch) at the emitted ``tokens`` [n]: the top
    ``settings.top`` (ids [n, top], probabilities [n, top]) of the sampling law, hard leaks [n], soft leaks [n]."""
    import torch

    from tais.engines.speculative.truncation import Law, truncated_logits

    law = Law.of([sampling])
    z = truncated_logits(log_probs[None], law)[0]  # [n, vocab]
    probs = z.softmax(-1)
    top = probs.topk(min(settings.top, probs.shape[-1]), dim=-1)
    tok = torch.tensor(list(tokens), dtype=torch.long)[:, None]  # [n, 1]
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
    return (top.indices.numpy(), top.values.double().numpy(), (hard & soft).numpy(), soft.numpy())


def listed_law(scores: Any, sampling: SamplingParams, settings: SampledModel) -> tuple[np.ndarray, ...]:
    """From teacher-forced top-k raw log-probabilities (:class:`tais.types.TokenScores`): the tempered law over the
    listed tokens, top-k and top-p applied to them, the unlisted mass bounded above by ``rest * p_K**(1/T - 1)`` (no
    unlisted token is more likely than the last listed one); no hard leaks are claimed from a partial law."""
    width = settings.top
    n = len(scores.positions)
    ids = np.full((n, width), -1, dtype=np.int64)
    probs = np.zeros((n, width))
    soft = np.zeros(n, dtype=bool)
    for j, (pos, token) in enumerate(zip(scores.positions, scores.token_ids)):
        listed = sorted(pos.top, key=lambda t: -t[1])[:width]
        lp = np.array([v for _, v in listed])
        rest = max(0.0, 1.0 - float(np.exp(lp).sum()))
        w = np.exp((lp - lp[0]) / sampling.temperature)
        tail = rest * np.exp(lp[-1] * (1 / sampling.temperature - 1) - lp[0] / sampling.temperature)
        if sampling.top_k > 0:
            w[sampling.top_k:] = 0.0
            tail = 0.0 if sampling.top_k <= len(w) else tail
        total = w.sum() + tail
        p = w / total
        if sampling.top_p < 1:
            before = np.cumsum(p) - p
            p = np.where(before < sampling.top_p, p, 0.0)
            p = p / p.sum()
        ids[j, :len(p)] = [t for t, _ in listed]
        probs[j, :len(p)] = p
        soft[j] = int(token) in ids[j] and p[list(ids[j]).index(int(token))] == 0
    return ids, probs, np.zeros(n, dtype=bool), soft


def sampled_section(inputs: RunInputs, thresholds: Thresholds) -> SampledScreen | None:
    """The T > 0 section of the evidence from the stored token figures and the run's scores (None at T = 0)."""
    stored = inputs.sampled_tokens
    if stored is None:
        return None
    ref = next(a for a in inputs.arms if a.role is Role.REFERENCE)
    replicates = int(inputs.run.plan.replicates)
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
                                               margin=thresholds.margin, alpha=thresholds.alpha)
                outcomes.append(OutcomeLevel(task.name, replicates, rates))
        contrasts.append(contrast(arm.name, ref.name, arm.role, stored.arms[arm.name], outcomes,
                                  theta_margin=stored.theta_margin, draft_margin=stored.draft_margin))
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
