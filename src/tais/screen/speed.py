"""Throughput of each arm: tokens per second, speculative acceptance, speedup over the reference.

- ``tokens_per_s`` = output tokens of the arm's completions / the arm's generation wall time
  (``ArmInfo.generation_wall_s``; when that is 0, the sum of the completions' own ``wall_s``).
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

from collections.abc import Mapping, Sequence
from dataclasses import replace

from tais.screen.result import ArmInfo, ArmSpeed
from tais.types import Completion, CompletionKey, Role


def arm_speeds(
    arms: Sequence[ArmInfo],
    completions: Mapping[str, Mapping[CompletionKey, Completion]],
    task_of: Mapping[str, str],
) -> list[ArmSpeed]:
    """One :class:`ArmSpeed` per arm, in the order of ``arms``; only completions of items in ``task_of`` (item id ->
    task name) count."""
    rows = []
    for arm in arms:
        done = [c for key, c in sorted(completions.get(arm.name, {}).items()) if key.item_id in task_of]
        tokens = sum(c.output_tokens for c in done)
        wall = arm.generation_wall_s if arm.generation_wall_s > 0 else sum(c.wall_s for c in done)
        by_task: dict[str, list[int]] = {}
        for c in done:
            if c.spec is not None and c.spec.drafted:
                counts = by_task.setdefault(task_of[c.item_id], [0, 0])
                counts[0] += c.spec.accepted
                counts[1] += c.spec.drafted
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
