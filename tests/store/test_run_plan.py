"""The RunPlan contract: an exact JSON round trip through the store, typed fields, the items kept in the store's
``plan_items`` table (written once, read by cursor, checked against their sha256), the version-1 and version-2
layouts, and the refusal of an unknown version."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tais.errors import InputError, IntegrityError
from tais.store import (
    PLAN_VERSION,
    PlannedArm,
    PlannedItem,
    PlannedItems,
    PlannedTask,
    RunPlan,
    RunStore,
    canonical_json,
)
from tais.types import CompletionKey, Role, Thresholds


def _plan(replicates=2):
    tasks = tuple(
        PlannedTask(name, f"{name[0]}" * 64, "refusal-rules", "refusal-rules@3",
                    tuple(PlannedItem(f"{name}/{i}", tuple(f"{name}-{i}-{r}" for r in range(replicates)))
                          for i in range(3)))
        for name in ("harm", "benign")
    )
    arms = (PlannedArm("ref", Role.REFERENCE, "a" * 64), PlannedArm("spec", Role.CANDIDATE, "b" * 64),
            PlannedArm("aa", Role.NULL, "c" * 64))
    return RunPlan(name="demo", replicates=replicates, thresholds=Thresholds(margin=0.05, tau=0.2 / 3), tasks=tasks,
                   arms=arms)


def test_json_round_trip_is_exact():
    plan = _plan()
    text = canonical_json(plan.to_dict())
    again = RunPlan.from_dict(json.loads(text))
    assert again == plan and canonical_json(again.to_dict()) == text
    assert again.thresholds.tau == 0.2 / 3  # a float that needs all 17 digits survives
    assert json.loads(text)["plan_version"] == PLAN_VERSION


def test_fields_are_typed(tmp_path):
    with RunStore(tmp_path / "s.sqlite") as store:
        plan = store.run(store.add_run("c" * 64, "cfg", _plan())).plan
        assert isinstance(plan.tasks[0].items[0].request_sha256, tuple)
    assert [a.role for a in plan.arms] == [Role.REFERENCE, Role.CANDIDATE, Role.NULL]
    assert all(type(a.role) is Role for a in plan.arms)
    assert isinstance(plan.thresholds, Thresholds) and isinstance(plan.tasks[0].items, PlannedItems)
    assert PlannedArm("x", "null", "f").role is Role.NULL  # a string is converted on construction
    with pytest.raises(ValueError):
        PlannedArm("x", "judge", "f")


def test_keys_are_completion_keys_in_item_then_replicate_order():
    plan = _plan()
    assert plan.keys("harm")[:3] == (CompletionKey("harm/0", 0, "harm-0-0"), CompletionKey("harm/0", 1, "harm-0-1"),
                                     CompletionKey("harm/1", 0, "harm-1-0"))
    assert len(plan.keys("benign")) == 6 and plan.reference.name == "ref"
    with pytest.raises(KeyError):
        plan.keys("missing")


def test_the_store_holds_the_plan(tmp_path):
    with RunStore(tmp_path / "s.sqlite") as store:
        run_id = store.add_run("c" * 64, "config text", _plan())
    with RunStore(tmp_path / "s.sqlite", create=False) as store:
        record = store.run(run_id)
    assert record.plan == _plan() and record.config_text == "config text"


def test_an_unknown_version_is_refused_naming_both():
    data = {**_plan().to_dict(), "plan_version": PLAN_VERSION + 1}
    with pytest.raises(InputError, match=rf"run plan version {PLAN_VERSION + 1}: this tais reads run plan version "
                                         rf"{PLAN_VERSION}"):
        RunPlan.from_dict(data)


def test_a_damaged_stored_plan_is_an_integrity_error(tmp_path):
    import sqlite3

    with RunStore(tmp_path / "s.sqlite") as store:
        store.add_run("c" * 64, "cfg", _plan())
    db = sqlite3.connect(tmp_path / "s.sqlite")
    damaged = {k: v for k, v in _plan().to_dict().items() if k != "arms"}
    db.execute("UPDATE runs SET plan_json=?", (canonical_json(damaged),))
    db.commit()
    db.close()
    with RunStore(tmp_path / "s.sqlite", create=False) as store:
        with pytest.raises(IntegrityError, match="run 1 plan: stored bytes are not a run plan"):
            store.latest_run()


def test_the_plan_json_names_the_items_and_the_store_keeps_them(tmp_path):
    """The JSON holds each task's items' sha256 and count, not the hashes (its size does not grow with the items);
    the store keeps one row per item, written once however many runs name them."""
    small, large = _plan(), _plan_of(items=500)
    # only the two counts' digits differ ("3" -> "500")
    assert len(canonical_json(large.to_dict())) - len(canonical_json(small.to_dict())) == 2 * 2
    assert "harm-0-0" not in canonical_json(small.to_dict())
    with RunStore(tmp_path / "s.sqlite") as store:
        first = store.add_run("c" * 64, "cfg", large)
        second = store.add_run("c" * 64, "cfg", large)
        rows = store._db.execute("SELECT COUNT(*) FROM plan_items").fetchone()[0]
        read = store.run(second).plan
        assert rows == 2 * 500 and read == store.run(first).plan == large
        assert read.keys("harm") == large.keys("harm") and len(read.keys("benign")) == 500 * 2
        assert read.task("harm").items[-1] == PlannedItem("harm/499", ("harm-499-0", "harm-499-1"))
        assert not read.task("harm").items.inline  # read by cursor, not held


def test_plan_items_read_from_json_alone_are_named_but_cannot_be_walked():
    plan = RunPlan.from_dict(json.loads(canonical_json(_plan().to_dict())))
    assert plan == _plan()  # equal by the items' sha256
    with pytest.raises(LookupError, match="kept in the run store"):
        plan.keys("harm")


def test_an_edited_plan_item_row_is_an_integrity_error(tmp_path):
    with RunStore(tmp_path / "s.sqlite") as store:
        store.add_run("c" * 64, "cfg", _plan())
    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.execute("UPDATE plan_items SET requests = 'harm-1-0,edited' WHERE item_id = 'harm/1'")
    db.commit()
    db.close()
    with RunStore(tmp_path / "s.sqlite", create=False) as store:
        plan = store.latest_run().plan
        assert plan.keys("benign") == _plan().keys("benign")  # positive control: an untouched task walks
        with pytest.raises(IntegrityError, match="stored rows no longer hash to the 3 items the plan names"):
            plan.keys("harm")


def test_a_version_2_plan_with_the_hashes_inline_reads_as_the_same_plan():
    plan = _plan()
    inline = {**plan.to_dict(), "plan_version": 2}
    for task in inline["tasks"]:
        del task["requests"]
        task["items"] = [{"item_id": i.item_id, "request_sha256": list(i.request_sha256)}
                         for i in plan.task(task["name"]).items]
    again = RunPlan.from_dict(inline)
    assert again == plan and again.keys("harm") == plan.keys("harm") and again.task("harm").items.inline


def _plan_of(items: int) -> RunPlan:
    plan = _plan()
    tasks = tuple(PlannedTask(t.name, t.content_sha256, t.scorer, t.scorer_id,
                              tuple(PlannedItem(f"{t.name}/{i}", (f"{t.name}-{i}-0", f"{t.name}-{i}-1"))
                                    for i in range(items)))
                  for t in plan.tasks)
    return RunPlan(plan.name, plan.replicates, plan.thresholds, tasks, plan.arms)
