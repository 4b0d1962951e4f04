"""The synthetic screen of :mod:`helpers.screen_scenario` written into a real SQLite run store through the store API,
with a :class:`~tais.store.RunPlan` naming it, so the streaming analysis and the in-memory one can read the same
rows."""

from __future__ import annotations

from pathlib import Path

from helpers import screen_scenario as scenario
from tais.store import PlannedArm, PlannedItem, PlannedTask, RunPlan, RunStore
from tais.types import Thresholds


def write_scenario(path: Path, names=("ref", "strict", "lossy", "aa"), edit=None, **build_options) -> RunStore:
    """A store holding the scenario as one finished run (arm fingerprints ``fp-<arm>``); returns it open. ``edit``
    (arm name, completion) -> completion changes completions before they are stored."""
    battery, arms, completions, scores = scenario.build(names, **build_options)
    store = RunStore(path)
    keys = store.put_tasks(battery.tasks)
    tasks = tuple(
        PlannedTask(task.name, keys[task.name], task.scorer, "synthetic@1",
                    tuple(PlannedItem(item.id, (scenario.key(item.id).request_sha256,)) for item in task.items))
        for task in battery.tasks
    )
    for arm in arms:
        store.put_arm(arm.fingerprint, arm.name, dict(arm.spec), {"engine": "synthetic"})
        per_completion = arm.generation_wall_s / sum(len(t.items) for t in battery.tasks)
        for key, completion in completions[arm.name].items():
            completion = completion if edit is None else edit(arm.name, completion)
            store.add_completion(arm.fingerprint, key, completion, elapsed_s=per_completion)
        store.add_scores(arm.fingerprint, "synthetic@1", list(scores[arm.name].items()))
        if arm.telemetry:
            store.add_arm_telemetry(arm.fingerprint, dict(arm.telemetry))
    plan = RunPlan("scenario", 1, Thresholds(), tasks,
                   tuple(PlannedArm(a.name, a.role, a.fingerprint) for a in arms))
    store.add_run("c" * 64, "name: scenario\n", plan)
    return store
