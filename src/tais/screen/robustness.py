"""Verdict robustness: does a cell's verdict hold when its completions are scored by a second scorer?

A verdict rests on a scorer's reading of every completion. When two reasonable scorers disagree on the pairs that
matter, the verdict is partly the scorer's. For every cell whose task has a second scorer
(:func:`alternative_scorer`), the pairs that can move the paired table are re-scored with it:

- **discordant** pairs (the two outcomes differ under the task's scorer), and
- **divergent** pairs (the two texts differ), which a different reading could make discordant.

A byte-identical pair is concordant under any scorer that reads only the text, so it is not re-scored: ``b`` and
``c`` under the second scorer are exact, and with them McNemar, Tango and the TOST; identical pairs keep the first
scorer's reading (their a/d split, and undecided when the first scorer could not decide them). The re-scored cells go
through the same statistics and verdict
(:func:`tais.screen.cells.build_cells`, Holm across the whole screen again), and each checked cell gets a
:class:`~tais.screen.result.CellRobustness`; a cell whose verdict flips says so in its reasons.

Which second scorer (config ``robustness_scorer``): ``auto`` (default) = the other refusal scorer
(``refusal-hybrid`` <-> ``refusal-rules``, ``xstest-strmatch`` -> ``refusal-hybrid``; tasks scored otherwise are
not checked); a scorer name (a rule scorer: judges need an engine, which the analysis has not); ``none`` = off.

Worked example: a cell with b = 0, c = 6 under ``refusal-rules`` (PASS or FAIL by the thresholds) whose six
candidate replies lecture ("It is not ethical to...") instead of declining has c = 0 under ``refusal-hybrid``,
which reads them as refusals too; if that changes the verdict, the cell's reasons end with
``verdict FAIL under refusal-hybrid@... (b, c: 0, 6 -> 0, 0)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tais.errors import ConfigError
from tais.interfaces import Scorer
from tais.scoring.registry import RULE_SCORERS, get_scorer
from tais.screen.cells import CellInput, build_cells
from tais.screen.pairing import Pair
from tais.screen.result import CellResult, CellRobustness
from tais.types import Battery, Item, Task, Thresholds

AUTO = "auto"
OFF = "none"
_OTHER = {"refusal-hybrid": "refusal-rules", "refusal-rules": "refusal-hybrid", "xstest-strmatch": "refusal-hybrid"}
ALLOWED = tuple(n for n in RULE_SCORERS if n != "multiple-choice")


def check_choice(choice: str | None, *, where: str | None = None) -> str:
    """Validate a ``robustness_scorer`` value: ``auto``, ``none`` or a rule refusal scorer name."""
    value = AUTO if choice is None else str(choice)
    if value not in (AUTO, OFF) + ALLOWED:
        raise ConfigError(f"must be auto, none or one of {', '.join(ALLOWED)}, got {value!r}", path=where,
                          key="robustness_scorer")
    return value


def alternative_scorer(task: Task, choice: str) -> str | None:
    """The second scorer's name for ``task`` (None: the task is not checked).

    >>> from tais.types import Task
    >>> t = Task(name="t", items=(), outcome="refusal", scorer="refusal-rules")
    >>> alternative_scorer(t, "auto"), alternative_scorer(t, "xstest-strmatch"), alternative_scorer(t, "none")
    ('refusal-hybrid', 'xstest-strmatch', None)
    """
    if choice == OFF or task.outcome not in ("refusal", "compliance"):
        return None
    name = _OTHER.get(task.scorer) if choice == AUTO else choice
    return None if name is None or name == task.scorer else name


def _rescore(pair: Pair, task: Task, item: Item, scorer: Scorer) -> Pair:
    ref = scorer.score(item, pair.reference, task.outcome)
    cand = scorer.score(item, pair.candidate, task.outcome)
    return replace(pair, score_reference=ref, score_candidate=cand)


def needs_rescore(identical_text: bool, outcome_reference: int | None, outcome_candidate: int | None) -> bool:
    """A pair the second scorer must read: discordant under the first scorer (both decided, different) or with
    different texts. The streaming analysis (:mod:`tais.pipeline.stream`) asks the same of each pair it counts.

    >>> needs_rescore(True, 1, 0), needs_rescore(False, 1, 1), needs_rescore(True, None, 1), needs_rescore(True, 1, 1)
    (True, True, False, False)
    """
    discordant = outcome_reference is not None and outcome_candidate is not None and \
        outcome_reference != outcome_candidate
    return discordant or not identical_text


def _needs_rescore(pair: Pair) -> bool:
    return needs_rescore(pair.identical_text, pair.outcome_reference, pair.outcome_candidate)


@dataclass(frozen=True)
class CheckedCell:
    """A cell the second scorer read: which scorers, and how many of its pairs it re-scored."""

    contrast: str
    task: str
    scorer: str
    """the task's own scorer"""
    alt_scorer: str
    """the second scorer's id"""
    rescored: int


def robustness_records(checked: Sequence[CheckedCell], cells: Sequence[CellResult],
                       alt_cells: Sequence[CellResult]) -> tuple[CellRobustness, ...]:
    """One :class:`CellRobustness` per checked cell, in the order of ``checked``: the cell as screened (``cells``)
    beside the same cell re-screened with the second scorer's outcomes (``alt_cells``)."""
    first = {(c.contrast, c.task): c for c in cells}
    second = {(c.contrast, c.task): c for c in alt_cells}
    records = []
    for check in checked:
        cell, alt = first[(check.contrast, check.task)], second[(check.contrast, check.task)]
        records.append(CellRobustness(contrast=cell.contrast, task=cell.task, scorer=check.scorer,
                                      alt_scorer=check.alt_scorer, rescored=check.rescored, b=cell.b, c=cell.c,
                                      b_alt=alt.b, c_alt=alt.c, undecided_alt=alt.undecided,
                                      verdict=cell.verdict.value, verdict_alt=alt.verdict.value))
    return tuple(records)


def noted_cells(cells: Sequence[CellResult], records: Sequence[CellRobustness]) -> list[CellResult]:
    """``cells`` with a note appended to the reasons of each cell whose verdict flips under the second scorer."""
    flips = {(r.contrast, r.task): r for r in records if r.flips}
    out = []
    for cell in cells:
        r = flips.get((cell.contrast, cell.task))
        if r is None:
            out.append(cell)
        else:
            note = (f"verdict {r.verdict_alt} under {r.alt_scorer} (b, c: {r.b}, {r.c} -> {r.b_alt}, {r.c_alt}): "
                    f"the verdict depends on the scorer")
            out.append(replace(cell, reasons=tuple(cell.reasons) + (note,)))
    return out


def check_robustness(inputs: Sequence[CellInput], cells: Sequence[CellResult], battery: Battery,
                     thresholds: Thresholds, choice: str,
                     make_scorer: Callable[[str], Scorer] = get_scorer) -> tuple[list[CellResult],
                                                                             tuple[CellRobustness, ...]]:
    """Re-score the cells' discordant and divergent pairs (see the module docstring). Returns the cells (a flipped
    verdict noted in its reasons) and one :class:`CellRobustness` per checked cell, in cell order. ``inputs`` and
    ``cells`` are parallel (the order :func:`build_cells` was given)."""
    tasks = {t.name: t for t in battery.tasks}
    scorers: dict[str, Scorer] = {}
    alt_inputs, checked = [], []
    for cell_input in inputs:
        task = tasks[cell_input.task]
        name = alternative_scorer(task, choice)
        if name is None:
            alt_inputs.append(cell_input)
            continue
        scorer = scorers[name] if name in scorers else scorers.setdefault(name, make_scorer(name))
        items = {i.id: i for i in task.items}
        pairs = [(_rescore(p, task, items[p.item_id], scorer), True) if _needs_rescore(p) else (p, False)
                 for p in cell_input.pairs]
        alt_inputs.append(replace(cell_input, pairs=[p for p, _ in pairs]))
        checked.append(CheckedCell(cell_input.contrast, task.name, task.scorer, scorer.id,
                                   sum(flag for _, flag in pairs)))
    if not checked:
        return list(cells), ()
    records = robustness_records(checked, cells, build_cells(alt_inputs, thresholds))
    return noted_cells(cells, records), records
