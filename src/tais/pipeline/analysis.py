"""From a run store to a screen result and its reports, with no generation: what ``tais run`` does after generating,
and all that ``tais screen``, ``tais report`` and ``tais verify`` do.

A finished run is described by its :class:`~tais.store.RunPlan` (built by :func:`tais.pipeline.run.run_config`,
held by the store's run record): the tasks by content sha256 with their scorer ids, the arms with their role and
fingerprint, the replicates, the configured thresholds, and the request sha256 of every (item, replicate).

:func:`read_run` reads back exactly the rows that plan names and builds the **manifest** that goes into
``evidence.json``: the sha256 of the config, of every task's content, every arm fingerprint, and the sha256 recorded
for every completion and score. Any edited byte of the store then shows up either as a completion whose bytes no longer
hash to its recorded sha256 (``problems``) or as a manifest that differs from the one in ``evidence.json``.

:func:`read_run` holds the whole run in memory and writes the per-completion manifest of ``tais.evidence/1``: it is
what ``tais verify`` checks an old run's evidence with. ``tais run``, ``tais screen`` and ``tais report`` (through
:func:`rescreen`) screen in bounded memory through :mod:`tais.pipeline.stream`, whose evidence (schema
``tais.evidence/2``) pins the completions by Merkle roots; its figures equal :func:`analyse_run`'s on the same rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tais import __version__
from tais.errors import InputError
from tais.pipeline.placement import cluster_evidence
from tais.pipeline.sampled import (
    StoredTokens,
    load_stored,
    sampled_section,
    with_sampled_section,
)
from tais.pipeline.sweep import sweep_points
from tais.pipeline.token_evidence import (
    TokenInputs,
    build_token_evidence,
    load_token_inputs,
    with_token_evidence,
)
from tais.report import write_reports
from tais.report.evidence import LEGACY_SCHEMA, evidence_json
from tais.screen.analyse import analyse
from tais.screen.result import ArmInfo, ScreenResult, SweepPoint
from tais.store import STORE_FILENAME, RunPlan, RunRecord, RunStore, task_content_sha256
from tais.types import (
    THRESHOLD_KEYS,
    Battery,
    Completion,
    CompletionKey,
    Score,
    Thresholds,
)

MANIFEST_VERSION = 1
EVIDENCE_FILENAME = "evidence.json"


@dataclass(frozen=True)
class RunInputs:
    """Everything the screen needs, read from the store for one run."""

    run: RunRecord
    battery: Battery
    arms: tuple[ArmInfo, ...]
    completions: Mapping[str, Mapping[CompletionKey, Completion]]
    scores: Mapping[str, Mapping[CompletionKey, Score]]
    manifest: dict[str, Any]
    problems: tuple[str, ...] = field(default=())
    """stored rows whose bytes no longer match their recorded sha256, or rows the plan names but the store lacks"""
    cluster: Mapping[str, Any] = field(default_factory=dict)
    """where the arms ran on a Ray cluster (:func:`tais.pipeline.placement.cluster_evidence`); empty when local"""
    token: TokenInputs | None = None
    """the re-scoring phase's scorings (:mod:`tais.pipeline.token_evidence`); None for a run without them"""
    sampled_tokens: StoredTokens | None = None
    """the temperature > 0 phase's token-level figures (:mod:`tais.pipeline.sampled`); None at T = 0"""


def summed_telemetry(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """An arm's engine telemetry over all its generation sessions: counters (numbers, and lists of numbers such as
    accepted tokens by draft position) are summed; the acceptance rate is recomputed from the sums.

    >>> summed_telemetry([{"spec_drafted": 8, "spec_accepted": 6, "spec_accepted_by_position": [4, 2]},
    ...                   {"spec_drafted": 4, "spec_accepted": 1, "spec_accepted_by_position": [1]}])
    {'spec_accepted': 7, 'spec_accepted_by_position': [5, 2], 'spec_drafted': 12,
     'spec_acceptance_rate': 0.5833333333333334}
    """
    total: dict[str, Any] = {}
    for session in sessions:
        for key, value in session.items():
            if key == "spec_acceptance_rate" or isinstance(value, bool):
                continue
            if isinstance(value, (int, float)):
                total[key] = total.get(key, 0) + value
            elif isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
                have = total.get(key, [])
                n = max(len(have), len(value))
                total[key] = [a + b for a, b in zip(have + [0] * (n - len(have)), value + [0] * (n - len(value)))]
    total = dict(sorted(total.items()))
    if total.get("spec_drafted"):
        total["spec_acceptance_rate"] = total.get("spec_accepted", 0) / total["spec_drafted"]
    return total


def read_run(store: RunStore, run: RunRecord | None = None) -> RunInputs:
    """Read one run (the newest by default) back from the store; see the module docstring."""
    run = run or store.latest_run()
    plan = run.plan
    problems: list[str] = []
    tasks = []
    for t in plan.tasks:
        task = store.task(t.content_sha256)
        if task_content_sha256(task) != t.content_sha256:
            problems.append(f"task {t.name}: stored items no longer hash to {t.content_sha256[:12]}")
        tasks.append(task)
    battery = Battery(tasks=tuple(tasks))

    arms: list[ArmInfo] = []
    completions: dict[str, dict[CompletionKey, Completion]] = {}
    scores: dict[str, dict[CompletionKey, Score]] = {}
    manifest_completions: dict[str, dict[str, str]] = {}
    manifest_scores: dict[str, dict[str, str]] = {}
    for arm in plan.arms:
        name, fp = arm.name, arm.fingerprint
        spec, _describe = store.arm(fp)
        stored = store.completions(fp)
        completions[name], scores[name] = {}, {}
        manifest_completions[name], manifest_scores[name] = {}, {}
        arm_keys: list[CompletionKey] = []
        for planned in plan.tasks:
            stored_scores = store.scores(fp, planned.scorer_id)
            for key in planned.keys():
                label = f"{key.item_id}#{key.replicate}"
                row = stored.get(key)
                if row is None:
                    problems.append(f"arm {name}: completion {label} is missing from the store")
                    continue
                if row.actual_sha256 != row.sha256:
                    problems.append(f"arm {name}: completion {label}: stored bytes hash to {row.actual_sha256[:12]}, "
                                    f"recorded {row.sha256[:12]}")
                completions[name][key] = row.completion
                manifest_completions[name][label] = row.sha256
                arm_keys.append(key)
                scored = stored_scores.get(key)
                if scored is None:
                    problems.append(f"arm {name}: score {label} is missing from the store")
                    continue
                score, recorded, actual = scored
                if recorded != actual:
                    problems.append(f"arm {name}: score {label}: stored bytes hash to {actual[:12]}, "
                                    f"recorded {recorded[:12]}")
                scores[name][key] = score
                manifest_scores[name][label] = recorded
        wall_s = round(store.generation_wall_s(fp, arm_keys), 6)
        arms.append(ArmInfo(name=name, role=arm.role, fingerprint=fp, spec=spec, generation_wall_s=wall_s,
                            telemetry=summed_telemetry(store.arm_telemetry(fp))))

    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "config_sha256": run.config_sha256,
        "tasks": {t.name: t.content_sha256 for t in plan.tasks},
        "arms": {a.name: a.fingerprint for a in plan.arms},
        "completions": manifest_completions,
        "scores": manifest_scores,
    }
    cluster = cluster_evidence({a.name: store.arm_telemetry(a.fingerprint) for a in plan.arms})
    return RunInputs(run, battery, tuple(arms), completions, scores, manifest, tuple(problems), cluster,
                     token=load_token_inputs(store, plan), sampled_tokens=load_stored(store, run.id))


def thresholds_for(plan: RunPlan, overrides: Mapping[str, float | None] | None = None) -> Thresholds:
    """The run's configured thresholds with any non-None overrides (``tais screen --margin 0.05``)."""
    values = plan.thresholds.to_dict()
    for key, value in (overrides or {}).items():
        if value is not None:
            if key not in THRESHOLD_KEYS:
                raise InputError(f"unknown threshold {key!r}; known: {', '.join(THRESHOLD_KEYS)}")
            values[key] = float(value)
    _check_thresholds(values)
    return Thresholds(**values)


def _check_thresholds(values: Mapping[str, float]) -> None:
    bounds = {"margin": (0.0, 1.0), "alpha": (0.0, 0.5), "power": (0.0, 1.0)}
    for key, (low, high) in bounds.items():
        if key in values and not low < values[key] < high:
            raise InputError(f"must be between {low} and {high} (exclusive), got {values[key]}", key=key)
    for key in ("h_cutoff", "tau"):
        if key in values and not values[key] > 0:
            raise InputError(f"must be > 0, got {values[key]}", key=key)


def analyse_run(inputs: RunInputs, thresholds: Thresholds) -> ScreenResult:
    """Run the screen on a run read from the store. ``meta`` holds only deterministic facts, so the same store and
    thresholds give byte-identical evidence."""
    plan = inputs.run.plan
    meta = {"tais_version": __version__, "config_name": plan.name, "run_id": inputs.run.id,
            "replicates": plan.replicates}
    result = analyse(battery=inputs.battery, arms=inputs.arms, completions=inputs.completions, scores=inputs.scores,
                     thresholds=thresholds, manifest=inputs.manifest, meta=meta,
                     robustness_scorer=plan.robustness_scorer)
    result = replace(result, sweep=run_sweep(inputs.run, [a.name for a in inputs.arms]), cluster=dict(inputs.cluster))
    if inputs.token is not None:
        result = with_token_evidence(result, build_token_evidence(inputs.token, plan, thresholds.tau), thresholds)
    return with_sampled_section(result, sampled_section(inputs, thresholds))


def run_sweep(run: RunRecord, arms: Sequence[str]) -> tuple[SweepPoint, ...]:
    """The sweep grid point of each of ``arms`` that the run's config sweeps (empty without a sweep)."""
    return tuple(SweepPoint(arm, template, point)
                 for arm, (template, point) in sweep_points(run.config_text).items() if arm in set(arms))


def write_run_reports(store: RunStore, inputs: RunInputs, result: ScreenResult, out_dir: Path) -> dict[str, Path]:
    """Write evidence.json / report.md / report.html and record the analysis (thresholds, evidence sha256)."""
    paths = write_reports(result, out_dir)
    digest = hashlib.sha256((out_dir / EVIDENCE_FILENAME).read_bytes()).hexdigest()
    store.add_analysis(inputs.run.id, result.thresholds.to_dict(), digest)
    return paths


def expected_evidence(inputs: RunInputs, thresholds: Thresholds, schema: str = LEGACY_SCHEMA) -> dict[str, Any]:
    """The evidence dict the store implies under these thresholds, with the per-completion manifest of
    ``tais.evidence/1`` (what ``tais verify`` compares an old run's evidence against; a run screened by this tais is
    verified through :mod:`tais.pipeline.stream`)."""
    return json.loads(evidence_json(analyse_run(inputs, thresholds), schema))



def rescreen(run_dir: Path, overrides: Mapping[str, float | None] | None = None, *,
             keep_last_thresholds: bool = False) -> tuple[ScreenResult, dict[str, Path]]:
    """Screen a finished run again from its store (no generation) and rewrite its reports.

    Thresholds: the run's configured ones, or with ``keep_last_thresholds`` those of its last analysis (what
    ``tais report`` re-renders), then any non-None ``overrides`` (``tais screen RUN --margin 0.05``)."""
    run_dir = Path(run_dir)
    from tais.pipeline.stream import screen_to_reports

    with RunStore(run_dir / STORE_FILENAME, create=False) as store:
        run = store.latest_run()
        base = None
        if keep_last_thresholds:
            last = store.latest_analysis(run.id)
            base = None if last is None else {k: v for k, v in last[0].items() if k in THRESHOLD_KEYS}
        thresholds = thresholds_for(run.plan, {**(base or {}), **{k: v for k, v in (overrides or {}).items()
                                                                 if v is not None}})
        return screen_to_reports(store, run, thresholds, run_dir)
