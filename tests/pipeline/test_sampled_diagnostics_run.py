"""The T > 0 diagnostics through ``tais run`` with mock engines (fast): the mock ignores its seeds, so its replicates
are identical, an RNG reused across replicates: the run's diagnostics show every replicate pair identical (arm and
reference), the strata hold every token, ``tais verify`` re-derives the evidence
byte for byte, and the reports show the tables."""

from __future__ import annotations

import json

import pytest

from helpers.mock_configs import mock_config, write
from tais.cli.main import main
from tais.engines import BACKENDS, OPTIONS
from tais.engines.mock import MockEngine
from tais.types import PositionScore, ScoringRequest, TokenScores


class ForcingMock(MockEngine):
    """A mock that can teacher-force: its own text's token at a position gets logprob -0.5, listed with one more
    token at -1.2 (the reference's law conditioned on the two listed tokens has varentropy)."""

    def score_tokens(self, requests: list[ScoringRequest]) -> list[TokenScores]:  # type: ignore[override]  # list for Sequence: a test double
        out = []
        for r in requests:
            own = self._completion(r.request, 0.0).token_ids or ()
            positions = []
            for i, token in enumerate(r.token_ids):
                top1 = own[i] if i < len(own) else token
                top = ((top1, -0.5), (top1 + 1, -1.2))
                positions.append(PositionScore(-0.5 if token == top1 else -5.0, top1, -0.5, top))
            out.append(TokenScores(r.request.item_id, r.request.replicate, r.token_ids, tuple(positions)))
        return out


@pytest.fixture
def forcing_mock(monkeypatch):
    monkeypatch.setitem(BACKENDS, "forcing-mock", f"{__name__}:ForcingMock")
    monkeypatch.setitem(OPTIONS, "forcing-mock", "tais.engines.mock:MockOptions")


def test_identical_replicates_show_in_the_diagnostics_and_the_run_verifies(tmp_path, forcing_mock, capsys):
    text = mock_config(items=3).replace("sampling: {max_tokens: 16, logprobs: 3}",
                                        "sampling: {max_tokens: 16, logprobs: 3, temperature: 0.7, seed: 1}\n"
                                        "replicates: 3")
    text = text.replace("role: reference\n    backend: mock", "role: reference\n    backend: forcing-mock")
    assert "forcing-mock" in text and "replicates: 3" in text
    out = tmp_path / "run"
    main(["run", str(write(tmp_path, text)), "--out", str(out), "--quiet"])
    evidence = json.loads((out / "evidence.json").read_text())
    contrasts = {c["arm"]: c for c in evidence["sampled"]["contrasts"]}
    assert set(contrasts) == {"same", "aa"}
    for c in contrasts.values():
        d = c["tokens"]["diagnostics"]
        prompts = 3 * 3  # three smoke tasks of 3 items
        assert d["duplicates"] == {"identical": 3 * prompts, "pairs": 3 * prompts, "prompts": prompts}
        assert d["reference_duplicates"] == d["duplicates"]
        assert d["expected_duplicate_rate"] is None  # listed (conditioned) laws: no completion's probability
        assert sum(s["n_tokens"] for s in d["strata"] if s["kind"] == "position") == c["tokens"]["n_tokens"]
        assert sum(s["n_tokens"] for s in d["strata"] if s["kind"] == "entropy") == c["tokens"]["n_tokens"]
        assert len(c["outcomes"][0]["prompts"]) == 3
    assert main(["verify", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "| same | candidate |" in report and "1.000 (27/27)" in report and "entropy [0.5, 1.5)" in report
    assert "Strata and RNG reuse" in (out / "report.html").read_text()
