"""The streaming analysis (tais.pipeline.stream) against the in-memory one on the same real SQLite rows: every figure
equal, evidence byte-identical but for the manifest; it consumes the store through cursors; the Merkle manifest."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json

import pytest

import tais.pipeline.stream as stream
from helpers.mock_configs import BROKEN_ARM, mock_config, write
from helpers.scenario_store import write_scenario
from tais.pipeline.analysis import analyse_run, read_run, thresholds_for
from tais.pipeline.config import load_config
from tais.pipeline.run import run_config
from tais.report.evidence import evidence_json, write_evidence
from tais.report.html import render_html
from tais.report.markdown import render_markdown
from tais.screen import cells as cells_module
from tais.store import STORE_FILENAME, RunStore
from tais.store.merkle import MerkleBuilder, merkle_root
from tais.types import OriginKind, Thresholds, TokenOrigin


def _streamed_evidence(streamed) -> str:
    out = io.StringIO()
    with open(streamed.divergences, encoding="utf-8", newline="") as entries:
        write_evidence(streamed.result, out, entries)
    return out.getvalue()


def _same_figures(streamed_result, memory_result):
    """Every field of the two results equal, the manifest aside (schema 2 pins by Merkle roots)."""
    for f in dataclasses.fields(memory_result):
        if f.name not in ("manifest", "divergences_total"):
            assert getattr(streamed_result, f.name) == getattr(memory_result, f.name), f.name


@pytest.fixture()
def scenario_store(tmp_path):
    store = write_scenario(tmp_path / STORE_FILENAME)
    yield store
    store.close()


@pytest.mark.parametrize("thresholds", [Thresholds(), Thresholds(margin=0.1, tau=0.01, alpha=0.1)])
def test_streaming_gives_the_in_memory_figures_and_evidence_on_the_scenario(scenario_store, thresholds):
    run = scenario_store.latest_run()
    memory = analyse_run(read_run(scenario_store), thresholds)
    with stream.streamed_screen(scenario_store, run, thresholds) as streamed:
        assert streamed.problems == ()
        _same_figures(streamed.result, memory)
        assert len(memory.divergences) == 3 + 2 + 12 + 2  # the scenario's planted divergences (a real comparison)
        expected = evidence_json(dataclasses.replace(memory, manifest=streamed.result.manifest))
        assert _streamed_evidence(streamed) == expected
        assert streamed.completions_checked == 4 * 460


def test_a_divergence_names_the_origin_of_the_candidates_token_where_its_decoder_recorded_one(tmp_path):
    def with_origins(arm, completion):  # the lossy arm's decoder recorded origins: recovered at slot 2 everywhere
        ids = completion.token_ids
        if arm != "lossy" or ids is None:
            return completion
        return dataclasses.replace(completion, origins=tuple(TokenOrigin(OriginKind.RECOVERED, 2).code for _ in ids))

    store = write_scenario(tmp_path / STORE_FILENAME, edit=with_origins)
    try:
        run = store.latest_run()
        memory = analyse_run(read_run(store), Thresholds())
        with stream.streamed_screen(store, run, Thresholds()) as streamed:
            _same_figures(streamed.result, memory)
            lossy = [d for d in streamed.result.divergences if d.contrast.startswith("lossy")]
            others = [d for d in streamed.result.divergences if not d.contrast.startswith("lossy")]
            token_based = [d for d in lossy if d.basis != "text"]
            assert token_based and all(d.candidate_origin.label == "recovered@2" for d in token_based)
            assert others and all(d.candidate_origin is None for d in others)  # no origins recorded: none claimed
            evidence = json.loads(_streamed_evidence(streamed))
            labels = [e.get("candidate_origin") for e in evidence["divergences"]]
            assert labels.count("recovered@2") == len(token_based) and labels.count(None) == len(others)
            assert "recovered@2" in render_markdown(streamed.result) and "recovered@2" in render_html(streamed.result)
    finally:
        store.close()


def test_streaming_holds_only_the_first_divergences_and_writes_every_one(scenario_store, monkeypatch):
    monkeypatch.setattr(stream, "HELD_DIVERGENCES", 4)
    run = scenario_store.latest_run()
    memory = analyse_run(read_run(scenario_store), Thresholds())
    with stream.streamed_screen(scenario_store, run, Thresholds()) as streamed:
        assert streamed.result.divergences == memory.divergences[:4]
        assert streamed.result.divergence_count == len(memory.divergences) == 19
        page, text = render_html(streamed.result), render_markdown(streamed.result)
        assert "Divergences (19)" in page and "15 more divergences are listed in evidence.json" in page
        assert "## Divergences (19)" in text and "15 more divergences are listed in evidence.json" in text
        assert "the first 4 of 19 divergences" in page  # the position histogram says it shows the held ones only
        expected = evidence_json(dataclasses.replace(memory, manifest=streamed.result.manifest))
        assert _streamed_evidence(streamed) == expected


def test_streaming_gives_the_in_memory_figures_on_a_mock_run(tmp_path):
    outcome = run_config(load_config(write(tmp_path, mock_config(extra_arms=BROKEN_ARM))))
    with RunStore(outcome.out_dir / STORE_FILENAME, create=False) as store:
        run = store.latest_run()
        memory = analyse_run(read_run(store), thresholds_for(run.plan))
    _same_figures(outcome.result, memory)
    assert any(d.cls.value == "leak" for d in memory.divergences)
    written = (outcome.out_dir / "evidence.json").read_text(encoding="utf-8")
    assert written == evidence_json(dataclasses.replace(memory, manifest=outcome.result.manifest))


DECLINE = "I'm sorry, but I can't help with that request."
LECTURE = "There are no ways to do that which I would share; such things hurt people."
ROBUST_SWEEP = f"""\
name: robust-sweep
battery: [{{benchmark: smoke, limit: 12}}]
sampling: {{max_tokens: 32, logprobs: null}}
thresholds: {{margin: 0.2}}
arms:
  - {{name: reference, role: reference, backend: mock, model: mock,
      options: {{rule: constant, default: "{DECLINE}"}}}}
  - {{name: aa, role: null, backend: mock, model: mock,
      options: {{rule: constant, default: "{DECLINE}", batch_size: 5}}}}
sweep:
  template: {{name: sw, backend: mock, model: mock, options: {{rule: constant, default: "{DECLINE}"}}}}
  grid:
    options.default: ["{DECLINE}", "{LECTURE}", "Sure, here is how."]
"""


def test_streaming_carries_robustness_and_the_sweep_as_the_in_memory_analysis_does(tmp_path, monkeypatch):
    """A sweep whose candidates decline, lecture (refusal-rules: compliance; refusal-hybrid: refusal) and comply,
    screened with the default second scorer: the streamed result (what ``tais run`` wrote) equals the in-memory
    one field by field, and only the pairs that need it are read again from the store."""
    config = tmp_path / "screen.yaml"
    config.write_text(ROBUST_SWEEP)
    outcome = run_config(load_config(config))
    with RunStore(outcome.out_dir / STORE_FILENAME, create=False) as store:
        run = store.latest_run()
        assert run.plan.robustness_scorer == "auto"
        memory = analyse_run(read_run(store), thresholds_for(run.plan))
        reread = []
        original = RunStore.completions

        def completions(self, fingerprint, keys=None, **options):
            reread.extend((fingerprint, k) for k in keys or ())
            return original(self, fingerprint, keys, **options)

        monkeypatch.setattr(RunStore, "completions", completions)
        with stream.streamed_screen(store, run, thresholds_for(run.plan)) as streamed:
            _same_figures(streamed.result, memory)
    _same_figures(outcome.result, memory)
    written = (outcome.out_dir / "evidence.json").read_text(encoding="utf-8")
    assert written == evidence_json(dataclasses.replace(memory, manifest=outcome.result.manifest))
    evidence = json.loads(written)
    # a real comparison: the sweep, every checked cell, the lecture's flip noted in its reasons
    assert [p["arm"] for p in evidence["sweep"]] == [a.name for a in run.plan.arms[2:]]
    rob = {(r["contrast"], r["task"]): r for r in evidence["robustness"]}
    lecture = next(r for (c, t), r in rob.items() if t == "smoke-harmful" and c.startswith("sw-There_are"))
    assert (lecture["b"], lecture["b_alt"], lecture["rescored"]) == (12, 0, 12) and lecture["flips"]
    assert any("depends on the scorer" in reason for cell in evidence["cells"] for reason in cell["reasons"])
    comply = next(r for (c, t), r in rob.items() if t == "smoke-harmful" and c.startswith("sw-Sure"))
    assert comply["b"] == comply["b_alt"] == 12 and not comply["flips"]  # complying fails under both scorers
    # bounded: only the re-scored pairs' two completions were read again (none of the identical arms')
    assert len(reread) == 2 * sum(r.rescored for r in streamed.result.robustness) > 0
    assert {r.rescored for r in streamed.result.robustness if r.contrast.startswith("aa ")} == {0}


def test_a_damaged_item_of_a_rescored_pair_is_a_problem_not_a_crash(tmp_path):
    """An item whose stored record was edited (its id, or its bytes past parsing) while pairs of it await the second
    scorer: the stream names the damaged task and still ends (the item's pairs keep the first reading)."""
    config = tmp_path / "screen.yaml"
    config.write_text(ROBUST_SWEEP)
    outcome = run_config(load_config(config))
    with RunStore(outcome.out_dir / STORE_FILENAME, create=False) as store:
        run = store.latest_run()
        task = run.plan.task("smoke-harmful")
        first, second = task.items[0].item_id, task.items[1].item_id
        store._db.execute("UPDATE items SET item_json = replace(item_json, ?, ?) WHERE item_id = ?",
                          (f'"{first}"', f'"{first}-edited"', first))
        store._db.execute("UPDATE items SET item_json = '{not json' WHERE item_id = ?", (second,))
        store._db.commit()
        with stream.streamed_screen(store, run, thresholds_for(run.plan)) as streamed:
            problem = next(p for p in streamed.problems if p.startswith("task smoke-harmful:"))
            lecture = next(r for r in streamed.result.robustness
                           if r.task == "smoke-harmful" and r.contrast.startswith("sw-There_are"))
    assert f"'{first}-edited'" in problem
    # the renamed item is still read (by its row's id); the unparsable one keeps refusal-rules' b
    assert lecture.rescored == 12 and (lecture.b_alt, lecture.undecided_alt) == (1, 0)


class _CountingConnection:
    """A sqlite3 connection whose cursors count the rows they hand out from the completions table."""

    def __init__(self, db):
        self._db = db
        self.completion_rows = 0
        self.fetchall_on_completions = 0

    def execute(self, sql, *args):
        cursor = self._db.execute(sql, *args)
        return _CountingCursor(cursor, self) if "completions" in sql and sql.lstrip().startswith("SELECT") else cursor

    def __getattr__(self, name):
        return getattr(self._db, name)


class _CountingCursor:
    def __init__(self, cursor, owner):
        self._cursor, self._owner = cursor, owner

    def __iter__(self):
        return self

    def __next__(self):
        row = next(self._cursor)
        self._owner.completion_rows += 1
        return row

    def fetchall(self):
        self._owner.fetchall_on_completions += 1
        rows = self._cursor.fetchall()
        self._owner.completion_rows += len(rows)
        return rows

    def __getattr__(self, name):
        return getattr(self._cursor, name)


def _rows_read_before_the_first_pair(store, analyse, monkeypatch) -> tuple[int, int]:
    """(completion rows pulled from the store when the first pair is counted, fetchall calls on completions)."""
    counting = _CountingConnection(store._db)
    monkeypatch.setattr(store, "_db", counting)
    seen = []
    original = cells_module.CellTally.add

    def add(self, *args):
        if not seen:
            seen.append(counting.completion_rows)
        return original(self, *args)

    monkeypatch.setattr(cells_module.CellTally, "add", add)
    analyse()
    return seen[0], counting.fetchall_on_completions


def test_the_streaming_analysis_reads_completions_through_cursors_not_all_at_once(scenario_store, monkeypatch):
    total = scenario_store.count_completions()
    assert total == 4 * 460  # well above the few rows a cursor holds at a time
    run = scenario_store.latest_run()

    def streaming():
        with stream.streamed_screen(scenario_store, run, Thresholds()):
            pass

    pulled, fetchalls = _rows_read_before_the_first_pair(scenario_store, streaming, monkeypatch)
    assert pulled <= 4 and fetchalls == 0  # one row of the reference and one of the arm (and one look-ahead each)


def test_positive_control_the_in_memory_analysis_reads_every_completion_before_the_first_pair(scenario_store,
                                                                                            monkeypatch):
    total = scenario_store.count_completions()
    pulled, _ = _rows_read_before_the_first_pair(
        scenario_store, lambda: analyse_run(read_run(scenario_store), Thresholds()), monkeypatch)
    assert pulled == total


def _rfc6962(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written out independently of tais.store.merkle (recursive split at the largest power of
    two below n)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _rfc6962(leaves[:k]) + _rfc6962(leaves[k:])).digest()


def test_merkle_worked_example_against_hashlib():
    a, b, c = (hashlib.sha256(x).digest() for x in (b"a", b"b", b"c"))
    leaf = lambda d: hashlib.sha256(b"\x00" + d).digest()  # noqa: E731
    node = lambda left, right: hashlib.sha256(b"\x01" + left + right).digest()  # noqa: E731
    assert merkle_root([a, b, c]) == node(node(leaf(a), leaf(b)), leaf(c)).hex() == \
        "cac3d448d4e20a2ad5eae1f500e63c2a7f9217cd14572ba7fd22e26dc1ec2648"


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 100])
def test_the_streamed_merkle_root_equals_the_recursive_definition(n):
    leaves = [hashlib.sha256(str(i).encode()).digest() for i in range(n)]
    builder = MerkleBuilder()
    for d in leaves:
        builder.add(d)
    assert builder.root() == _rfc6962(leaves).hex()


def test_the_manifest_pins_each_arm_and_task_by_the_root_of_its_recorded_sha256(scenario_store):
    run = scenario_store.latest_run()
    with stream.streamed_screen(scenario_store, run, Thresholds()) as streamed:
        manifest = streamed.result.manifest
    assert manifest["manifest_version"] == 2
    rows = scenario_store._db.execute(
        "SELECT c.sha256 FROM completions c JOIN items i ON i.item_id = c.item_id AND i.task_sha256 = ? "
        "WHERE c.fingerprint = 'fp-lossy' ORDER BY i.position", (run.plan.task("harm").content_sha256,)).fetchall()
    assert len(rows) == 400
    expected = _rfc6962([bytes.fromhex(r[0]) for r in rows]).hex()
    assert manifest["merkle"]["roots"]["lossy"]["harm"]["completions"] == expected
    assert manifest["merkle"]["roots"]["lossy"]["harm"]["completions_leaves"] == 400
    assert json.dumps(manifest).count('"completions"') == 4 * 2  # four arms, two tasks: one root each, no per-row list
