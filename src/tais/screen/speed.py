"""Throughput of each arm: tokens per second, speculative acceptance, speedup over the reference.

- ``tokens_per_s`` = output tokens of the arm's completions / the arm's generation wall time
  (``ArmInfo.generation_wall_s``; when that is 0, the exact sum of the completions' own ``wall_s``).
- ``acceptance`` = accepted / drafted speculative tokens, summed over the completions' ``spec`` counters; when no
  completion carries counters, from the arm's engine telemetry keys ``spec_accepted`` and ``spec_drafted`` (e.g.
  read from vLLM's /metrics); None for a target-only arm.
- ``speedup`` = the arm's tokens/s / the reference's tokens/s.
- ``null_speedup`` (on candidate rows) = the null (A/A) arm's speedup: the same stack run again, so its distance from
  1.00x is what speed differs by with no change at all (warm-up left over, machine load); a candidate's speedup means
  something only beyond it. With several null arms, the one farthest from 1.

Worked example: reference 1000 tokens in 20 s (50 tok/s); candidate 1000 tokens in 12.5 s (80 tok/s) with 900
drafted and 630 accepted: acceptance 0.70, speedup 1.6; a null arm at 1000 tokens in 19 s has speedup 1.05, the
noise floor shown beside the candidate's 1.6::

    >>> from tais.screen.result import ArmSpeed
    >>> rows = [ArmSpeed("ref", 1000, 20.0, 50.0, None, 1.0, role="reference"),
    ...         ArmSpeed("spec", 1000, 12.5, 80.0, 0.7, 1.6), ArmSpeed("aa", 1000, 19.0, 52.6, None, 1.05, role="null")]
    >>> [(r.arm, r.null_speedup) for r in with_null_speedup(rows)]
    [('ref', None), ('spec', 1.05), ('aa', None)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from tais.screen.result import ArmInfo, ArmSpeed
from tais.types import Completion, CompletionKey, Role


class ExactSum:
    """A float sum that does not depend on the order of the terms: Shewchuk's exact partials (as in
    ``math.fsum``), fed one term at a time, so a streamed sum and ``math.fsum`` of the same terms agree to the bit.

    >>> s = ExactSum()
    >>> for x in (0.1, 1e16, 0.1, -1e16):
    ...     s.add(x)
    >>> s.value() == math.fsum([0.1, 1e16, 0.1, -1e16]) == 0.2
    True
    """

    def __init__(self) -> None:
        self._partials: list[float] = []

    def add(self, x: float) -> None:
        partials = self._partials
        i = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                partials[i] = lo
                i += 1
            x = hi
        partials[i:] = [x]

    def value(self) -> float:
        return math.fsum(self._partials)


@dataclass
class ArmTally:
    """What an arm's speed comes from, gathered one completion at a time: output tokens, the completions' own wall
    time, and accepted / drafted speculative tokens per task."""

    tokens: int = 0
    wall: ExactSum = field(default_factory=ExactSum)
    by_task: dict[str, list[int]] = field(default_factory=dict)

    def add(self, task: str, output_tokens: int, wall_s: float, spec_accepted: int, spec_drafted: int) -> None:
        self.tokens += output_tokens
        self.wall.add(wall_s)
        if spec_drafted:
            counts = self.by_task.setdefault(task, [0, 0])
            counts[0] += spec_accepted
            counts[1] += spec_drafted


def arm_speeds(
    arms: Sequence[ArmInfo],
    completions: Mapping[str, Mapping[CompletionKey, Completion]],
    task_of: Mapping[str, str],
) -> list[ArmSpeed]:
    """One :class:`ArmSpeed` per arm, in the order of ``arms``; only completions of items in ``task_of`` (item id ->
    task name) count."""
    tallies = []
    for arm in arms:
        tally = ArmTally()
        for key, c in completions.get(arm.name, {}).items():
            if key.item_id in task_of:
                spec = c.spec
                tally.add(task_of[key.item_id], c.output_tokens, c.wall_s, spec.accepted if spec else 0,
                          spec.drafted if spec else 0)
        tallies.append(tally)
    return speeds_from_tallies(arms, tallies)


def speeds_from_tallies(arms: Sequence[ArmInfo], tallies: Sequence[ArmTally]) -> list[ArmSpeed]:
    """:func:`arm_speeds` from each arm's tally (same order as ``arms``)."""
    rows = []
    for arm, tally in zip(arms, tallies, strict=True):
        tokens = tally.tokens
        wall = arm.generation_wall_s if arm.generation_wall_s > 0 else tally.wall.value()
        by_task = tally.by_task
        accepted = sum(a for a, _ in by_task.values())
        drafted = sum(d for _, d in by_task.values())
        if not drafted and arm.telemetry.get("spec_drafted"):
            accepted, drafted = int(arm.telemetry.get("spec_accepted", 0)), int(arm.telemetry["spec_drafted"])
        rows.append(
            ArmSpeed(
                arm=arm.name,
                output_tokens=tokens,
                wall_s=float(wall),
                tokens_per_s=tokens / wall if wall > 0 else None,
                acceptance=accepted / drafted if drafted else None,
                speedup=None,
                role=arm.role,
                acceptance_by_task={task: a / d for task, (a, d) in sorted(by_task.items())},
            )
        )
    reference = next((r for r, a in zip(rows, arms) if a.role is Role.REFERENCE), None)
    base = reference.tokens_per_s if reference is not None else None
    return with_null_speedup(
        [replace(row, speedup=row.tokens_per_s / base if base and row.tokens_per_s else None) for row in rows])


def with_null_speedup(rows: Sequence[ArmSpeed]) -> list[ArmSpeed]:
    """The rows with each candidate's ``null_speedup`` set (see the module docstring)."""
    nulls = [r.speedup for r in rows if r.role == Role.NULL and r.speedup is not None]
    floor = max(nulls, key=lambda s: abs(s - 1.0)) if nulls else None
    return [replace(r, null_speedup=floor) if r.role == Role.CANDIDATE else r for r in rows]
