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
- **token evidence**: when the run has a re-scoring record, its scorings are read after the pass and decide the
  two-sided cells' leak rule (:mod:`tais.pipeline.token_evidence`), as in the in-memory path.
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
import hashlib
import itertools
import json
import tempfile
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
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
from tais.pipeline.placement import cluster_evidence
from tais.pipeline.sampled import load_stored, sampled_section, with_sampled_section
from tais.pipeline.stream_robustness import (
    Rescoring,
    rescoring_for,
    streamed_robustness,
    task_meta,
)
from tais.pipeline.token_evidence import (
    build_token_evidence,
    load_token_inputs,
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
from tais.store.merkle import MerkleBuilder, leaf_bytes
from tais.types import Completion, CompletionKey, Role, Score, StepLogprobs, Thresholds

MANIFEST_VERSION = 2
"""manifest version of evidence schema 2: one Merkle root per arm, task and kind (1: every completion's sha256)"""
HELD_DIVERGENCES = 1000
"""divergences kept in memory for the human reports (the HTML report lists 200); evidence.json gets every one"""
MAX_PROBLEMS = 200
"""problems kept word for word; beyond that only counted"""
KINDS = ("completions", "scores")
LEAF_CHUNK = 4096
"""leaves a Merkle tree takes at a time (a power of two: each full chunk is one complete subtree)"""


@dataclass
class Tree:
    """One Merkle tree of the manifest: an arm's completions or scores of one task, its leaves in a temporary file."""

    arm: str
    fingerprint: str
    task: PlannedTask
    kind: str
    leaves: Path
    builder: MerkleBuilder = field(default_factory=MerkleBuilder)
    missing: int = 0
    """keys of the plan with no row (their leaves are absent, so leaf i is the i-th key only when this is 0)"""

    pending: list[bytes] = field(default_factory=list)
    """leaves not yet in the builder and the file (at most :data:`LEAF_CHUNK`)"""

    def add(self, sha256_hex: str) -> None:
        self.pending.append(leaf_bytes(sha256_hex))
        if len(self.pending) == LEAF_CHUNK:
            self.flush()

    def flush(self) -> None:
        """Hash the pending leaves into the tree (a full chunk as one complete subtree) and append them to the
        file."""
        if self.pending:
            self.builder.add_many(self.pending)
            with open(self.leaves, "ab") as handle:
                handle.write(b"".join(self.pending))
            self.pending = []

    def stored_leaves(self) -> Iterator[bytes]:
        """The 32-byte leaves in order, read back from the temporary file."""
        self.flush()
        with open(self.leaves, "rb") as handle:
            while chunk := handle.read(1 << 16):
                yield from (chunk[i:i + 32] for i in range(0, len(chunk), 32))


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


class _Problems:
    def __init__(self) -> None:
        self.kept: list[str] = []
        self.count = 0

    def add(self, text: str) -> None:
        self.count += 1
        if len(self.kept) < MAX_PROBLEMS:
            self.kept.append(text)

    def all(self) -> tuple[str, ...]:
        extra = self.count - len(self.kept)
        return tuple(self.kept) + ((f"... and {extra} more problems of the same kinds",) if extra else ())


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


PlanKey = tuple[int, str, int, str]
"""(item position, item id, replicate, request sha256): one key of the plan as the walk carries it (a
:class:`~tais.types.CompletionKey` is made only for a pair that needs one)"""


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


def _label(key: PlanKey) -> str:
    """``ITEM#REPLICATE`` of a key, for problem lines."""
    return f"{key[1]}#{key[2]}"


def _side(store: RunStore, state: _ArmState, task: PlannedTask, keys: Iterator[PlanKey],
          record: bool, problems: _Problems) -> Iterator[tuple[_Stored, dict] | None]:
    """One arm's (completion dict, score dict) for each of ``keys`` (the task's, :func:`_plan_keys`), None where it
    cannot be paired. With ``record`` (the first pass over this arm) the rows are checked, hashed into the trees and
    tallied."""
    name, fp = state.arm.name, state.arm.fingerprint
    trees = state.trees[(task.name, "completions")], state.trees[(task.name, "scores")]
    found = problems if record else None
    for key, crow in _aligned(keys, store.completion_rows(fp, task.content_sha256, task.scorer_id)):
        if crow is None:
            if record:
                problems.add(f"arm {name}: completion {_label(key)} is missing from the store")
                trees[0].missing += 1
                trees[1].missing += 1
            yield None
            continue
        text, recorded = crow[3], crow[4]
        if record:
            actual = sha256_text(text)
            if actual != recorded:
                problems.add(f"arm {name}: completion {_label(key)}: stored bytes hash to {actual[:12]}, "
                             f"recorded {recorded[:12]}")
            trees[0].add(recorded)
            state.checked += 1
            state.wall += crow[5] if crow[5] is not None else 0.0
        completion = _summary(text, ("arm", name, "completion", key), found)
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
                problems.add(f"arm {name}: score {_label(key)} is missing from the store")
                trees[1].missing += 1
            yield None
            continue
        if record:
            actual = sha256_text(crow[6])
            if actual != crow[7]:
                problems.add(f"arm {name}: score {_label(key)}: stored bytes hash to {actual[:12]}, "
                             f"recorded {crow[7][:12]}")
            trees[1].add(crow[7])
        score = _score(crow[6], ("arm", name, "score", key), found)
        yield None if score is None else (completion, score)


@dataclass(frozen=True)
class _Stored:
    """One stored completion as the pairing needs it: its canonical JSON, the part that decides identity (``text``
    and ``token_ids`` as stored) and the small fields the speed tally reads; the rest (the logprobs, most of the
    bytes) is parsed only when the pair diverges (:func:`_full`)."""

    raw: str
    identity: str | None
    """``,"text":...,"token_ids":...`` cut from the canonical JSON, None when it could not be cut"""
    small: dict


_TEXT_KEY, _WALL_KEY, _TOKENS_KEY = ',"text":', ',"wall_s":', ',"output_tokens":'


def _what(what: tuple) -> str:
    """``("arm", "ref", "completion", key)`` -> ``arm ref: completion t/1#0``."""
    return f"{what[0]} {what[1]}: {what[2]} {_label(what[3])}"


_OUTCOME_KEY, _REPLICATE_KEY = ',"outcome":', ',"replicate":'
_OUTCOMES = {"0": 0, "1": 1, "null": None}


def _score(raw: str, what: tuple, problems: _Problems | None) -> dict | None:
    r"""A stored score as the pairing needs it: ``{"outcome": ..., "raw": ...}`` cut from its canonical JSON (keys
    sorted: ``detail, item_id, label, outcome, replicate, scorer``) when the outcome is 0, 1 or null, else parsed.

    >>> _score('{"detail":[],"item_id":"t/1","label":"a,\\"outcome\\":","outcome":1,"replicate":0,"scorer":"s@1"}',
    ...        (), None)["outcome"]
    1
    """
    start = raw.rfind(_OUTCOME_KEY)
    end = raw.find(_REPLICATE_KEY, start)
    outcome = raw[start + len(_OUTCOME_KEY):end] if 0 < start < end else ""
    if outcome in _OUTCOMES:
        return {"outcome": _OUTCOMES[outcome], "raw": raw}
    value = _json(raw, what, problems)
    return None if value is None else {"outcome": value.get("outcome"), "raw": raw}


def _summary(raw: str, what: tuple, problems: _Problems | None) -> _Stored | None:
    r"""A stored completion without parsing its logprobs: canonical JSON sorts its keys (``..., logprobs,
    output_tokens, prompt_tokens, replicate, spec, text, token_ids, wall_s``) and escapes every quote inside a string,
    so ``,"text":`` can only be the top-level key; the small fields are parsed, text and token ids compared as cut.
    Anything else is parsed whole.

    >>> s = _summary('{"logprobs":null,"output_tokens":2,"prompt_tokens":1,"replicate":0,"spec":null,'
    ...              '"text":"a,\\"text\\":","token_ids":[1,2],"wall_s":0.5}', "", None)
    >>> s.identity, s.small["output_tokens"], s.small["wall_s"]
    (',"text":"a,\\"text\\":","token_ids":[1,2]', 2, 0.5)
    """
    text, wall, tokens = raw.rfind(_TEXT_KEY), raw.rfind(_WALL_KEY), raw.rfind(_TOKENS_KEY)
    if 0 < tokens < text < wall:
        try:
            small = json.loads("{" + raw[tokens + 1:text] + "," + raw[wall + 1:])
        except (json.JSONDecodeError, UnicodeDecodeError):
            small = None
        if isinstance(small, dict):
            return _Stored(raw, raw[text:wall], small)
    value = _json(raw, what, problems)
    return None if value is None else _Stored(raw, None, value)


def _json(text: str, what: tuple, problems: _Problems | None) -> dict | None:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict):
        if problems is not None:
            problems.add(f"{_what(what)}: stored bytes are not valid JSON any more")
        return None
    return value


def _task_problem(store: RunStore, task: PlannedTask) -> str | None:
    """A problem when the stored task and its items no longer hash to the task's content sha256 (computed over the
    stored canonical JSON, streamed item by item: the bytes :func:`tais.store.task_content_sha256` hashes)."""
    digest = hashlib.sha256(b'{"items":[')
    try:
        meta = store.task_json(task.content_sha256)
    except KeyError:
        return f"task {task.name}: not in the store"
    for index, (_, item_json) in enumerate(store.item_json_rows(task.content_sha256)):
        digest.update((b"," if index else b"") + item_json.encode("utf-8", "surrogatepass"))
    digest.update(b'],"task":' + meta.encode("utf-8", "surrogatepass") + b"}")
    if digest.hexdigest() != task.content_sha256:
        renamed = "".join(f"; item {row_id}'s record names it {record_id!r}"
                          for row_id, record_id in _renamed_items(store, task.content_sha256))
        return f"task {task.name}: stored items no longer hash to {task.content_sha256[:12]}{renamed}"
    return None


def _renamed_items(store: RunStore, task_sha256: str, limit: int = 8) -> Iterator[tuple[str, Any]]:
    """(row id, the id its stored record names) of the first ``limit`` items of a damaged task where the two differ
    (an edited item id): read only once the task's hash has failed."""
    found = 0
    for row_id, item_json in store.item_json_rows(task_sha256):
        try:
            record_id = json.loads(item_json).get("id")
        except (ValueError, AttributeError):
            continue
        if record_id != row_id:
            found += 1
            yield row_id, record_id
            if found == limit:
                return


def _pair(key: PlanKey, reference: tuple[_Stored, dict], candidate: tuple[_Stored, dict], tau: float,
          tally: CellTally, contrast: str, task: str, role: Role, rescoring: Rescoring | None) -> Divergence | None:
    """Count one pair in its cell; returns its first divergence (None for an identical pair). With ``rescoring``
    (the cell's robustness check) a pair the second scorer must read is noted there."""
    (rc, rs), (cc, cs) = reference, candidate
    if rc.identity is not None and rc.identity == cc.identity:
        ids_known = ',"token_ids":null,' not in rc.identity + ","
        tally.add(True, True if ids_known else None, rs.get("outcome"), cs.get("outcome"), None)
        _note(rescoring, key, True, rs, cs)
        return None
    rd, cd = _full(rc), _full(cc)
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
        raise IntegrityError(f"score {_label(key)}: stored bytes are not a score any more "
                             f"({exc})") from None


def _full(stored: _Stored) -> dict:
    return stored.small if stored.identity is None else json.loads(stored.raw)


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
    problems = _Problems()
    for task in plan.tasks:
        problem = _task_problem(store, task)
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
    token = load_token_inputs(store, plan)  # the re-scored (non-identical) pairs only, read after the pass
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


def merkle_manifest(run: RunRecord, trees: tuple[Tree, ...]) -> dict[str, Any]:
    """The manifest of evidence schema 2: the config, task and arm hashes, and per arm and task the Merkle root of
    its completions' and of its scores' recorded sha256 (RFC 6962, leaves in run plan key order) with the leaf count."""
    roots: dict[str, dict[str, dict[str, Any]]] = {}
    for tree in trees:
        entry = roots.setdefault(tree.arm, {}).setdefault(tree.task.name, {})
        entry[tree.kind] = tree.builder.root()
        entry[f"{tree.kind}_leaves"] = tree.builder.size
    plan = run.plan
    return {
        "manifest_version": MANIFEST_VERSION,
        "config_sha256": run.config_sha256,
        "tasks": {t.name: t.content_sha256 for t in plan.tasks},
        "arms": {a.name: a.fingerprint for a in plan.arms},
        "merkle": {"tree": "RFC 6962 Merkle Tree Hash, sha256; leaves: each row's recorded sha256, in run plan key "
                           "order", "roots": roots},
    }


def keep_leaves(store: RunStore, streamed: StreamedScreen) -> None:
    """Keep every tree's leaves in the store under its root (once per root), for ``tais verify``."""
    for tree in streamed.trees:
        store.put_merkle_tree(tree.builder.root(), tree.stored_leaves())


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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
        keep_leaves(store, streamed)
    store.add_analysis(run.id, thresholds.to_dict(), file_sha256(out_dir / EVIDENCE_FILENAME))
    return streamed.result, paths
