"""The re-scoring phase: teacher-forced token evidence after generation (issue 16).

After every arm has generated (and before the screen reads the run back), :func:`rescore_run` fills the store's
``scorings`` table with the re-scorings the token evidence needs, one scoring engine at a time:

- under the **reference** arm (speculation off): each candidate's completions that differ from the reference's
  (token ids), and the reference's own completions (P for KL);
- under each candidate's **own target** (:func:`target_spec`: the candidate arm with speculation switched off):
  the same differing candidate completions (for whole-trajectory forensics from both sides) and the reference's
  completions (Q for KL on the reference's trajectories).

Each scoring is keyed by the scoring engine's arm fingerprint and the sha256 of the completion scored, and committed
per batch, so an interrupted phase resumes with what is missing. A scoring engine that cannot teacher-force
(:class:`~tais.errors.CannotTeacherForce`) is recorded with its reason: that candidate's forensics fall back to the
reference alone (one-sided), or, when the reference cannot, to first-divergence forensics.

:func:`token_evidence` then reads the scorings back (store only, no engine) and gives, per (candidate, task) cell,
the whole-trajectory forensics (:mod:`tais.screen.trajectory`) and the KL / same-top-1 / Δp summary
(:mod:`tais.screen.token_metrics`) as one JSON-able section, ``token_evidence_version`` 1. ``kl`` is exact where
both arms ran in-process (hf: the phase computed it from full distributions, ``kl_exact: true``), else the top-k
lower bound, which is always also given as ``kl_topk``. ``unscored`` counts a
cell's differing completions that have no re-scoring (no token ids: an OpenAI server without
``return_token_ids``); they keep first-divergence forensics only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tais.errors import CannotTeacherForce, EngineError
from tais.interfaces import Engine
from tais.pipeline.config import ArmSetup
from tais.pipeline.fingerprint import arm_fingerprint
from tais.screen.token_metrics import (
    PositionMetrics,
    position_metrics,
    position_metrics_from_scores,
    summarize,
)
from tais.screen.trajectory import Tolerances, classify_trajectory, summarize_cell
from tais.store import CompletionKey, RunStore
from tais.store.run_plan import RescoringRecord, ScoringArm
from tais.types import ArmSpec, Battery, Completion, Request, Role, ScoringRequest

TOKEN_EVIDENCE_VERSION = 1
SCORING_BATCH = 32
"""Scorings committed per transaction (and asked of the engine per batch: :meth:`Engine.score_token_batches`; a
server engine keeps its requests in flight across batches)."""
EXACT_BATCH = 8
"""Completions per pass of the exact-KL computation (two models' full rows held at once)."""

EngineFactory = Callable[[ArmSpec], Engine]


def target_spec(spec: ArmSpec) -> ArmSpec:
    """The arm with speculation switched off: the same model, dtype, device and options, no draft, no speculative
    config (its name gets ``/target``; names do not enter fingerprints)."""
    return replace(spec, name=f"{spec.name}/target", speculative={}, draft=None)


@dataclass(frozen=True)
class _Job:
    key: CompletionKey
    request: Request
    completion: Completion
    sha256: str


def _jobs_of(store: RunStore, fingerprint: str, keys: Sequence[CompletionKey],
             requests: Mapping[CompletionKey, Request]) -> dict[CompletionKey, _Job]:
    stored = store.completions(fingerprint, keys, logprobs=False)  # the token ids are what is scored
    return {k: _Job(k, requests[k], s.completion, s.sha256) for k, s in stored.items()
            if s.completion.token_ids is not None}


def _score_missing(engine: Engine, fingerprint: str, store: RunStore, jobs: Sequence[_Job], top_k: int) -> int:
    """Score the jobs with no scoring under ``fingerprint`` yet, committing per batch; returns how many."""
    unique = {j.sha256: j for j in jobs}
    todo = [unique[s] for s in store.missing_scorings(fingerprint, list(unique))]
    requests = [ScoringRequest(j.request, tuple(j.completion.token_ids or ()), top_k=top_k) for j in todo]
    done = 0
    batches = engine.score_token_batches(requests, SCORING_BATCH)
    try:
        for start, scored in zip(range(0, len(todo), SCORING_BATCH), batches):
            batch = todo[start:start + SCORING_BATCH]
            if len(scored) != len(batch):
                raise EngineError(f"{engine.name}: {len(scored)} scorings for a batch of {len(batch)} requests")
            done += store.add_scorings(fingerprint, [(j.sha256, s) for j, s in zip(batch, scored)])
    finally:
        close = getattr(batches, "close", None)
        if close is not None:  # a generator: stop what it has in flight
            close()
    return done


def _scoring_arm(spec: ArmSpec, make_engine: EngineFactory, store: RunStore, jobs: Sequence[_Job], top_k: int,
                 order: str, order_seed: int) -> tuple[ScoringArm, int]:
    engine = make_engine(spec)
    try:
        fingerprint = arm_fingerprint(engine.describe(), spec, order=order, order_seed=order_seed)
        store.put_arm(fingerprint, spec.name, {**spec.to_dict(), "order": order, "order_seed": order_seed},
                      engine.describe())
        try:
            return ScoringArm(spec.name, fingerprint), _score_missing(engine, fingerprint, store, jobs, top_k)
        except CannotTeacherForce as exc:
            return ScoringArm(spec.name, None, exc.reason), 0
    finally:
        engine.close()


def _exact_kl(make_engine: EngineFactory, reference: ArmSpec, candidate: ArmSpec,
              jobs_by_task: Mapping[str, Sequence[_Job]]) -> dict[str, Any] | None:
    """task -> exact KL summary over the reference's completions, from both targets' full distributions, or None
    when either engine cannot give them (only in-process engines can: ``log_prob_rows``)."""
    ref_engine = make_engine(target_spec(reference))
    try:
        cand_engine = make_engine(target_spec(candidate))
        try:
            if not (hasattr(ref_engine, "log_prob_rows") and hasattr(cand_engine, "log_prob_rows")):
                return None
            out: dict[str, Any] = {}
            for task, jobs in jobs_by_task.items():
                metrics = []
                for start in range(0, len(jobs), EXACT_BATCH):
                    batch = [j for j in jobs[start:start + EXACT_BATCH] if j.completion.token_ids]
                    if not batch:
                        continue
                    requests = [ScoringRequest(j.request, tuple(j.completion.token_ids or ())) for j in batch]
                    p_rows = ref_engine.log_prob_rows(requests)
                    q_rows = cand_engine.log_prob_rows(requests)
                    metrics += [position_metrics(p.numpy(), q.numpy(), np.asarray(r.token_ids))
                                for r, p, q in zip(requests, p_rows, q_rows)]
                out[task] = summarize(metrics).to_dict() if metrics else None
            return out
        finally:
            cand_engine.close()
    finally:
        ref_engine.close()


def _identical_kl(jobs_by_task: Mapping[str, Sequence[_Job]]) -> dict[str, Any]:
    """The exact KL summary per task of a candidate whose target *is* the reference's target (the same scoring
    fingerprint: model, dtype, device, options): both sides are one deterministic forward pass over the same tokens,
    so at every position KL = 0, the top-1 is the same and Δp = 0, and :func:`_exact_kl` would compute exactly this
    with two full passes (a strict speculative arm's target is the reference model: the demo's case).

    >>> job = _Job(None, None, Completion("q", "a b", token_ids=(5, 6)), "sha")
    >>> s = _identical_kl({"t": [job]})["t"]
    >>> s["n"], s["kl_mean"], s["same_top1"], s["kl_exact"]
    (2, 0.0, 1.0, True)
    """
    out: dict[str, Any] = {}
    for task, jobs in jobs_by_task.items():
        metrics = [PositionMetrics(kl=np.zeros(n), same_top1=np.ones(n, dtype=bool), dp=np.zeros(n), kl_exact=True,
                                   tail_mass=np.zeros(n))
                   for n in (len(j.completion.token_ids or ()) for j in jobs) if n]
        out[task] = summarize(metrics).to_dict() if metrics else None
    return out


def rescore_run(store: RunStore, arms: Sequence[ArmSetup], fingerprints: Mapping[str, str],
                keys: Sequence[CompletionKey], requests: Mapping[CompletionKey, Request],
                make_engine: EngineFactory, *, top_k: int = 20,
                keys_by_task: Mapping[str, Sequence[CompletionKey]] | None = None,
                exact_kl: Mapping[str, Mapping[str, Any]] | None = None) -> RescoringRecord:
    """Fill the scorings the token evidence needs (see the module docstring). ``keys`` are the run's completion
    keys, ``requests`` the request each key was generated from, ``make_engine`` builds an engine for an arm spec
    (the run's ``build_engine``). With ``keys_by_task``, candidates whose target and the reference both run
    in-process also get the exact KL per task (``RescoringRecord.exact_kl``; not stored row by row: computed
    again by a resumed phase, unless ``exact_kl`` gives it: the figures of an earlier phase over the same arms and
    tasks). Null (A/A) arms are re-scored as candidates are (their KL against the reference is the noise floor)."""
    reference = next(a for a in arms if a.spec.role is Role.REFERENCE)
    candidates = [a for a in arms if a.spec.role in (Role.CANDIDATE, Role.NULL)]
    ref_jobs = _jobs_of(store, fingerprints[reference.spec.name], keys, requests)
    differing: dict[str, list[_Job]] = {}
    for arm in candidates:
        jobs = _jobs_of(store, fingerprints[arm.spec.name], keys, requests)
        differing[arm.spec.name] = [j for k, j in jobs.items()
                                    if k not in ref_jobs or j.completion.token_ids != ref_jobs[k].completion.token_ids]
    all_differing = [j for jobs in differing.values() for j in jobs]
    ref_arm, scored = _scoring_arm(target_spec(reference.spec), make_engine, store,
                                   list(ref_jobs.values()) + all_differing, top_k, "as-listed", 0)
    dtypes = {a.spec.name: a.spec.dtype for a in arms}
    if ref_arm.fingerprint is None:  # nothing to compare a target's scores with: leave the targets alone
        skipped = {a.spec.name: ScoringArm(target_spec(a.spec).name, None, "the reference cannot teacher-force")
                   for a in candidates}
        return RescoringRecord(reference=ref_arm, targets=skipped, scored_now=scored, dtypes=dtypes)
    targets = {}
    for arm in candidates:
        targets[arm.spec.name], n = _scoring_arm(target_spec(arm.spec), make_engine, store,
                                                 list(ref_jobs.values()) + differing[arm.spec.name], top_k,
                                                 "as-listed", 0)
        scored += n
    exact: dict[str, Any] = dict(exact_kl or {})
    if keys_by_task is not None and exact_kl is None:
        by_task = {task: [ref_jobs[k] for k in task_keys if k in ref_jobs] for task, task_keys in keys_by_task.items()}
        for arm in candidates:
            if targets[arm.spec.name].fingerprint == ref_arm.fingerprint:  # the same target: P = Q, nothing to run
                exact[arm.spec.name] = _identical_kl(by_task)
                continue
            summary = _exact_kl(make_engine, reference.spec, arm.spec, by_task)
            if summary is not None:
                exact[arm.spec.name] = summary
    return RescoringRecord(reference=ref_arm, targets=targets, scored_now=scored, dtypes=dtypes, exact_kl=exact)


def token_evidence(store: RunStore, record: RescoringRecord, battery: Battery, reference: str,
                   fingerprints: Mapping[str, str], keys_by_task: Mapping[str, Sequence[CompletionKey]],
                   tau: float) -> dict[str, Any]:
    """Per (candidate, task) cell: whole-trajectory forensics of the candidate's differing completions and the KL
    summary over the reference's completions, from the stored scorings (see the module docstring)."""
    if record.reference.fingerprint is None:
        return {"token_evidence_version": TOKEN_EVIDENCE_VERSION, "available": False,
                "reason": f"the reference cannot teacher-force: {record.reference.reason}", "cells": []}
    under_reference = store.scorings(record.reference.fingerprint)
    cells = []
    for candidate, target in record.targets.items():
        under_target = store.scorings(target.fingerprint) if target.fingerprint else {}
        tol = Tolerances(tau, record.dtypes.get(reference), record.dtypes.get(candidate))
        for task in battery.tasks:
            keys = list(keys_by_task[task.name])
            ref_rows = store.completions(fingerprints[reference], keys)
            cand_rows = store.completions(fingerprints[candidate], keys)
            forensics, kl_metrics, unscored = [], [], 0
            for key in keys:
                ref, cand = ref_rows.get(key), cand_rows.get(key)
                if cand is not None and ref is not None and cand.completion.token_ids != ref.completion.token_ids:
                    scores = under_reference.get(cand.sha256)
                    unscored += scores is None
                    if scores is not None:
                        forensics.append(classify_trajectory(scores, under_target.get(cand.sha256)
                                                             if target.fingerprint else None, tol))
                if ref is not None and target.fingerprint:
                    p, q = under_reference.get(ref.sha256), under_target.get(ref.sha256)
                    if p is not None and q is not None and p.positions:
                        kl_metrics.append(position_metrics_from_scores(p.positions, q.positions))
            topk = summarize(kl_metrics).to_dict() if kl_metrics else None
            exact = record.exact_kl.get(candidate, {}).get(task.name)
            cells.append({
                "candidate": candidate, "task": task.name, "two_sided": target.fingerprint is not None,
                "one_sided_reason": target.reason,
                "unscored": unscored,
                "trajectory": summarize_cell(forensics).to_dict(),
                "kl": exact if exact is not None else topk,
                "kl_topk": topk,
            })
    return {"token_evidence_version": TOKEN_EVIDENCE_VERSION, "available": True, "tau": tau, "cells": cells}


