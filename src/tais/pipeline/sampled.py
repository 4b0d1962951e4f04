"""The temperature > 0 phase of a run: teacher-force every sampled completion of every candidate and null arm through
the reference arm, build the reference's *sampling* law at each emitted token, and keep the token-level figures
(:class:`tais.screen.sampled.TokenLevel`) in the store; :func:`sampled_section` then joins them with the outcome rates
into the :class:`~tais.screen.sampled.SampledScreen` of the evidence.

Laws. With an ``hf`` reference the full float32 log-softmax rows (``log_prob_rows``) go through the reference arm's
own temperature, top-k and top-p (:func:`tais.engines.speculative.truncation.truncated_logits`, the order of
transformers and vLLM): exact laws, cut to the ``sampled.top`` most likely tokens plus the exact mass of the rest.
Another reference backend gives its top ``sampled.top`` raw log-probabilities (``score_tokens``); the law is then
tempered from those with the unlisted mass bounded above (``exact_laws`` false in the evidence).

Leaks (exact laws only). A token of probability 0 under the reference's law is a *soft* leak; it is a *hard* leak when
the tempered mass of the tokens more likely than it reaches ``top_p + tau_p``, or its scaled logit lies more than
``tau_logit`` below the k-th largest: far outside the support, impossible for a correct sampler whatever the
rounding.

The figures are stored once per run (``meta`` key ``sampled-tokens/<run id>``), so a resumed or re-screened run
reads them back without an engine and ``tais verify`` re-derives the same evidence. The theta margin and the leak
tolerances are the config's ``sampled:`` keys, alpha the run's; the outcome level uses the current thresholds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from tais.battery import messages_for
from tais.errors import CannotTeacherForce, EngineError
from tais.interfaces import Engine
from tais.screen.result import ScreenResult
from tais.screen.sampled import (
    OutcomeLevel,
    SampledScreen,
    TokenLevel,
    contrast,
    overall,
    prompt_rates,
    token_level,
)
from tais.stats.predictable import ReferenceLaws
from tais.stats.prompt_rates import prompt_rate_difference
from tais.store import RunStore
from tais.types import (
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
                         reference_engine: Callable[[], Engine]) -> StoredTokens | None:
    """Run the phase unless the reference samples greedily or the run's figures are already stored; returns them."""
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
            try:
                laws, tokens, clusters, hard, soft, exact_arm = arm_laws(engine, messages,
                                                                         inputs.completions[arm.name], sampling,
                                                                         settings)
            except CannotTeacherForce as exc:
                raise EngineError(f"the reference samples at temperature {sampling.temperature}, and a T > 0 screen "
                                  f"teacher-forces every sample through it, which it cannot: {exc}") from None
            exact = exact and exact_arm
            figures[arm.name] = token_level(laws, tokens, clusters, hard_leaks=hard, soft_leaks=soft,
                                            theta_margin=settings.theta_margin, alpha=alpha)
    stored = StoredTokens(sampling.temperature, sampling.top_p, sampling.top_k, settings.theta_margin,
                          settings.tau_p, settings.tau_logit, exact, figures)
    store.put_meta(meta_key(inputs.run.id), stored.to_json())
    return stored


def arm_laws(engine: Engine, messages: Mapping[str, tuple[ChatMessage, ...]],
             completions: Mapping[CompletionKey, Completion], sampling: SamplingParams,
             settings: SampledModel) -> tuple[ReferenceLaws, np.ndarray, np.ndarray, int, int, bool]:
    """The reference's laws at every token of ``completions`` (item id -> its chat ``messages``): (laws, tokens [n],
    prompt index [n], hard leaks, soft leaks, exact)."""
    prompt_index = {item_id: i for i, item_id in enumerate(messages)}
    requests = [ScoringRequest(Request(key.item_id, sampling, messages=messages[key.item_id],
                                       replicate=key.replicate), tuple(c.token_ids), top_k=settings.top)
                for key, c in sorted(completions.items()) if c.token_ids]
    exact = hasattr(engine, "log_prob_rows")
    parts: list[tuple[np.ndarray, ...]] = []
    for start in range(0, len(requests), BATCH):
        batch = requests[start:start + BATCH]
        if exact:
            rows = engine.log_prob_rows(batch)  # type: ignore[attr-defined]  # exact: hasattr checked above
            parts += [exact_law(row, r.token_ids, sampling, settings) for row, r in zip(rows, batch)]
        else:
            parts += [listed_law(s, sampling, settings) for s in engine.score_tokens(batch)]
    ids, probs, hard, soft = (np.concatenate([p[i] for p in parts]) for i in range(4))
    tokens = np.concatenate([np.asarray(r.token_ids) for r in requests])
    clusters = np.concatenate([np.full(len(r.token_ids), prompt_index[r.request.item_id]) for r in requests])
    return ReferenceLaws.top(ids, probs), tokens, clusters, int(hard.sum()), int(soft.sum()), exact


def exact_law(log_probs: Any, tokens: Sequence[int], sampling: SamplingParams,
              settings: SampledModel) -> tuple[np.ndarray, ...]:
    """From full log-softmax rows ``log_probs`` [n, vocab] (torch, on any device) at the emitted ``tokens`` [n]: the
    top ``settings.top`` (ids [n, top], probabilities [n, top]) of the sampling law, hard leaks [n], soft leaks [n]
    (numpy, on the CPU)."""
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
    return (top.indices.cpu().numpy(), top.values.double().cpu().numpy(), (hard & soft).cpu().numpy(),
            soft.cpu().numpy())


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
                                  theta_margin=stored.theta_margin))
    return SampledScreen(stored.temperature, stored.top_p, stored.top_k, stored.theta_margin, stored.tau_p,
                         stored.tau_logit, stored.exact_laws, tuple(contrasts), overall(contrasts))


def with_sampled_section(result: ScreenResult, section: SampledScreen | None) -> ScreenResult:
    """``result`` with its T > 0 section; at T > 0 the screen's verdict is the section's (None: unchanged)."""
    if section is None:
        return result
    return replace(result, sampled=section, verdict=section.verdict)


def _outcomes(inputs: RunInputs, arm: str, items: Sequence[str]) -> dict[tuple[str, int], int | None]:
    wanted = set(items)
    return {(k.item_id, k.replicate): s.outcome for k, s in inputs.scores[arm].items() if k.item_id in wanted}
