"""The draft log-ratio of the temperature > 0 phase: where a candidate's draft is known, every sample is teacher-forced
through the draft as well, and at each emitted token the log-ratio ``h(x) = log d_t(x) - log q_t(x)`` of the draft's
sampling law ``d_t`` (the arm's own temperature, top-k, top-p) to the reference's ``q_t`` is reduced to ``(h(x_t),
E_q h, Var_q h)`` (:func:`ratio_scores`, one completion at a time: no [n, vocab] array outlives its batch).

Which draft (:func:`draft_plan`):

- an ``hf`` arm whose speculative proposer drafts with a model: the arm's own engine gives the rows
  (:meth:`tais.engines.hf.engine.HFEngine.draft_log_prob_rows`: the ``draft`` proposer's draft model, the
  ``quantized`` proposer's int8 copy of the target);
- another backend (vLLM, ...) whose arm names a ``draft:`` model (or a ``speculative.model`` with no method or
  ``draft_model``): an ``hf`` engine of that draft in float32 on the CPU (``log_prob_rows``), teacher-forced on the
  *reference's* rendering of the prompt (:func:`draft_rows_of`): vLLM's proposer continues the target's token ids, not
  a rendering through the draft's own chat template, which may differ or be missing (a base-model draft);
- no log-ratio (said in the evidence, ``draft_skipped``): the ``ngram`` proposer (its draft is a point mass on the
  looked-up token), the ``self`` proposer (d = q: the log-ratio is 0), a speculative method without a draft model,
  and any arm when the reference's laws are listed (its top tokens only), since ``E_q h`` needs the full law.

Which law (:attr:`DraftPlan.law`): the one the arm's proposer drafts from. tais's own proposers draft under the arm's
temperature, top-k and top-p. vLLM's draft proposer (0.32) applies the request's temperature only (its
``draft_sample_method: probabilistic``; top-k and top-p are ignored when drafting), so a ``vllm`` / ``vllm-server``
arm's draft law is the arm's temperature alone; with vLLM's default ``greedy`` it drafts the draft's argmax (a point
mass, treated as one-hot by its rejection sampler), and the log-ratio is still taken against the draft's law at the
arm's temperature (said in the label): the draft tilt's family q^(1 - lambda) d^lambda and its margin need a draft
law with full support.

The score is valid whatever ``d_t`` is (any score fixed before ``x_t`` is N(0, 1) under H0), so a draft law that
differs slightly from the one the sampler used (an adversarial draft's system prompt and logit bias are left out;
a greedy vLLM proposer; a vLLM draft run in another dtype than the float32 copy) costs power, never calibration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tais.engines.speculative.config import SpeculativeConfig
from tais.stats.predictable import DEFAULT_CLIP
from tais.types import ArmSpec, Request, SamplingParams, ScoringRequest

LISTED_LAWS = ("the reference's laws are listed (its top tokens only): the draft log-ratio needs its full law, "
               "so it is not measured")


@runtime_checkable
class LogProbRows(Protocol):
    """An engine that gives its full float32 log-softmax rows at every forced position (the hf engine)."""

    def log_prob_rows(self, requests: Sequence[ScoringRequest]) -> list[Any]: ...


@runtime_checkable
class DraftLogProbRows(Protocol):
    """An engine that gives its *draft's* full float32 log-softmax rows at every forced position (the hf engine of an
    arm whose proposer drafts with a model)."""

    def draft_log_prob_rows(self, requests: Sequence[ScoringRequest]) -> list[Any]: ...


@runtime_checkable
class PromptIds(Protocol):
    """An engine that says how it renders a request's prompt as token ids (the hf engine)."""

    def prompt_ids(self, request: Request) -> list[int]: ...


#: vLLM backends, whose draft proposer samples at the request's temperature alone (or greedily)
VLLM_BACKENDS = ("vllm", "vllm-server")


@dataclass(frozen=True)
class DraftPlan:
    """How to get an arm's draft laws: build the engine of ``spec`` and call ``draft_log_prob_rows`` on it (``own``:
    the arm's own engine) or ``log_prob_rows`` (an hf engine of the draft model); ``label`` says which draft, in the
    evidence; ``law`` is the sampling law the arm's proposer drafts from (module docstring)."""

    label: str
    spec: ArmSpec
    own: bool
    law: SamplingParams


def draft_plan(spec: ArmSpec) -> DraftPlan | str | None:
    """The draft of an arm (rules of the module docstring): a :class:`DraftPlan`, a reason why its draft gives no
    log-ratio, or None for an arm without a draft.

    >>> draft_plan(ArmSpec("a", "hf", "m", speculative={"proposer": "draft"}, draft="file:d")).label
    'draft proposer: file:d'
    >>> draft_plan(ArmSpec("a", "hf", "m", speculative={"proposer": "ngram"}))[:40]
    "the ngram proposer's draft is a point ma"
    >>> law = SamplingParams(temperature=0.8, top_k=20, top_p=0.9)
    >>> plan = draft_plan(ArmSpec("a", "vllm", "m", draft="hf:org/d", sampling=law,
    ...                           speculative={"num_speculative_tokens": 3, "draft_sample_method": "probabilistic"}))
    >>> plan.label, plan.spec.backend, plan.spec.dtype, plan.own
    ('draft hf:org/d (hf, float32)', 'hf', 'float32', False)
    >>> plan.law.temperature, plan.law.top_k, plan.law.top_p  # vLLM drafts at the temperature alone
    (0.8, 0, 1.0)
    >>> draft_plan(ArmSpec("a", "vllm", "m", draft="hf:org/d", speculative={"num_speculative_tokens": 3})).label
    "draft hf:org/d (hf, float32; vLLM drafts greedily: scored at the arm's temperature)"
    >>> draft_plan(ArmSpec("a", "vllm", "m")) is None
    True
    """
    if spec.backend == "hf":
        config = SpeculativeConfig.parse(spec.speculative)
        if config is None:
            return None
        if config.proposer == "ngram":
            return "the ngram proposer's draft is a point mass on the looked-up token: no draft log-ratio"
        if config.proposer == "self":
            return "the self proposer drafts with the target itself (d = q): no draft log-ratio"
        label = (f"draft proposer: {spec.draft}" if config.proposer == "draft"
                 else "quantized proposer: int8 copy of the target")
        return DraftPlan(label, spec, own=True, law=spec.sampling)
    block = dict(spec.speculative)
    source = spec.draft
    if source is None and block.get("method") in (None, "draft_model"):
        source = block.get("model")
    if source is None:
        return f"the speculative method {block.get('method')!r} names no draft model: no draft log-ratio" if block \
            else None
    draft = ArmSpec(name=f"{spec.name}-draft", backend="hf", model=str(source), role=spec.role, dtype="float32",
                    device="cpu", sampling=spec.sampling)
    if spec.backend not in VLLM_BACKENDS:
        return DraftPlan(f"draft {source} (hf, float32)", draft, own=False, law=spec.sampling)
    law = replace(spec.sampling, top_k=0, top_p=1.0)
    greedy = block.get("draft_sample_method", "greedy") == "greedy"
    note = "; vLLM drafts greedily: scored at the arm's temperature" if greedy else ""
    return DraftPlan(f"draft {source} (hf, float32{note})", draft, own=False, law=law)


def draft_rows_of(engine: Any, plan: DraftPlan,
                  reference: Any = None) -> Callable[[Sequence[ScoringRequest]], list[Any]]:
    """The rows function of ``plan`` on its built ``engine`` (requests -> [n, vocab] tensors). A separate draft
    engine (not ``own``) is given the prompt ids as the ``reference`` engine renders them, where it can say
    (:class:`PromptIds`): the draft then sees the prefix the reference's laws condition on, not its own chat
    template's rendering."""
    if plan.own:
        if not isinstance(engine, DraftLogProbRows):
            raise TypeError(f"the engine of arm {plan.spec.name!r} gives no draft rows")
        return engine.draft_log_prob_rows
    if not isinstance(engine, LogProbRows):
        raise TypeError(f"the engine of {plan.label} gives no full log-probability rows")
    if not isinstance(reference, PromptIds):
        return engine.log_prob_rows
    rows, render = engine.log_prob_rows, reference.prompt_ids

    def aligned(requests: Sequence[ScoringRequest]) -> list[Any]:
        return rows([r if r.prompt_token_ids is not None else replace(r, prompt_token_ids=tuple(render(r.request)))
                     for r in requests])

    return aligned


def ratio_scores(reference_rows: Any, draft_rows: Any, tokens: Sequence[int], reference: SamplingParams,
                 arm: SamplingParams, clip: float = DEFAULT_CLIP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(h(x_t), E_q h, Var_q h)`` [n] of the draft log-ratio for one completion: ``reference_rows`` [n, vocab]
    and ``draft_rows`` [n, draft vocab] (torch, log-softmax) at its emitted ``tokens`` [n]; ``q`` is the reference's
    sampling law, ``d`` the draft's under the arm's ``arm`` sampling params (its columns cut or padded with -inf to
    the reference's vocabulary first, as the sampler does). In float64, clipped to [-clip, clip] like
    :func:`tais.stats.predictable.log_ratio_scores` (0 where both laws are 0), which the tests compare it with. The
    rows may live on any device; the results come back as numpy arrays."""
    import torch

    from tais.engines.speculative.truncation import Law, truncated_logits

    vocab = reference_rows.shape[-1]
    d = draft_rows[:, :vocab]
    if d.shape[-1] < vocab:
        d = torch.cat([d, torch.full((d.shape[0], vocab - d.shape[-1]), float("-inf"), device=d.device)], dim=-1)
    log_q = torch.log_softmax(truncated_logits(reference_rows[None], Law.of([reference]))[0].double(), -1)
    log_d = torch.log_softmax(truncated_logits(d[None], Law.of([arm]))[0].double(), -1)  # [n, vocab]
    ratio = torch.nan_to_num((log_d - log_q).clamp(-clip, clip), nan=0.0)  # -inf - -inf = nan: both laws 0
    q = log_q.exp()
    mean = (q * ratio).sum(-1)
    second = (q * ratio * ratio).sum(-1)
    h = ratio.gather(1, torch.tensor(list(tokens), dtype=torch.long, device=ratio.device)[:, None])[:, 0]
    return h.cpu().numpy(), mean.cpu().numpy(), (second - mean * mean).clamp_min(0.0).cpu().numpy()
