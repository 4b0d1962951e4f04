"""Verdict robustness (:mod:`tais.screen.robustness`) for the streaming analysis, in bounded memory.

While :mod:`tais.pipeline.stream` counts a cell, it keeps only the key and first-scorer outcomes of each pair the
second scorer must read (:func:`tais.screen.robustness.needs_rescore`: discordant, or texts that differ) in a
:class:`Rescoring`. Afterwards :func:`streamed_robustness` re-reads just those completions from the store (by
primary key, :data:`BATCH` at a time, task by task with the task's items), scores both sides with the second
scorer, and moves each pair's outcomes in a copy of the cell's :class:`~tais.screen.cells.CellTally` from the first
reading to the second (:meth:`~tais.screen.cells.CellTally.rescore`). The copies go through the same statistics and
verdicts (:func:`~tais.screen.cells.cells_from_tallies`, Holm across the whole screen), and the records and notes are
those of the in-memory check (:func:`~tais.screen.robustness.robustness_records`,
:func:`~tais.screen.robustness.noted_cells`): the result equals :func:`tais.screen.analyse.analyse`'s.

Memory: per cell, one small record per pair to re-score (identical pairs, most of a screen, cost nothing); the
completions re-read are held one batch at a time.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tais.interfaces import Scorer
from tais.scoring.registry import get_scorer
from tais.screen.cells import CellTally, cells_from_tallies
from tais.screen.result import CellResult, CellRobustness
from tais.screen.robustness import (
    CheckedCell,
    alternative_scorer,
    noted_cells,
    robustness_records,
)
from tais.store import PlannedArm, RunPlan, RunStore
from tais.types import CompletionKey, Item, Task, Thresholds

BATCH = 256
"""completions re-read from the store at a time"""


@dataclass
class Rescoring:
    """The pairs of one cell that the second scorer reads: each key with its outcomes under the first scorer."""

    arm: PlannedArm
    task: str
    alt_scorer: str
    pending: list[tuple[CompletionKey, int | None, int | None]] = field(default_factory=list)


def task_meta(store: RunStore, plan: RunPlan) -> dict[str, Task]:
    """Each planned task as stored, without its items (a task the store lacks, or whose record no longer parses, is
    left out: its cells are not checked, and the task is a problem of the stream already)."""
    tasks = {}
    for planned in plan.tasks:
        try:
            tasks[planned.name] = Task(items=(), **json.loads(store.task_json(planned.content_sha256)))
        except (KeyError, TypeError, ValueError):
            continue
    return tasks


def rescoring_for(tasks: dict[str, Task], choice: str | None, arm: PlannedArm, task: str) -> Rescoring | None:
    """The (empty) :class:`Rescoring` of the cell of ``arm`` on ``task``, None when the cell is not checked."""
    name = None if choice is None or task not in tasks else alternative_scorer(tasks[task], choice)
    return None if name is None else Rescoring(arm, task, name)


def streamed_robustness(store: RunStore, plan: RunPlan, tallies: Sequence[CellTally],
                        rescorings: Sequence[Rescoring | None], cells: Sequence[CellResult], tasks: dict[str, Task],
                        thresholds: Thresholds, make_scorer: Callable[[str], Scorer] = get_scorer,
                        ) -> tuple[list[CellResult], tuple[CellRobustness, ...]]:
    """Re-score the pending pairs (see the module docstring). ``tallies``, ``rescorings`` and ``cells`` are parallel
    (the cells as built from the tallies). Returns the cells (a flipped verdict noted in its reasons) and one
    :class:`CellRobustness` per checked cell, in the in-memory order (task, then contrast)."""
    if not any(r is not None for r in rescorings):
        return list(cells), ()
    scorers: dict[str, Scorer] = {}
    alt_tallies = [copy.deepcopy(t) for t in tallies]
    checked: list[tuple[int, int, CheckedCell]] = []
    task_order = {t.name: i for i, t in enumerate(plan.tasks)}
    for planned in plan.tasks:
        own = [(i, r) for i, r in enumerate(rescorings) if r is not None and r.task == planned.name]
        if not own:
            continue
        meta = tasks[planned.name]
        items = _items(store, planned.content_sha256, {k.item_id for i, r in own for k, _, _ in r.pending})
        for index, rescoring in own:
            if rescoring.alt_scorer not in scorers:
                scorers[rescoring.alt_scorer] = make_scorer(rescoring.alt_scorer)
            scorer = scorers[rescoring.alt_scorer]
            _rescore_cell(store, plan.reference, rescoring, meta, items, scorer, alt_tallies[index])
            check = CheckedCell(tallies[index].contrast, meta.name, meta.scorer, scorer.id, len(rescoring.pending))
            checked.append((task_order[planned.name], index, check))
    checked.sort(key=lambda c: (c[0], c[1]))
    records = robustness_records([c for _, _, c in checked], cells, cells_from_tallies(alt_tallies, thresholds))
    return noted_cells(cells, records), records


def _items(store: RunStore, task_sha256: str, wanted: set[str]) -> dict[str, Item]:
    """The task's stored items that ``wanted`` names, by the id of their row. An item whose record no longer parses is
    left out (its pairs keep the first scorer's reading; the damaged task is already a problem of the stream)."""
    items = {}
    for item_id, item_json in store.item_json_rows(task_sha256):
        if item_id in wanted:
            try:
                items[item_id] = Item.from_dict(json.loads(item_json))
            except (TypeError, ValueError, KeyError, AttributeError):
                continue
    return items


def _rescore_cell(store: RunStore, reference: PlannedArm, rescoring: Rescoring, task: Task, items: dict[str, Item],
                  scorer: Scorer, tally: CellTally) -> None:
    """Move each pending pair of the cell in ``tally`` from its first-scorer outcomes to the second scorer's."""
    pending = rescoring.pending
    for start in range(0, len(pending), BATCH):
        batch = pending[start:start + BATCH]
        keys = [key for key, _, _ in batch]
        ref = store.completions(reference.fingerprint, keys, logprobs=False)
        arm = store.completions(rescoring.arm.fingerprint, keys, logprobs=False)
        for key, old_ref, old_arm in batch:
            item = items.get(key.item_id)
            if item is None or key not in ref or key not in arm:
                continue
            new_ref = scorer.score(item, ref[key].completion, task.outcome).outcome
            new_arm = scorer.score(item, arm[key].completion, task.outcome).outcome
            tally.rescore((old_ref, old_arm), (new_ref, new_arm))
