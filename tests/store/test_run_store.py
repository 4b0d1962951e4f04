"""The run store on a real SQLite file: WAL mode, append-only keys, resume, hashes, export."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest

from tais.errors import InputError, IntegrityError
from tais.store import (
    CompletionKey,
    PlannedArm,
    PlannedItem,
    PlannedTask,
    RunPlan,
    RunStore,
    completion_sha256,
    sha256_text,
    task_content_sha256,
)
from tais.store.export import export_parquet
from tais.types import Completion, Item, Role, Score, SpecTelemetry, StepLogprobs, Task, Thresholds, TopLogprob


def _task(name="t", n=3, prompt="hello"):
    return Task(name=name, items=tuple(Item(id=f"{name}/{i}", prompt=f"{prompt} {i}") for i in range(n)),
                outcome="refusal", scorer="refusal-rules", sha256="loader-pin")


def _completion(item_id, text="Hi there", replicate=0):
    return Completion(item_id=item_id, text=text, replicate=replicate, token_ids=(1, 2),
                      logprobs=(StepLogprobs("Hi", -0.1, 1, (TopLogprob("Hi", -0.1, 1), TopLogprob("Yo", -2.5, 9))),),
                      output_tokens=2, spec=SpecTelemetry(drafted=4, accepted=3, verify_steps=1,
                                                          accepted_by_position=(1, 1, 1, 0)))


def test_file_is_wal_and_completions_round_trip(tmp_path):
    path = tmp_path / "store.sqlite"
    key = CompletionKey("t/0", 0, "r0")
    with RunStore(path) as store:
        assert store.add_completion("fp", key, _completion("t/0"), elapsed_s=0.5)
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    with RunStore(path, create=False) as store:
        got = store.completions("fp")[key]
    assert got.completion == _completion("t/0")
    assert got.sha256 == got.actual_sha256 == completion_sha256(_completion("t/0"))


def test_second_write_of_a_key_is_ignored_and_the_first_answer_stays(tmp_path):
    key = CompletionKey("t/0", 0, "r0")
    with RunStore(tmp_path / "s.sqlite") as store:
        assert store.add_completion("fp", key, _completion("t/0", "first"))
        assert not store.add_completion("fp", key, _completion("t/0", "second"))
        assert store.count_completions() == 1
        assert store.completions("fp")[key].completion.text == "first"


def test_missing_is_per_fingerprint_and_per_request_hash(tmp_path):
    keys = [CompletionKey(f"t/{i}", 0, f"r{i}") for i in range(4)]
    with RunStore(tmp_path / "s.sqlite") as store:
        store.add_completion("fp-a", keys[1], _completion("t/1"))
        store.add_completion("fp-a", keys[3], _completion("t/3"))
        assert store.missing("fp-a", keys) == [keys[0], keys[2]]
        assert store.missing("fp-b", keys) == keys  # another arm fingerprint shares nothing
        changed = CompletionKey("t/1", 0, "r1-new-prompt")  # same item, other request text
        assert store.missing("fp-a", [changed]) == [changed]


def test_completion_under_a_wrong_key_is_refused(tmp_path):
    with RunStore(tmp_path / "s.sqlite") as store, pytest.raises(ValueError):
        store.add_completion("fp", CompletionKey("t/0", 1, "r"), _completion("t/0", replicate=0))


def test_generation_wall_time_sums_the_recorded_elapsed_times(tmp_path):
    keys = [CompletionKey(f"t/{i}", 0, "r") for i in range(3)]
    with RunStore(tmp_path / "s.sqlite") as store:
        for k, elapsed in zip(keys, (1.5, 0.25, 2.0)):
            store.add_completion("fp", k, _completion(k.item_id), elapsed_s=elapsed)
        assert store.generation_wall_s("fp", keys) == pytest.approx(3.75)
        assert store.generation_wall_s("fp", keys[:1]) == pytest.approx(1.5)


def test_tasks_round_trip_under_their_content_hash(tmp_path):
    a, b = _task("a"), _task("b", prompt="other")
    with RunStore(tmp_path / "s.sqlite") as store:
        keys = store.put_tasks([a, b])
        store.put_tasks([a])  # idempotent
        assert keys == {"a": task_content_sha256(a), "b": task_content_sha256(b)}
        assert store.task(keys["a"]) == a
        assert [r[1] for r in store.item_rows() if r[0] == keys["b"]] == ["b/0", "b/1", "b/2"]
    assert task_content_sha256(a) != task_content_sha256(_task("a", prompt="changed"))


def test_scores_are_keyed_by_scorer_id(tmp_path):
    key = CompletionKey("t/0", 0, "r")
    with RunStore(tmp_path / "s.sqlite") as store:
        score = Score(item_id="t/0", outcome=1, label="refusal", scorer="refusal-rules@1")
        assert store.add_scores("fp", "refusal-rules@1", [(key, score)]) == 1
        assert store.add_scores("fp", "refusal-rules@1", [(key, score)]) == 0
        assert store.scores("fp", "refusal-rules@2") == {}
        got, recorded, actual = store.scores("fp", "refusal-rules@1")[key]
        assert got == score and recorded == actual


def test_an_edited_completion_byte_shows_as_a_hash_mismatch(tmp_path):
    path = tmp_path / "s.sqlite"
    key = CompletionKey("t/0", 0, "r")
    with RunStore(path) as store:
        store.add_completion("fp", key, _completion("t/0", "The quick brown fox"))
    data = path.read_bytes()
    offset = data.index(b"quick brown")
    path.write_bytes(data[:offset] + b"Q" + data[offset + 1:])
    with RunStore(path, create=False) as store:
        row = store.completions("fp")[key]
        assert row.completion.text == "The Quick brown fox"
        assert row.actual_sha256 != row.sha256


def test_a_completion_edited_into_invalid_json_raises_integrity_error(tmp_path):
    path = tmp_path / "s.sqlite"
    with RunStore(path) as store:
        store.add_completion("fp", CompletionKey("t/0", 0, "r"), _completion("t/0"))
    data = path.read_bytes()
    offset = data.index(b'"finish_reason"')
    path.write_bytes(data[:offset] + b"#" + data[offset + 1:])
    with RunStore(path, create=False) as store, pytest.raises(IntegrityError, match="completion t/0#0"):
        store.completions("fp")


def test_opening_a_missing_or_foreign_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no run store"):
        RunStore(tmp_path / "nope.sqlite", create=False)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(InputError, match="not a tais run store"):
        RunStore(junk, create=False)


def _plan(name):
    task = PlannedTask("t", "c" * 64, "refusal-rules", "refusal-rules@1", (PlannedItem("t/0", ("r0",)),))
    return RunPlan(name=name, replicates=1, thresholds=Thresholds(), tasks=(task,),
                   arms=(PlannedArm("ref", Role.REFERENCE, "f" * 64),))


def test_runs_and_analyses(tmp_path):
    with RunStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(InputError, match="no finished run"):
            store.latest_run()
        first = store.add_run(sha256_text("a"), "a", _plan("a"))
        second = store.add_run(sha256_text("b"), "b", _plan("b"))
        assert store.latest_run().id == second and store.run(first).plan == _plan("a")
        assert store.latest_run().plan.name == "b"
        assert store.latest_analysis(second) is None
        store.add_analysis(second, {"margin": 0.05}, "e" * 64)
        store.add_analysis(second, {"margin": 0.03}, "f" * 64)
        assert store.latest_analysis(second) == ({"margin": 0.03}, "f" * 64)


def test_parquet_export_reads_back_with_pyarrow(tmp_path):
    import pyarrow.parquet as pq

    key = CompletionKey("t/0", 0, "r")
    with RunStore(tmp_path / "s.sqlite") as store:
        store.put_tasks([_task()])
        store.put_arm("fp", "spec-arm", {"backend": "mock"}, {"backend": "mock"})
        store.add_completion("fp", key, _completion("t/0", "Hello <b>world</b>"))
        store.add_scores("fp", "refusal-rules@1", [(key, Score("t/0", 0, "compliance", "refusal-rules@1"))])
        store.add_arm_telemetry("fp", {"spec_drafted": 40, "spec_acceptance_rate": 0.25, "note": "x"})
        store.add_arm_telemetry("fp", {"spec_drafted": 8})
        run = store.add_run(sha256_text("cfg"), "cfg", _plan("cfg"))
        store.add_analysis(run, {"margin": 0.03}, "e" * 64)
        written = export_parquet(store, tmp_path / "pq")
    assert set(written) == {"arms", "tasks", "items", "completions", "scores", "runs", "analyses", "timings",
                            "arm_telemetry"}
    telemetry = pq.read_table(written["arm_telemetry"]).to_pylist()
    assert [(t["arm"], t["spec_drafted"], t["spec_acceptance_rate"]) for t in telemetry] == [
        ("spec-arm", 40.0, 0.25), ("spec-arm", 8.0, None)]
    assert "note" not in telemetry[0] and json.loads(telemetry[0]["telemetry_json"])["note"] == "x"
    timings = pq.read_table(written["timings"]).to_pylist()
    assert [(t["arm"], t["item_id"]) for t in timings] == [("spec-arm", "t/0")] and timings[0]["elapsed_s"] >= 0
    assert pq.read_table(written["analyses"]).to_pylist()[0]["evidence_sha256"] == "e" * 64
    completions = pq.read_table(written["completions"]).to_pylist()
    assert completions[0]["arm"] == "spec-arm" and completions[0]["text"] == "Hello <b>world</b>"
    assert completions[0]["accepted"] == 3 and completions[0]["drafted"] == 4
    assert json.loads(completions[0]["completion_json"])["token_ids"] == [1, 2]
    scores = pq.read_table(written["scores"]).to_pylist()
    assert scores[0]["outcome"] == 0 and scores[0]["arm"] == "spec-arm"
    assert [r["prompt"] for r in pq.read_table(written["items"]).to_pylist()] == ["hello 0", "hello 1", "hello 2"]


def _token_scores(item_id="t/0"):
    from tais.types import PositionScore, TokenScores

    return TokenScores(item_id=item_id, replicate=0, token_ids=(1, 2), positions=(
        PositionScore(-0.1, 1, -0.1, ((1, -0.1), (9, -2.5)), 0.4, True),
        PositionScore(-3.0, 7, -0.2, ((7, -0.2), (2, -3.0)), None, False)))


def test_scorings_round_trip_resume_and_keep_the_first_write(tmp_path):
    path = tmp_path / "store.sqlite"
    sha_a, sha_b = completion_sha256(_completion("t/0")), completion_sha256(_completion("t/1"))
    with RunStore(path) as store:
        assert store.missing_scorings("ref", [sha_a, sha_b]) == [sha_a, sha_b]
        assert store.add_scorings("ref", [(sha_a, _token_scores())]) == 1
        assert store.add_scorings("ref", [(sha_a, _token_scores("other")), (sha_b, _token_scores("t/1"))]) == 1
    with RunStore(path, create=False) as store:
        assert store.missing_scorings("ref", [sha_a, sha_b]) == []
        assert store.missing_scorings("cand", [sha_a]) == [sha_a]
        got = store.scorings("ref")
    assert got[sha_a] == _token_scores() and got[sha_b].item_id == "t/1"
    assert got[sha_a].positions[1].tail_mass == pytest.approx(1 - math.exp(-0.2) - math.exp(-3.0))


def test_a_store_written_before_the_scorings_table_still_opens(tmp_path):
    path = tmp_path / "store.sqlite"
    with RunStore(path) as store:
        store.add_completion("fp", CompletionKey("t/0", 0, "r0"), _completion("t/0"))
    db = sqlite3.connect(path)
    db.execute("DROP TABLE scorings")
    db.commit()
    db.close()
    with RunStore(path, create=False) as store:  # read-only open: the old layout reads as no scorings
        assert store.scorings("fp") == {}
        assert len(store.completions("fp")) == 1
    with RunStore(path) as store:  # opened for writing: the table is added, nothing else changes
        assert store.add_scorings("fp", [("s", _token_scores())]) == 1
        assert len(store.completions("fp")) == 1


def test_merkle_leaves_are_kept_several_to_a_row_and_one_to_a_row_still_reads(tmp_path):
    """A tree's leaves go 4096 to a row (LEAVES_PER_ROW); the rows of a store written when each held one leaf read
    back the same leaves."""
    import hashlib

    from tais.store.merkle import merkle_root
    from tais.store.run_store import LEAVES_PER_ROW

    leaves = [hashlib.sha256(str(i).encode()).digest() for i in range(LEAVES_PER_ROW + 5)]
    root = merkle_root(leaves)
    with RunStore(tmp_path / "s.sqlite") as store:
        store.put_merkle_tree(root, iter(leaves))
        assert list(store.merkle_tree_leaves(root)) == leaves
        assert store._db.execute("SELECT COUNT(*), MAX(size) FROM merkle_leaves, merkle_trees").fetchone() == (
            2, len(leaves))
        old = merkle_root(leaves[:3])  # as an older tais kept them: one leaf per row
        tree = store._db.execute("INSERT INTO merkle_trees (root, size) VALUES (?, 3)", (old,)).lastrowid
        store._db.executemany("INSERT INTO merkle_leaves VALUES (?, ?, ?)",
                              [(tree, i, leaf) for i, leaf in enumerate(leaves[:3])])
        assert list(store.merkle_tree_leaves(old)) == leaves[:3]
