"""run_config on a real SQLite store with the mock engine: resume, fingerprints, stale answers, the Python API."""

from __future__ import annotations

import json
import sqlite3

import pytest
import yaml

import tais
from helpers.mock_configs import BROKEN_ARM, COMPLIANCE, mock_config, write
from tais.pipeline.config import load_config
from tais.pipeline.run import run_config
from tais.pipeline.verify import verify_run
from tais.types import DivergenceClass, Role, Verdict

ITEMS = 10
TASKS = 3


def _completion_rows(run_dir):
    db = sqlite3.connect(run_dir / "store.sqlite")
    try:
        return db.execute("SELECT fingerprint, item_id, replicate, request_sha256 FROM completions").fetchall()
    finally:
        db.close()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished mock screen with a broken arm; shared by the read-only tests below."""
    tmp = tmp_path_factory.mktemp("finished")
    config = load_config(write(tmp, mock_config(extra_arms=BROKEN_ARM)))
    return config, run_config(config)


def test_a_fresh_run_generates_every_completion_once(finished):
    config, outcome = finished
    assert outcome.generated == {"reference": ITEMS * TASKS, "same": ITEMS * TASKS, "aa": ITEMS * TASKS,
                                 "broken": ITEMS * TASKS}
    rows = _completion_rows(outcome.out_dir)
    assert len(rows) == len(set(rows)) == 4 * ITEMS * TASKS
    assert {p.name for p in outcome.out_dir.iterdir()} >= {"store.sqlite", "evidence.json", "report.md", "report.html"}


def test_the_broken_arm_fails_with_named_leaks_and_the_identical_arm_passes(finished):
    _, outcome = finished
    result = outcome.result
    assert result.verdict == Verdict.FAIL
    cells = {(c.candidate, c.task): c for c in result.cells}
    assert cells[("broken", "smoke-harmful")].verdict == Verdict.FAIL
    assert any("leak" in r for r in cells[("broken", "smoke-harmful")].reasons)
    leaks = [d for d in result.divergences if d.contrast.startswith("broken") and d.cls == DivergenceClass.LEAK.value]
    assert leaks and all(d.candidate_token == "Sure," for d in leaks)
    for task in ("smoke-harmful", "smoke-benign", "smoke-mc"):
        assert cells[("same", task)].verdict == Verdict.PASS, cells[("same", task)].reasons
        assert cells[("same", task)].identical_text == ITEMS
        assert cells[("aa", task)].role is Role.NULL


def test_rerunning_a_finished_run_generates_nothing_and_rewrites_identical_evidence(finished):
    config, outcome = finished
    before = (outcome.out_dir / "evidence.json").read_bytes()
    again = run_config(config)
    assert again.generated == {name: 0 for name in outcome.generated}
    assert (outcome.out_dir / "evidence.json").read_bytes() == before
    assert verify_run(outcome.out_dir).ok


def test_a_changed_arm_gets_a_new_fingerprint_and_is_generated_again(tmp_path):
    config = load_config(write(tmp_path, mock_config()))
    first = run_config(config)
    evidence = json.loads((first.out_dir / "evidence.json").read_text())
    old_fp = {a["name"]: a["fingerprint"] for a in evidence["arms"]}

    changed = mock_config().replace(f'compliance: "{COMPLIANCE}", batch_size: 3',
                                    'compliance: "Certainly. The answer is B.", batch_size: 3')
    second = run_config(load_config(write(tmp_path, changed)))
    assert second.generated == {"reference": 0, "same": ITEMS * TASKS, "aa": 0}
    new_fp = {a.name: a.fingerprint for a in second.result.arms}
    assert new_fp["same"] != old_fp["same"] and new_fp["reference"] == old_fp["reference"]
    benign = next(c for c in second.result.cells if c.candidate == "same" and c.task == "smoke-benign")
    assert benign.identical_text < ITEMS  # the new answers are used, not the stale cached ones
    assert len(_completion_rows(second.out_dir)) == 4 * ITEMS * TASKS  # old rows kept (append-only), new ones added


def test_a_changed_prompt_is_generated_again_even_under_the_same_item_id(tmp_path):
    config = load_config(write(tmp_path, mock_config()))
    run_config(config)
    text = mock_config().replace("limit: 10}", 'limit: 10, system_prompt: "Be brief."}')
    second = run_config(load_config(write(tmp_path, text)))
    assert second.generated == {"reference": ITEMS * TASKS, "same": ITEMS * TASKS, "aa": ITEMS * TASKS}


def test_a_null_arm_identical_to_the_reference_is_still_generated_afresh(tmp_path):
    text = mock_config().replace("batch_size: 5}\n    order: shuffled\n    order_seed: 3",
                                 "batch_size: 4, delay_s: 0.0}")
    outcome = run_config(load_config(write(tmp_path, text)))
    fps = {a.name: a.fingerprint for a in outcome.result.arms}
    assert outcome.generated["aa"] == ITEMS * TASKS and fps["aa"] != fps["reference"]


def test_python_api_and_pytest_helper(tmp_path):
    result = tais.run_screen(write(tmp_path, mock_config(extra_arms=BROKEN_ARM)))
    with pytest.raises(AssertionError) as info:
        tais.assert_screen_passes(result)
    message = str(info.value)
    assert message.startswith("screen verdict FAIL")
    assert "broken vs reference / smoke-harmful: FAIL:" in message and "leak" in message
    assert "same vs reference" not in message

    passing = tais.run_screen(yaml.safe_load(mock_config()), base_dir=tmp_path, out_dir=tmp_path / "api-run")
    assert passing.verdict == Verdict.PASS
    tais.assert_screen_passes(passing)
