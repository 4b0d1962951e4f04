"""Token-level evidence in ``tais run`` (issue 16): the re-scoring phase's call site and the analysis's reading.

- :func:`rescore_phase` (``tais run``, after scoring, progress phase ``rescore``): unless the config says
  ``token_evidence: off`` or an arm samples at temperature > 0, fills the store's ``scorings`` table through
  :func:`tais.pipeline.rescoring.rescore_run`
  for every candidate and null arm, and returns the :class:`~tais.store.run_plan.RescoringRecord` that goes into
  the :class:`~tais.store.RunPlan` (``rescoring``). A rerun scores nothing already stored, and reuses the exact KL
  of the newest recorded run when its arms and tasks are the same.
- :func:`load_token_inputs` (``read_run``, the in-memory analysis): every stored scoring and completion row the
  plan's record names; :func:`store_token_reader` (the streaming analysis): the same rows read from the store on
  demand. None for a run without a record (``token_evidence: off``, or recorded before the phase existed).
- :func:`build_token_evidence` (``analyse_run`` and the streaming analysis): per (arm, task) cell the typed
  :class:`~tais.screen.token_cells.CellTokenEvidence` under the screen's tau, walking the cell's keys in plan order
  :data:`CHUNK` at a time; :func:`with_token_evidence` then re-decides the candidate cells' leak rule
  (:func:`tais.screen.token_cells.apply_token_evidence`) and the verdict.

Memory of the streaming reading: one chunk of completion rows and their scorings at a time; per cell, the forensics
counts, every leak site, at most 2 x :data:`~tais.report.tokens.MAX_STRIPS` token strips (the first with a leak
and the first without, in key order: what the report can draw) and, for the top-k KL summary, three float64 per
reference token (the percentiles need every value): ~24 bytes a token, 24 MB for a million reference tokens. The
exact KL figures are computed by the re-scoring phase and read from the plan's record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Literal, Protocol

from tais.errors import InputError
from tais.pipeline.config import ArmSetup
from tais.pipeline.rescoring import EngineFactory, rescore_run
from tais.report.tokens import MAX_STRIPS
from tais.screen.cells import decide
from tais.screen.result import ScreenResult
from tais.screen.token_cells import (
    CellTokenEvidence,
    LeakSite,
    TokenEvidence,
    TokenStrip,
    apply_token_evidence,
)
from tais.screen.token_metrics import PositionMetrics, position_metrics_from_scores, summarize
from tais.screen.trajectory import (
    CellTally,
    Tolerances,
    TrajectoryForensics,
    classify_trajectory,
)
from tais.screen.verdict import decide_screen
from tais.store import CompletionKey, RunPlan, RunStore, StoredCompletion
from tais.store.run_plan import RescoringRecord
from tais.types import Completion, DivergenceClass, Request, Role, Thresholds, TokenScores

TokenEvidenceMode = Literal["auto", "off"]
CHUNK = 256
"""Keys of a cell read from the store at a time."""


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


class TokenReader(Protocol):
    """Where the token evidence reads its rows from, a chunk of keys at a time: an arm's completion rows for some
    keys, and the scorings of some completions under a scoring fingerprint."""

    @property
    def record(self) -> RescoringRecord: ...

    def rows(self, arm: str, keys: Sequence[CompletionKey]) -> Mapping[CompletionKey, StoredCompletion]: ...

    def scorings(self, fingerprint: str, completion_sha256s: Sequence[str]) -> Mapping[str, TokenScores]: ...


@dataclass(frozen=True)
class TokenInputs:
    """In memory (the in-memory analysis, :func:`tais.pipeline.analysis.read_run`): the plan's record, every stored
    scoring under each scoring fingerprint (completion sha256 -> scores), and every arm's completion rows."""

    record: RescoringRecord
    by_fingerprint: Mapping[str, Mapping[str, TokenScores]]
    by_arm: Mapping[str, Mapping[CompletionKey, StoredCompletion]]

    def rows(self, arm: str, keys: Sequence[CompletionKey]) -> Mapping[CompletionKey, StoredCompletion]:
        held = self.by_arm.get(arm, {})
        return {k: held[k] for k in keys if k in held}

    def scorings(self, fingerprint: str, completion_sha256s: Sequence[str]) -> Mapping[str, TokenScores]:
        held = self.by_fingerprint.get(fingerprint, {})
        return {s: held[s] for s in completion_sha256s if s in held}


@dataclass(frozen=True)
class StoreTokens:
    """Straight from the store (the streaming analysis): each chunk of keys is looked up through the primary keys
    of ``completions`` and ``scorings``, so memory holds one chunk of rows, never an arm's."""

    record: RescoringRecord
    store: RunStore
    fingerprints: Mapping[str, str]

    def rows(self, arm: str, keys: Sequence[CompletionKey]) -> Mapping[CompletionKey, StoredCompletion]:
        return self.store.completions(self.fingerprints[arm], keys)

    def scorings(self, fingerprint: str, completion_sha256s: Sequence[str]) -> Mapping[str, TokenScores]:
        return self.store.scorings_of(fingerprint, completion_sha256s)


def load_token_inputs(store: RunStore, plan: RunPlan) -> TokenInputs | None:
    """Every scoring and completion row the record names, in memory (for :func:`tais.pipeline.analysis.read_run`,
    which holds the whole run anyway); None for a run without a record."""
    record = plan.rescoring
    if record is None:
        return None
    fingerprints = [record.reference.fingerprint] + [t.fingerprint for t in record.targets.values()]
    return TokenInputs(record=record, by_fingerprint={fp: store.scorings(fp) for fp in fingerprints if fp},
                       by_arm={a.name: store.completions(a.fingerprint) for a in plan.arms})


def store_token_reader(store: RunStore, plan: RunPlan) -> StoreTokens | None:
    """The bounded reader of the streaming analysis; None for a run without a record."""
    if plan.rescoring is None:
        return None
    return StoreTokens(plan.rescoring, store, {a.name: a.fingerprint for a in plan.arms})


def build_token_evidence(inputs: TokenReader, plan: RunPlan, tau: float) -> TokenEvidence:
    """Per (arm, task) cell of the record, walked in the plan's key order, :data:`CHUNK` keys at a time."""
    record = inputs.record
    if record.reference.fingerprint is None:
        return TokenEvidence(False, f"the reference cannot teacher-force: {record.reference.reason}", tau, ())
    reference = plan.reference.name
    cells = []
    for arm, target in record.targets.items():
        tol = Tolerances(tau, record.dtypes.get(reference), record.dtypes.get(arm))
        for task in plan.tasks:
            cells.append(_cell(inputs, arm, task.name, task.iter_keys(), reference, target.fingerprint, target.reason,
                               tol))
    return TokenEvidence(True, None, tau, tuple(cells))


@dataclass
class _CellWalk:
    """What one cell keeps while its keys are walked: the forensics tally, every leak, at most
    :data:`~tais.report.tokens.MAX_STRIPS` strips with a leak and as many without (the first in key order: all the
    report can draw), and the per-position KL metrics (three numbers per reference token: percentiles need them all)."""

    tally: CellTally = field(default_factory=CellTally)
    leaks: list[LeakSite] = field(default_factory=list)
    leak_strips: list[tuple[int, TokenStrip]] = field(default_factory=list)
    other_strips: list[tuple[int, TokenStrip]] = field(default_factory=list)
    kl_metrics: list[PositionMetrics] = field(default_factory=list)
    unscored: int = 0

    def add_strip(self, strip: TokenStrip) -> None:
        held = self.leak_strips if DivergenceClass.LEAK in strip.classes else self.other_strips
        if len(held) < MAX_STRIPS:
            held.append((self.tally.completions, strip))  # its place in key order

    def strips(self) -> tuple[TokenStrip, ...]:
        return tuple(strip for _, strip in sorted(self.leak_strips + self.other_strips, key=lambda s: s[0]))


def _cell(inputs: TokenReader, arm: str, task: str, keys: Iterable[CompletionKey], reference: str,
          target: str | None, reason: str | None, tol: Tolerances) -> CellTokenEvidence:
    walk = _CellWalk()
    keys = iter(keys)
    while chunk := list(islice(keys, CHUNK)):
        _walk_chunk(inputs, walk, arm, chunk, reference, target, tol)
    exact = inputs.record.exact_kl.get(arm, {}).get(task)
    kl = exact if exact is not None else (summarize(walk.kl_metrics).to_dict() if walk.kl_metrics else None)
    return CellTokenEvidence(arm=arm, task=task, two_sided=target is not None, one_sided_reason=reason,
                             unscored=walk.unscored, trajectory=walk.tally.summary(), leaks=tuple(walk.leaks),
                             strips=walk.strips(), kl=kl, kl_exact=bool(kl and kl.get("kl_exact")))


def _walk_chunk(inputs: TokenReader, walk: _CellWalk, arm: str, keys: Sequence[CompletionKey], reference: str,
                target: str | None, tol: Tolerances) -> None:
    ref_rows, cand_rows = inputs.rows(reference, keys), inputs.rows(arm, keys)
    pairs = [(k, ref_rows[k], cand_rows[k]) for k in keys if k in ref_rows and k in cand_rows]
    differ = {k for k, ref, cand in pairs if cand.completion.token_ids != ref.completion.token_ids}
    wanted = [cand.sha256 for k, _, cand in pairs if k in differ]
    if target is not None:  # the reference's completions under both sides: the KL summary
        wanted += [ref.sha256 for _, ref, _ in pairs]
    assert inputs.record.reference.fingerprint is not None  # build_token_evidence returns before otherwise
    under_reference = inputs.scorings(inputs.record.reference.fingerprint, wanted)
    under_target = None if target is None else inputs.scorings(target, wanted)
    for key, ref, cand in pairs:
        if key in differ:
            scores = under_reference.get(cand.sha256)
            if scores is None:
                walk.unscored += 1
            else:
                result = classify_trajectory(scores, None if under_target is None else under_target.get(cand.sha256),
                                             tol)
                walk.tally.add(result)
                texts = _token_texts(cand.completion)
                walk.add_strip(_strip(scores, result, texts))
                walk.leaks += [LeakSite(key.item_id, key.replicate, f.position, f.token_id,
                                        texts[f.position] if texts else None, f.reference_top1_id, f.reference_gap,
                                        f.candidate_gap) for f in result.leaks]
        if under_target is not None:
            p, q = under_reference.get(ref.sha256), under_target.get(ref.sha256)
            if p is not None and q is not None and p.positions:
                walk.kl_metrics.append(position_metrics_from_scores(p.positions, q.positions))


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
