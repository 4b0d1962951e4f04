"""Throughput of each arm: tokens per second, speculative acceptance, speedup over the reference.

- ``tokens_per_s`` = output tokens of the arm's completions / the arm's generation wall time
  (``ArmInfo.generation_wall_s``; when that is 0, the sum of the completions' own ``wall_s``).
- ``acceptance`` = accepted / drafted speculative tokens, summed over the completions' ``spec`` counters; when no
  completion carries counters, from the arm's engine telemetry keys ``spec_accepted`` and ``spec_drafted`` (e.g.
  read from vLLM's /metrics); None for a target-only arm.
- ``speedup`` = the arm's tokens/s / the reference's tokens/s.

Worked example: reference 1000 tokens in 20 s (50 tok/s); candidate 1000 tokens in 12.5 s (80 tok/s) with 900
drafted and 630 accepted: acceptance 0.70, speedup 1.6.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

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
    return [replace(row, speedup=row.tokens_per_s / base if base and row.tokens_per_s else None) for row in rows]
