"""A run directory as an older tais wrote it: before the RunPlan (commit 12fe0c8), each run's plan stored as the
untyped version-1 dict; before the plan kept its items in the store, the version-2 dict with every item's request
hashes inline. Built by rewriting the plan of a run directory that the current code wrote (and emptying the
``plan_items`` tables, which those versions did not have); the other tables and ``evidence.json`` were laid out the
same way by all."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tais.store import RunPlan, RunStore, canonical_json


def legacy_plan(plan: RunPlan) -> dict[str, Any]:
    """The plan dict of tais 12fe0c8 (``pipeline/run.py::_plan``), key for key."""
    return {
        "name": plan.name,
        "replicates": plan.replicates,
        "thresholds": plan.thresholds.to_dict(),
        "tasks": [{"name": t.name, "content_sha256": t.content_sha256, "scorer": t.scorer, "scorer_id": t.scorer_id}
                  for t in plan.tasks],
        "arms": [{"name": a.name, "role": a.role.value, "fingerprint": a.fingerprint} for a in plan.arms],
        "requests": {i.item_id: list(i.request_sha256) for t in plan.tasks for i in t.items},
    }


def inline_plan(plan: RunPlan) -> dict[str, Any]:
    """The plan dict of plan version 2 (``RunPlan.to_dict`` before the items moved to the store), key for key."""
    return {
        "plan_version": 2,
        "name": plan.name,
        "replicates": plan.replicates,
        "thresholds": plan.thresholds.to_dict(),
        "tasks": [
            {"name": t.name, "content_sha256": t.content_sha256, "scorer": t.scorer, "scorer_id": t.scorer_id,
             "items": [{"item_id": i.item_id, "request_sha256": list(i.request_sha256)} for i in t.items]}
            for t in plan.tasks
        ],
        "arms": [{"name": a.name, "role": a.role.value, "fingerprint": a.fingerprint} for a in plan.arms],
    } | ({"robustness_scorer": plan.robustness_scorer} if plan.robustness_scorer is not None else {}) \
        | ({"rescoring": plan.rescoring.to_dict()} if plan.rescoring is not None else {})


OLD_LAYOUTS = {1: legacy_plan, 2: inline_plan}
"""plan version -> the dict an older tais stored for a plan"""


def make_legacy(run_dir: Path, version: int = 1) -> None:
    """Rewrite every run of ``run_dir``'s store with its plan in the layout of plan ``version`` (1 or 2), and drop
    the ``plan_items`` rows, which no tais of those versions wrote."""
    path = Path(run_dir) / "store.sqlite"
    with RunStore(path, create=False) as store:
        ids = [row[0] for row in store._db.execute("SELECT id FROM runs").fetchall()]
        read = {run_id: store.run(run_id).plan for run_id in ids}
        plans = {run_id: OLD_LAYOUTS[version](plan) for run_id, plan in read.items()}
    if version == 1:
        assert all(p.robustness_scorer is None for p in read.values()), "a version-1 run had no robustness check"
        assert all(p.rescoring is None for p in read.values()), "a version-1 run had no token evidence"
    db = sqlite3.connect(path)
    try:
        for run_id, plan in plans.items():
            db.execute("UPDATE runs SET plan_json=? WHERE id=?", (canonical_json(plan), run_id))
        db.execute("DELETE FROM plan_items")
        db.execute("DELETE FROM plan_item_sets")
        db.commit()
    finally:
        db.close()


def set_plan_version(run_dir: Path, version: int) -> None:
    """Mark every stored plan with another ``plan_version`` (a plan written by some other tais)."""
    db = sqlite3.connect(Path(run_dir) / "store.sqlite")
    try:
        for run_id, text in db.execute("SELECT id, plan_json FROM runs").fetchall():
            db.execute("UPDATE runs SET plan_json=? WHERE id=?",
                       (canonical_json({**json.loads(text), "plan_version": version}), run_id))
        db.commit()
    finally:
        db.close()
