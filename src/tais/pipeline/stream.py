"""The streaming analysis: a run screened straight from its store in bounded memory, whatever its size.

What ``tais run`` (after generating), ``tais screen``, ``tais report`` and ``tais verify`` do. For each contrast
(candidates, then nulls) and each task of the :class:`~tais.store.RunPlan`, two SQLite cursors are walked side by
side in item order (the item's position in the task, then replicate; :meth:`RunStore.completion_rows` reads
through the tables' primary keys, so no sort and no full fetch): the reference's and the arm's completions, each
joined to its score. Each (item, replicate) of the plan meets at most one row of each cursor; a row the
plan does not name (a stale request) is skipped, a missing one is a problem. Per key, in one pass:

- **checks** (once per arm): the stored bytes still hash to the recorded sha256, nothing is missing;
- **manifest**: the recorded sha256 is the next leaf of the arm's Merkle tree for that task and kind
  (:mod:`tais.store.merkle`), and is appended to a temporary leaf file (kept in the store afterwards, so ``tais
  verify`` can compare leaf by leaf);
- **pairing and forensics**: an identical pair (same text, same token ids where both sides have them) is counted from
  the parsed JSON alone; only a diverging pair becomes :class:`~tais.types.Completion` objects for
  :func:`~tais.screen.forensics.first_divergence`;
- **counts**: the cell's :class:`~tais.screen.cells.CellTally` and the arm's :class:`~tais.screen.speed.ArmTally`;
- **token evidence**: when the run has a re-scoring record, its scorings are read after the pass, per cell in key
  order and a chunk of keys at a time through the primary keys, and decide the two-sided cells' leak rule
  (:mod:`tais.pipeline.token_evidence`), as in the in-memory path.
- **temperature > 0**: the T > 0 section (:mod:`tais.pipeline.sampled`) from the phase's stored figures and the
  per-prompt outcomes, which it reads back whole (one score per item and replicate).
- **robustness**: with the plan's ``robustness_scorer``, the key and outcomes of each pair a second scorer must read,
  re-scored after the pass (:mod:`tais.pipeline.stream_robustness`).

The result also carries the sweep points of the stored config and the arms' cluster placement, as
:func:`tais.pipeline.analysis.analyse_run` sets them.

Memory: one row per cursor, one tally per cell (and a key per pair to re-score), log2(n) hashes per tree, the first
:data:`HELD_DIVERGENCES` divergences (what the human reports show); every divergence goes, serialised, to a temporary
file that is streamed into ``evidence.json`` (:func:`tais.report.evidence.write_evidence`). The figures are exactly
those of the in-memory :func:`tais.screen.analyse.analyse` on the same rows (tests/pipeline/test_stream.py checks
every field).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import tempfile
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tais import __version__
from tais.errors import IntegrityError
from tais.pipeline.analysis import (
    EVIDENCE_FILENAME,
    read_run,
    run_sweep,
    summed_telemetry,
)
from tais.pipeline.manifest import KINDS, Tree, file_sha256, keep_leaves, merkle_manifest
from tais.pipeline.placement import cluster_evidence
from tais.pipeline.sampled import load_stored, sampled_section, with_sampled_section
from tais.pipeline.stored_rows import (
    CutCompletion,
    PlanKey,
    Problems,
    cut_completion,
    cut_score,
    full,
    label,
    task_problem,
)
from tais.pipeline.stream_robustness import (
    Rescoring,
    rescoring_for,
    streamed_robustness,
    task_meta,
)
from tais.pipeline.token_evidence import (
    build_token_evidence,
    store_token_reader,
    with_token_evidence,
)
from tais.report import write_reports
from tais.report.evidence import divergence_entry
from tais.screen.analyse import check_arms, divergence_record, pooled_odds
from tais.screen.cells import CellTally, cells_from_tallies
from tais.screen.forensics import first_divergence
from tais.screen.pairing import Pair
from tais.screen.precision import near_tie_threshold
from tais.screen.result import ArmInfo, Divergence, ScreenResult, contrast_name
from tais.screen.robustness import needs_rescore
from tais.screen.speed import ArmTally, speeds_from_tallies
from tais.screen.verdict import decide_screen
from tais.store import (
    STORE_FILENAME,
    PlannedArm,
    PlannedTask,
    RunRecord,
    RunStore,
    sha256_text,
)
from tais.types import Completion, CompletionKey, Role, Score, StepLogprobs, Thresholds

HELD_DIVERGENCES = 1000
"""divergences kept in memory for the human reports (the HTML report lists 200); evidence.json gets every one"""
@dataclass(frozen=True)
class StreamedScreen:
    """What one streaming pass found. ``result.divergences`` holds the first :data:`HELD_DIVERGENCES`; the file
    ``divergences`` holds every one as evidence entries (valid until the context of :func:`streamed_screen`
    exits)."""

    result: ScreenResult
    divergences: Path
    problems: tuple[str, ...]
    completions_checked: int
    trees: tuple[Tree, ...]


class _ArmState:
    """What is gathered once per arm: its trees, speed tally, generation wall time and checked count."""

    def __init__(self, index: int, arm: PlannedArm, plan_tasks: tuple[PlannedTask, ...], folder: Path) -> None:
        self.arm = arm
        self.tally = ArmTally()
        self.wall: float = 0
        self.checked = 0
        self.trees = {(t.name, kind): Tree(arm.name, arm.fingerprint, t, kind, folder / f"{index}-{i}-{kind}.leaves")
                      for i, t in enumerate(plan_tasks) for kind in KINDS}
        for tree in self.trees.values():
            tree.leaves.touch()


def _plan_keys(task: PlannedTask) -> Generator[PlanKey, None, None]:
    """Each key of the task, in plan order: one walk of its planned items (read by cursor when the plan keeps them
    in the store)."""
    for position, item in enumerate(task.items):
        item_id = item.item_id
        for replicate, request in enumerate(item.request_sha256):
            yield position, item_id, replicate, request


def _aligned(keys: Iterator[PlanKey], rows: Iterator[tuple]) -> Iterator[tuple[PlanKey, tuple | None]]:
    """For each key (item position, replicate, request sha256), the row of ``rows`` (ordered by the same three) with
    that key, or None. Rows that no key names are skipped."""
    row = next(rows, None)
    for key in keys:
        want = (key[0], key[2], key[3])
        while row is not None and row[:3] < want:
            row = next(rows, None)
        if row is not None and row[:3] == want:
            yield key, row
            row = next(rows, None)
        else:
            yield key, None


def _side(store: RunStore, state: _ArmState, task: PlannedTask, keys: Iterator[PlanKey],
          record: bool, problems: Problems) -> Iterator[tuple[CutCompletion, dict] | None]:
    """One arm's (completion dict, score dict) for each of ``keys`` (the task's, :func:`_plan_keys`), None where it
    cannot be paired. With ``record`` (the first pass over this arm) the rows are checked, hashed into the trees and
    tallied."""
    name, fp = state.arm.name, state.arm.fingerprint
    trees = state.trees[(task.name, "completions")], state.trees[(task.name, "scores")]
    found = problems if record else None
    for key, crow in _aligned(keys, store.completion_rows(fp, task.content_sha256, task.scorer_id)):
        if crow is None:
            if record:
                problems.add(f"arm {name}: completion {label(key)} is missing from the store")
                trees[0].missing += 1
                trees[1].missing += 1
            yield None
            continue
        text, recorded = crow[3], crow[4]
        if record:
            actual = sha256_text(text)
            if actual != recorded:
                problems.add(f"arm {name}: completion {label(key)}: stored bytes hash to {actual[:12]}, "
                             f"recorded {recorded[:12]}")
            trees[0].add(recorded)
            state.checked += 1
            state.wall += crow[5] if crow[5] is not None else 0.0
        completion = cut_completion(text, ("arm", name, "completion", key), found)
        if completion is None:
            yield None
            continue
        if record:
            small = completion.small
            spec = small.get("spec") or {}
            state.tally.add(task.name, small.get("output_tokens", 0), small.get("wall_s", 0.0),
                            spec.get("accepted", 0), spec.get("drafted", 0))
        if crow[6] is None:
            if record:
                problems.add(f"arm {name}: score {label(key)} is missing from the store")
                trees[1].missing += 1
            yield None
            continue
        if record:
            actual = sha256_text(crow[6])
            if actual != crow[7]:
                problems.add(f"arm {name}: score {label(key)}: stored bytes hash to {actual[:12]}, "
                             f"recorded {crow[7][:12]}")
            trees[1].add(crow[7])
        score = cut_score(crow[6], ("arm", name, "score", key), found)
        yield None if score is None else (completion, score)


def _pair(key: PlanKey, reference: tuple[CutCompletion, dict], candidate: tuple[CutCompletion, dict], tau: float,
          tally: CellTally, contrast: str, task: str, role: Role, rescoring: Rescoring | None) -> Divergence | None:
    """Count one pair in its cell; returns its first divergence (None for an identical pair). With ``rescoring``
    (the cell's robustness check) a pair the second scorer must read is noted there."""
    (rc, rs), (cc, cs) = reference, candidate
    if rc.identity is not None and rc.identity == cc.identity:
        ids_known = ',"token_ids":null,' not in rc.identity + ","
        tally.add(True, True if ids_known else None, rs.get("outcome"), cs.get("outcome"), None)
        _note(rescoring, key, True, rs, cs)
        return None
    rd, cd = full(rc), full(cc)
    same_text = rd.get("text") == cd.get("text")
    ids_r, ids_c = rd.get("token_ids"), cd.get("token_ids")
    same_ids = None if ids_r is None or ids_c is None else ids_r == ids_c
    divergence = None
    if not same_text or same_ids is False:
        ref, cand = _forensic_completion(rd), _forensic_completion(cd)
        if same_ids is False and ids_r is not None and ids_c is not None:  # forensics splits at the first
            # differing id: put that step's top-k back first
            position = _first_id_difference(ids_r, ids_c)
            if ref.logprobs is not None and position < len(ref.logprobs):
                ref = _with_top(ref, rd, position)
            info = first_divergence(ref, cand, tau)
        else:
            info = first_divergence(ref, cand, tau)
            if info is not None and ref.logprobs is not None and info.position < len(ref.logprobs):
                ref = _with_top(ref, rd, info.position)
                info = first_divergence(ref, cand, tau)
        if info is not None:
            pair = Pair(key[1], key[2], ref, cand, _score_object(rs, key), _score_object(cs, key))
            divergence = divergence_record(contrast, task, pair, info, role)
    tally.add(same_text, same_ids, rs.get("outcome"), cs.get("outcome"),
              None if divergence is None else divergence.cls)
    _note(rescoring, key, same_text, rs, cs)
    return divergence


def _first_id_difference(a: list[int], b: list[int]) -> int:
    """The first index where two token id lists differ (the shorter's length when one is a prefix of the other):
    the position :func:`~tais.screen.forensics.first_divergence` reports when both sides have token ids.

    >>> _first_id_difference([1, 2, 3], [1, 5]), _first_id_difference([1, 2], [1, 2, 3])
    (1, 2)
    """
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def _note(rescoring: Rescoring | None, key: PlanKey, same_text: bool, rs: dict, cs: dict) -> None:
    if rescoring is not None and needs_rescore(same_text, rs.get("outcome"), cs.get("outcome")):
        rescoring.pending.append((CompletionKey(key[1], key[2], key[3]), rs.get("outcome"), cs.get("outcome")))


def _score_object(score: dict, key: PlanKey) -> Score:
    try:
        return Score.from_dict(json.loads(score["raw"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"score {label(key)}: stored bytes are not a score any more "
                             f"({exc})") from None


def _forensic_completion(d: dict) -> Completion:
    """The completion with each step's top-k left out: first-divergence forensics reads the top-k of the
    reference's step at the divergence only, which :func:`_with_top` then puts back (parsing every step's top-k of
    every diverging pair was most of the analysis' time)."""
    steps = d.get("logprobs")
    completion = Completion.from_dict({**d, "logprobs": None})
    if steps is None:
        return completion
    thin = tuple(StepLogprobs(s["token"], s["logprob"], s.get("token_id")) for s in steps)
    return dataclasses.replace(completion, logprobs=thin)


def _with_top(completion: Completion, d: dict, position: int) -> Completion:
    """``completion`` with the full step (top-k included) at ``position``, from its parsed JSON ``d``."""
    steps = list(completion.logprobs or ())
    steps[position] = StepLogprobs.from_dict(d["logprobs"][position])
    return dataclasses.replace(completion, logprobs=tuple(steps))


@contextmanager
def streamed_screen(store: RunStore, run: RunRecord, thresholds: Thresholds) -> Iterator[StreamedScreen]:
    """Screen ``run`` from ``store`` in one streaming pass (see the module docstring); the temporary divergence and
    leaf files live until the context exits."""
    with tempfile.TemporaryDirectory(prefix="tais-stream-") as tmp:
        folder = Path(tmp)
        with open(folder / "divergences.part", "w", encoding="utf-8", newline="") as spill:
            streamed = _stream(store, run, thresholds, folder, spill)
        yield streamed


def _stream(store: RunStore, run: RunRecord, thresholds: Thresholds, folder: Path, spill: TextIO) -> StreamedScreen:
    plan = run.plan
    problems = Problems()
    for task in plan.tasks:
        problem = task_problem(store, task)
        if problem:
            problems.add(problem)
    specs = {a.name: store.arm(a.fingerprint)[0] for a in plan.arms}
    check_arms([ArmInfo(a.name, a.role, a.fingerprint, specs[a.name], 0.0) for a in plan.arms])
    reference = plan.reference
    ordered = [a for a in plan.arms if a.role is Role.CANDIDATE] + [a for a in plan.arms if a.role is Role.NULL]
    states = {a.name: _ArmState(i, a, plan.tasks, folder) for i, a in enumerate(plan.arms)}
    tau = near_tie_threshold(thresholds.tau, specs[reference.name].get("dtype"))
    tasks = task_meta(store, plan)
    tallies: list[CellTally] = []
    rescorings: list[Rescoring | None] = []
    held: list[Divergence] = []
    total = 0
    for index, arm in enumerate(ordered):
        contrast = contrast_name(arm.name, reference.name)
        for task in plan.tasks:
            tally = CellTally(contrast, arm.name, reference.name, task.name, arm.role)
            rescoring = rescoring_for(tasks, plan.robustness_scorer, arm, task.name)
            # one walk of the plan's keys feeds both sides and the pairs (tee holds the one or two keys between);
            # closed however the pass ends, so no cursor of the walk stays open
            with closing(_plan_keys(task)) as plan_keys:
                walk, ref_keys, arm_keys = itertools.tee(plan_keys, 3)
                sides = zip(walk, _side(store, states[reference.name], task, ref_keys, index == 0, problems),
                            _side(store, states[arm.name], task, arm_keys, True, problems))
                for key, ref_side, arm_side in sides:
                    if ref_side is None or arm_side is None:
                        continue
                    divergence = _pair(key, ref_side, arm_side, tau, tally, contrast, task.name, arm.role, rescoring)
                    if divergence is not None:
                        spill.write((",\n" if total else "") + divergence_entry(divergence))
                        total += 1
                        if len(held) < HELD_DIVERGENCES:
                            held.append(divergence)
            tallies.append(tally)
            rescorings.append(rescoring)
    arms = tuple(
        ArmInfo(a.name, a.role, a.fingerprint, specs[a.name], round(states[a.name].wall, 6),
                _telemetry(store, a.fingerprint))
        for a in plan.arms
    )
    cells, robustness = streamed_robustness(store, plan, tallies, rescorings, cells_from_tallies(tallies, thresholds),
                                            tasks, thresholds)
    trees = tuple(tree for state in states.values() for tree in state.trees.values())
    for tree in trees:
        tree.flush()
    result = ScreenResult(
        verdict=decide_screen([c.verdict for c in cells if c.role is Role.CANDIDATE]),
        cells=tuple(cells),
        divergences=tuple(held),
        arms=arms,
        speed=tuple(speeds_from_tallies(arms, [states[a.name].tally for a in plan.arms])),
        thresholds=thresholds,
        pooled=pooled_odds(cells, [contrast_name(a.name, reference.name) for a in ordered]),
        manifest=merkle_manifest(run, trees),
        meta={"tais_version": __version__, "config_name": plan.name, "run_id": run.id,
              "replicates": plan.replicates},
        near_tie_tau=tau,
        divergences_total=total if total > len(held) else None,
        robustness=robustness,
        sweep=run_sweep(run, [a.name for a in plan.arms]),
        cluster=cluster_evidence({a.name: store.arm_telemetry(a.fingerprint) for a in plan.arms}),
    )
    token = store_token_reader(store, plan)  # read after the pass, a chunk of keys at a time
    if token is not None:
        result = with_token_evidence(result, build_token_evidence(token, plan, thresholds.tau), thresholds)
    stored = load_stored(store, run.id)
    if stored is not None:  # a T > 0 screen: its section reads the per-prompt outcomes in memory (replicates x items)
        inputs = dataclasses.replace(read_run(store, run), sampled_tokens=stored)
        result = with_sampled_section(result, sampled_section(inputs, thresholds))
    checked = sum(s.checked for s in states.values())
    return StreamedScreen(result, Path(spill.name), problems.all(), checked, trees)


def _telemetry(store: RunStore, fingerprint: str) -> dict[str, Any]:
    return summed_telemetry(store.arm_telemetry(fingerprint))


def screen_to_reports(store: RunStore, run: RunRecord, thresholds: Thresholds,
                      out_dir: Path) -> tuple[ScreenResult, dict[str, Path]]:
    """Screen a run from its store (streaming), write its reports into ``out_dir``, keep the manifest's leaves in
    the store and record the analysis (thresholds, evidence sha256). A stored row that no longer matches its
    recorded sha256, or one the plan names but the store lacks, raises :class:`IntegrityError` (nothing written)."""
    with streamed_screen(store, run, thresholds) as streamed:
        if streamed.problems:
            first, more = streamed.problems[0], len(streamed.problems) - 1
            raise IntegrityError(f"{STORE_FILENAME}: {first}" + (f" (and {more} more)" if more else ""))
        paths = write_reports(streamed.result, out_dir, streamed.divergences)
        keep_leaves(store, streamed.trees)
    store.add_analysis(run.id, thresholds.to_dict(), file_sha256(out_dir / EVIDENCE_FILENAME))
    return streamed.result, paths
