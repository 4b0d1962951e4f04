"""Token-level evidence through ``tais run`` with mock engines only (fast): the re-scoring phase resumes (a rerun
teacher-forces nothing), an arm that cannot teacher-force degrades to the one-sided rule and says so, a reference
that cannot leaves the evidence unavailable, and ``token_evidence: off`` writes no section (schema 1)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from helpers.mock_configs import BROKEN_ARM, mock_config, write
from tais.cli.main import main
from tais.engines import BACKENDS, OPTIONS
from tais.engines.mock import MockEngine
from tais.types import PositionScore, ScoringRequest, TokenScores


class ScoringMock(MockEngine):
    """A mock engine that can teacher-force: its own text's tokens are its top-1 (logprob -0.05); any other forced
    token gets -5. Counts the sequences it scored."""

    scored = 0

    def score_tokens(self, requests: list[ScoringRequest]) -> list[TokenScores]:  # type: ignore[override]  # list for Sequence: a test double
        out = []
        for r in requests:
            ScoringMock.scored += 1
            own = self._completion(r.request, 0.0).token_ids or ()
            positions = []
            for i, token in enumerate(r.token_ids):
                top1 = own[i] if i < len(own) else token
                positions.append(PositionScore(-0.05 if token == top1 else -5.0, top1, -0.05, ((top1, -0.05),)))
            out.append(TokenScores(r.request.item_id, r.request.replicate, r.token_ids, tuple(positions)))
        return out


@pytest.fixture
def scoring_mock(monkeypatch):
    monkeypatch.setitem(BACKENDS, "scoring-mock", f"{__name__}:ScoringMock")
    monkeypatch.setitem(OPTIONS, "scoring-mock", "tais.engines.mock:MockOptions")
    ScoringMock.scored = 0
    return ScoringMock


def _config(tmp_path, extra: str = "") -> object:
    text = mock_config(items=4, extra_arms=BROKEN_ARM) + extra
    # the reference (only) can teacher-force
    text = text.replace("role: reference\n    backend: mock", "role: reference\n    backend: scoring-mock")
    assert "scoring-mock" in text
    return write(tmp_path, text)


def _scorings(out) -> int:
    db = sqlite3.connect(out / "store.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM scorings").fetchone()[0]
    finally:
        db.close()


def test_a_rerun_rescores_nothing_and_a_mock_candidate_is_one_sided(tmp_path, scoring_mock, capsys):
    config, out = _config(tmp_path), tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    first = scoring_mock.scored
    assert first > 0 and _scorings(out) > 0  # positive control: the phase ran and stored what it scored
    evidence_bytes = (out / "evidence.json").read_bytes()
    evidence = json.loads(evidence_bytes)
    assert evidence["schema"] == "tais.evidence/2" and evidence["token_evidence"]["available"]
    cells = {(c["arm"], c["task"]): c for c in evidence["token_evidence"]["cells"]}
    broken = [c for (arm, _), c in cells.items() if arm == "broken"]
    assert broken and all(not c["two_sided"] and "no teacher-forced" in c["one_sided_reason"] for c in broken)
    assert sum(c["trajectory"]["one_sided"] for c in broken) > 0
    assert sum(c["trajectory"]["counts"]["leak"] for c in broken) > 0  # -5 vs -0.05: leaks, judged one-sided
    verdict_cells = [c for c in evidence["cells"] if c["candidate"] == "broken"]
    assert all(c["reasons"][0].startswith("Leak rule decided by the first divergence (one-sided") for c in
               verdict_cells)
    assert main(["verify", str(out)]) == 0

    scoring_mock.scored = 0
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    assert scoring_mock.scored == 0  # nothing re-scored
    assert (out / "evidence.json").read_bytes() == evidence_bytes


def test_token_evidence_off_and_a_reference_that_cannot_teacher_force(tmp_path, scoring_mock, capsys):
    off = write(tmp_path, mock_config(items=3) + "token_evidence: off\n", "off.yaml")
    assert main(["run", str(off), "--out", str(tmp_path / "off"), "--quiet"]) in (0, 3)
    evidence = json.loads((tmp_path / "off" / "evidence.json").read_text())
    assert "token_evidence" not in evidence  # an optional section of schema 2
    assert scoring_mock.scored == 0
    auto = write(tmp_path, mock_config(items=3), "auto.yaml")
    assert main(["run", str(auto), "--out", str(tmp_path / "auto"), "--quiet"]) in (0, 3)
    section = json.loads((tmp_path / "auto" / "evidence.json").read_text())["token_evidence"]
    assert section["available"] is False and "cannot teacher-force" in section["reason"]


def test_no_rescoring_at_temperature_above_zero(tmp_path, scoring_mock, capsys):
    text = _config(tmp_path).read_text().replace("sampling: {max_tokens: 16, logprobs: 3}",
                                                 "sampling: {max_tokens: 16, logprobs: 3, temperature: 0.7, seed: 1}")
    assert "temperature: 0.7" in text
    config = write(tmp_path, text, "hot.yaml")
    assert main(["run", str(config), "--out", str(tmp_path / "hot"), "--quiet"]) in (0, 1, 3)
    evidence = json.loads((tmp_path / "hot" / "evidence.json").read_text())
    # the greedy leak rule stands aside; the T > 0 phase (tais.pipeline.sampled) teacher-forces the samples instead
    assert "token_evidence" not in evidence and "sampled" in evidence


def test_the_streamed_token_evidence_reads_by_key_a_chunk_at_a_time_and_equals_the_in_memory_one(
        tmp_path, scoring_mock, monkeypatch, capsys):
    from tais.pipeline import stream, token_evidence
    from tais.pipeline.analysis import analyse_run, read_run, thresholds_for
    from tais.store import RunStore

    config, out = _config(tmp_path), tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    with RunStore(out / "store.sqlite") as store:
        run = store.latest_run()
        thresholds = thresholds_for(run.plan)
        memory = analyse_run(read_run(store, run), thresholds).token_evidence
        assert memory is not None and sum(c.trajectory.completions for c in memory.cells) >= 3
        calls: list[tuple[str, int | None]] = []
        full_reads = {"scorings": RunStore.scorings, "completions": RunStore.completions}

        building = []

        def spy(name):
            def read(self, fingerprint, keys=None, **kw):
                if building:  # only the token evidence's reads (the pass and the robustness check read too)
                    calls.append((name, None if keys is None else len(list(keys))))
                return full_reads[name](self, fingerprint, keys, **kw) if keys is not None else \
                    full_reads[name](self, fingerprint)
            return read

        def build(*args, **kwargs):
            building.append(1)
            try:
                return token_evidence.build_token_evidence(*args, **kwargs)
            finally:
                building.clear()

        monkeypatch.setattr(stream, "build_token_evidence", build)
        monkeypatch.setattr(token_evidence, "CHUNK", 2)
        monkeypatch.setattr(RunStore, "scorings", spy("scorings"))
        monkeypatch.setattr(RunStore, "completions", spy("completions"))
        with stream.streamed_screen(store, run, thresholds) as streamed:
            assert streamed.result.token_evidence == memory  # the same cells, leaks, strips and figures
        assert not [c for c in calls if c[0] == "scorings"]  # never every scoring of a fingerprint
        assert calls and all(n is not None and n <= 2 for _, n in calls)  # never an arm's rows: 2 keys at a time
        # positive control: the in-memory reading does read every scoring and every row of an arm
        calls.clear()
        building.append(1)
        token_evidence.load_token_inputs(store, run.plan)
        assert ("scorings", None) in calls and ("completions", None) in calls


def test_a_cell_holds_the_strips_the_report_can_draw_and_the_report_counts_the_rest(tmp_path, scoring_mock,
                                                                                    monkeypatch, capsys):
    from tais.pipeline import token_evidence
    from tais.pipeline.analysis import analyse_run, read_run, thresholds_for
    from tais.report import tokens as report_tokens
    from tais.screen.result import ScreenResult
    from tais.store import RunStore

    config, out = _config(tmp_path), tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    with RunStore(out / "store.sqlite") as store:
        inputs = read_run(store, store.latest_run())
        full = analyse_run(inputs, thresholds_for(inputs.run.plan))
        monkeypatch.setattr(token_evidence, "MAX_STRIPS", 1)
        monkeypatch.setattr(report_tokens, "MAX_STRIPS", 1)
        capped = analyse_run(inputs, thresholds_for(inputs.run.plan))
    assert full.token_evidence is not None and capped.token_evidence is not None
    many = [c for c in full.token_evidence.cells if len(c.strips) > 2]
    assert many  # positive control: without the cap a cell holds more strips than 2 x 1
    for cell, small in zip(full.token_evidence.cells, capped.token_evidence.cells):
        assert len(small.strips) <= 2 and small.trajectory == cell.trajectory and small.leaks == cell.leaks
        assert [s for s in cell.strips if s in small.strips] == list(small.strips)  # the first ones, in key order
    total = sum(c.trajectory.completions for c in full.token_evidence.cells)
    html = "".join(report_tokens.section_html(capped, str))
    assert isinstance(capped, ScreenResult) and f"{total - 1} more differing completions" in html
