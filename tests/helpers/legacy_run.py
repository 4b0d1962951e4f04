"""A run directory as tais wrote it before the RunPlan (commit 12fe0c8): the same tables, with each run's plan stored
as the untyped version-1 dict. Built by rewriting the plan of a run directory that the current code wrote; the other
tables and ``evidence.json`` were laid out the same way by both."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tais.store import RunPlan, canonical_json


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


def make_legacy(run_dir: Path) -> None:
    """Rewrite every run of ``run_dir``'s store with its plan in the version-1 layout."""
    db = sqlite3.connect(Path(run_dir) / "store.sqlite")
    try:
        for run_id, text in db.execute("SELECT id, plan_json FROM runs").fetchall():
            plan = RunPlan.from_dict(json.loads(text))
            assert plan.robustness_scorer is None, "a version-1 run had no robustness check"
            assert plan.rescoring is None, "a version-1 run had no token evidence"
            db.execute("UPDATE runs SET plan_json=? WHERE id=?", (canonical_json(legacy_plan(plan)), run_id))
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
