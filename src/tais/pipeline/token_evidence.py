"""Token-level evidence in ``tais run`` (issue 16): the re-scoring phase's call site and the analysis's reading.

- :func:`rescore_phase` (``tais run``, after scoring, progress phase ``rescore``): unless the config says
  ``token_evidence: off`` or an arm samples at temperature > 0, fills the store's ``scorings`` table through
  :func:`tais.pipeline.rescoring.rescore_run`
  for every candidate and null arm, and returns the :class:`~tais.store.run_plan.RescoringRecord` that goes into
  the :class:`~tais.store.RunPlan` (``rescoring``). A rerun scores nothing already stored, and reuses the exact KL
  of the newest recorded run when its arms and tasks are the same.
- :func:`load_token_inputs` (``read_run``): the stored scorings and completion rows the plan's record names; None
  for a run without one (``token_evidence: off``, or recorded before the phase existed).
- :func:`build_token_evidence` (``analyse_run``): per (arm, task) cell the typed
  :class:`~tais.screen.token_cells.CellTokenEvidence` under the screen's tau; :func:`with_token_evidence` then
  re-decides the candidate cells' leak rule (:func:`tais.screen.token_cells.apply_token_evidence`) and the verdict.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from tais.errors import InputError
from tais.pipeline.config import ArmSetup
from tais.pipeline.rescoring import EngineFactory, rescore_run
from tais.screen.cells import decide
from tais.screen.result import ScreenResult
from tais.screen.token_cells import (
    CellTokenEvidence,
    LeakSite,
    TokenEvidence,
    TokenStrip,
    apply_token_evidence,
)
from tais.screen.token_metrics import position_metrics_from_scores, summarize
from tais.screen.trajectory import (
    Tolerances,
    TrajectoryForensics,
    classify_trajectory,
    summarize_cell,
)
from tais.screen.verdict import decide_screen
from tais.store import CompletionKey, RunPlan, RunStore
from tais.store.run_plan import RescoringRecord
from tais.store.run_store import StoredCompletion
from tais.types import Completion, Request, Role, Thresholds, TokenScores

TokenEvidenceMode = Literal["auto", "off"]


def rescore_phase(mode: TokenEvidenceMode, store: RunStore, arms: Sequence[ArmSetup], plan: RunPlan,
                  requests: Mapping[CompletionKey, Request], make_engine: EngineFactory,
                  notify: Callable[[], None] | None = None) -> RescoringRecord | None:
    """The re-scoring phase of ``tais run`` (module docstring); None when ``mode`` is ``off``, or when an arm samples
    at temperature > 0 (whole-trajectory forensics judge greedy decoding: a sampled token is not its target's top-1
    by design, so the leak rule does not apply)."""
    if mode == "off" or any(a.spec.sampling.temperature > 0 for a in arms):
        return None
    if notify:
        notify()
    fingerprints = {a.name: a.fingerprint for a in plan.arms}
    keys_by_task = {t.name: t.keys() for t in plan.tasks}
    keys = [k for task_keys in keys_by_task.values() for k in task_keys]
    record = rescore_run(store, arms, fingerprints, keys, requests, make_engine, keys_by_task=keys_by_task,
                         exact_kl=_previous_exact_kl(store, plan))
    # the plan is compared with the stored one on a rerun: hold exactly what its JSON round trip gives back
    return RescoringRecord.from_dict(json.loads(json.dumps(record.to_dict())))


def _previous_exact_kl(store: RunStore, plan: RunPlan) -> Mapping | None:
    try:
        latest = store.latest_run()
    except InputError:  # no run recorded yet, or one this tais cannot read: compute afresh
        return None
    prev = latest.plan
    if prev.rescoring is None or prev.arms != plan.arms or prev.tasks != plan.tasks:
        return None
    return prev.rescoring.exact_kl


@dataclass(frozen=True)
class TokenInputs:
    """What the token evidence reads from the store: the plan's record, the scorings under the reference's and
    each target's fingerprint (completion sha256 -> scores), and every arm's completion rows."""

    record: RescoringRecord
    under_reference: Mapping[str, TokenScores]
    under_target: Mapping[str, Mapping[str, TokenScores]]
    rows: Mapping[str, Mapping[CompletionKey, StoredCompletion]]


def load_token_inputs(store: RunStore, plan: RunPlan) -> TokenInputs | None:
    record = plan.rescoring
    if record is None:
        return None
    ref = record.reference.fingerprint
    return TokenInputs(
        record=record,
        under_reference=store.scorings(ref) if ref else {},
        under_target={arm: store.scorings(t.fingerprint) for arm, t in record.targets.items() if t.fingerprint},
        rows={a.name: store.completions(a.fingerprint) for a in plan.arms},
    )


def build_token_evidence(inputs: TokenInputs, plan: RunPlan, tau: float) -> TokenEvidence:
    record = inputs.record
    if record.reference.fingerprint is None:
        return TokenEvidence(False, f"the reference cannot teacher-force: {record.reference.reason}", tau, ())
    reference = plan.reference.name
    cells = []
    for arm, target in record.targets.items():
        tol = Tolerances(tau, record.dtypes.get(reference), record.dtypes.get(arm))
        under_target = inputs.under_target.get(arm) if target.fingerprint else None
        for task in plan.tasks:
            cells.append(_cell(inputs, arm, task.name, task.keys(), reference, under_target, target.reason, tol))
    return TokenEvidence(True, None, tau, tuple(cells))


def _cell(inputs: TokenInputs, arm: str, task: str, keys: Sequence[CompletionKey], reference: str,
          under_target: Mapping[str, TokenScores] | None, reason: str | None, tol: Tolerances) -> CellTokenEvidence:
    ref_rows, cand_rows = inputs.rows.get(reference, {}), inputs.rows.get(arm, {})
    forensics: list[TrajectoryForensics] = []
    strips: list[TokenStrip] = []
    leaks: list[LeakSite] = []
    kl_metrics = []
    unscored = 0
    for key in keys:
        ref, cand = ref_rows.get(key), cand_rows.get(key)
        if ref is None or cand is None:
            continue
        if cand.completion.token_ids != ref.completion.token_ids:
            scores = inputs.under_reference.get(cand.sha256)
            if scores is None:
                unscored += 1
            else:
                result = classify_trajectory(scores, None if under_target is None else under_target.get(cand.sha256),
                                             tol)
                forensics.append(result)
                texts = _token_texts(cand.completion)
                strips.append(_strip(scores, result, texts))
                leaks += [LeakSite(key.item_id, key.replicate, f.position, f.token_id,
                                   texts[f.position] if texts else None, f.reference_top1_id, f.reference_gap,
                                   f.candidate_gap) for f in result.leaks]
        if under_target is not None:
            p, q = inputs.under_reference.get(ref.sha256), under_target.get(ref.sha256)
            if p is not None and q is not None and p.positions:
                kl_metrics.append(position_metrics_from_scores(p.positions, q.positions))
    exact = inputs.record.exact_kl.get(arm, {}).get(task)
    kl = exact if exact is not None else (summarize(kl_metrics).to_dict() if kl_metrics else None)
    return CellTokenEvidence(arm=arm, task=task, two_sided=under_target is not None, one_sided_reason=reason,
                             unscored=unscored, trajectory=summarize_cell(forensics), leaks=tuple(leaks),
                             strips=tuple(strips), kl=kl, kl_exact=bool(kl and kl.get("kl_exact")))


def _token_texts(completion: Completion) -> tuple[str, ...] | None:
    steps = completion.logprobs
    if not steps or completion.token_ids is None or len(steps) != len(completion.token_ids):
        return None
    return tuple(s.token for s in steps)


def _strip(scores: TokenScores, result: TrajectoryForensics, texts: tuple[str, ...] | None) -> TokenStrip:
    by_position = {f.position: f.cls for f in result.findings}
    return TokenStrip(scores.item_id, scores.replicate, scores.token_ids, texts,
                      tuple(max(0.0, p.top1_logprob - p.logprob) for p in scores.positions),
                      tuple(by_position.get(i) for i in range(len(scores.positions))))


def with_token_evidence(result: ScreenResult, evidence: TokenEvidence, thresholds: Thresholds) -> ScreenResult:
    """The result with its token evidence, the candidate cells' leak rule decided by it, and the verdict again."""
    cells = apply_token_evidence(result.cells, evidence, thresholds, decide)
    return replace(result, cells=cells, token_evidence=evidence,
                   verdict=decide_screen([c.verdict for c in cells if c.role is Role.CANDIDATE]))
