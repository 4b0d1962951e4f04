"""The re-scoring phase against a real OpenAI-compatible HTTP server (tais's loopback server) and a real SQLite
store: requests kept in flight across commit batches give, row for row and byte for byte, the scorings and the
token evidence of the straightforward path (one request after the other, a batch per call); and a ``tais run``
killed (SIGKILL) half-way through its re-scoring resumes without scoring again what it had committed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from helpers.mock_configs import write
from tais.cli.main import main
from tais.engines.openai import OpenAIEngine, OpenAIOptions
from tais.engines.openai.scoring import parse_prompt_logprobs, scoring_body, tokenize_body
from tais.engines.vllm.server import free_port
from tais.errors import CannotTeacherForce
from tais.interfaces import Engine
from tais.testing.loopback import LoopbackConfig, LoopbackServer
from tais.types import ChatMessage, Request, SamplingParams, ScoringRequest, TokenScores


def _config(tmp_path: Path, url: str, items: int, concurrency: int) -> Path:
    """Two openai arms on one custom task; the candidate's answers differ (``loopback_salt``), so its differing
    completions are re-scored under both targets as well as the reference's completions (KL)."""
    with open(tmp_path / "prompts.jsonl", "w", encoding="utf-8") as handle:
        for i in range(items):
            handle.write(json.dumps({"id": f"p{i}", "prompt": f"prompt number {i}"}) + "\n")

    def arm(name: str, role: str, salt: str) -> str:
        return (f"  - name: {name}\n    role: {role}\n    backend: openai\n    model: smollm2\n"
                f"    options: {{base_url: \"{url}\", concurrency: {concurrency}, "
                f"extra_body: {{return_token_ids: true, loopback_salt: \"{salt}\"}}}}\n")

    return write(tmp_path, "name: rescoring\n"
                 "battery:\n  - {name: t, source: \"file:prompts.jsonl\", columns: {prompt: prompt, id: id},\n"
                 "     outcome: refusal, scorer: refusal-rules}\n"
                 "sampling: {max_tokens: 8, logprobs: 3}\n"
                 "arms:\n" + arm("reference", "reference", "") + arm("candidate", "candidate", "x"))


def _scorings(db_path: Path) -> list[tuple]:
    if not db_path.exists():
        return []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT fingerprint, completion_sha256, scoring_json, sha256 FROM scorings "
                          "ORDER BY rowid").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        db.close()


def _requests(n: int) -> list[ScoringRequest]:
    return [ScoringRequest(Request(f"t/{i}", SamplingParams(), messages=(ChatMessage("user", f"q {i}"),)),
                           token_ids=tuple((i * 7 + j) % 50 for j in range(1 + i % 5)), top_k=4) for i in range(n)]


def test_batches_in_flight_come_back_in_request_order_equal_to_one_request_at_a_time():
    requests = _requests(23)
    with LoopbackServer(LoopbackConfig(score_delay_s=0.002)).running() as url:
        engine = OpenAIEngine(OpenAIOptions(base_url=url, api="chat", concurrency=8), "smollm2")
        batches = list(engine.score_token_batches(requests, 5))
        one_by_one = [engine.score_tokens([r])[0] for r in requests]
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert [s for b in batches for s in b] == one_by_one
    assert [s.item_id for b in batches for s in b] == [r.request.item_id for r in requests]


def test_batches_from_a_server_that_cannot_teacher_force_raise_cannot_teacher_force():
    with LoopbackServer(LoopbackConfig(teacher_forcing="none")).running() as url:
        engine = OpenAIEngine(OpenAIOptions(base_url=url, api="chat", concurrency=4), "smollm2")
        with pytest.raises(CannotTeacherForce, match="has no /tokenize"):
            list(engine.score_token_batches(_requests(9), 4))


class Straightforward:
    """The straightforward path, written independently of the engine's: each request alone (``/tokenize``, then
    ``/v1/completions`` with ``prompt_logprobs``) through a plain httpx client, a batch per call."""

    calls = 0

    @staticmethod
    def score_tokens(engine: OpenAIEngine, requests: list[ScoringRequest]) -> list[TokenScores]:
        out = []
        with httpx.Client(base_url=engine.options.base_url, timeout=30) as client:
            for r in requests:
                Straightforward.calls += 1
                prompt = client.post("/tokenize", json=tokenize_body(r.request, model=engine.model)).json()["tokens"]
                answer = client.post("/v1/completions", json=scoring_body(r, prompt, model=engine.model)).json()
                out.append(parse_prompt_logprobs(r, len(prompt), answer))
        return out


def test_the_rescored_evidence_equals_the_straightforward_paths(tmp_path, monkeypatch, capsys):
    server = LoopbackServer()
    with server.running() as url:
        config, out = _config(tmp_path, url, items=40, concurrency=8), tmp_path / "run"
        assert main(["run", str(config), "--out", str(out), "--quiet"]) in (0, 1, 3)
        tokenized = server.state.tokenized
        fast = _scorings(out / "store.sqlite")
        fast_section = json.loads((out / "evidence.json").read_text())["token_evidence"]
        cells = fast_section["cells"]
        assert sum(c["trajectory"]["completions"] for c in cells) > 10  # differing completions were re-scored
        assert len(fast) > 80  # and the reference's 40 under both targets

        db = sqlite3.connect(out / "store.sqlite")
        db.execute("DELETE FROM scorings")
        db.commit()
        db.close()
        assert _scorings(out / "store.sqlite") == []
        monkeypatch.setattr(OpenAIEngine, "score_token_batches", Engine.score_token_batches)
        monkeypatch.setattr(OpenAIEngine, "score_tokens", Straightforward.score_tokens)
        Straightforward.calls = 0
        assert main(["run", str(config), "--out", str(out), "--quiet"]) in (0, 1, 3)
    assert Straightforward.calls == len(fast)  # positive control: the straightforward path scored them all
    # a prompt both a differing candidate completion and the reference's completion of its item need is tokenized
    # once per scoring arm (the straightforward path: once per scoring)
    assert server.state.tokenized - tokenized == len(fast) > tokenized
    assert _scorings(out / "store.sqlite") == fast  # same rows, same bytes, same commit order
    assert json.loads((out / "evidence.json").read_text())["token_evidence"] == fast_section


def _start_server(port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "tais.testing.loopback", "--port", str(port),
                                "--score-delay-s", "0.02"])
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("the loopback server did not start")


def _scored(port: int) -> dict[str, int]:
    return httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5).json()["scored"]


def _sequences(port: int, rows: list[tuple]) -> Counter:
    """The token-id prompts (as the server's ``scored`` counts name them) that scoring these stored rows sends: the
    item's chat prompt as the server tokenizes it, then the scored completion's token ids."""
    out: Counter = Counter()
    for row in rows:
        scores = json.loads(row[2])
        body = {"model": "smollm2", "add_generation_prompt": True,
                "messages": [{"role": "user", "content": f"prompt number {scores['item_id'].rsplit('p', 1)[1]}"}]}
        prompt = httpx.post(f"http://127.0.0.1:{port}/tokenize", json=body, timeout=5).json()["tokens"]
        out[",".join(map(str, prompt + scores["token_ids"]))] += 1
    return out


def _run(config: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tais.cli.main", "run", str(config), "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300)


def test_a_rescoring_killed_half_way_resumes_without_scoring_again_what_it_stored(tmp_path):
    port = free_port()
    server = _start_server(port)
    config, out = _config(tmp_path, f"http://127.0.0.1:{port}", items=60, concurrency=4), tmp_path / "run"
    db = out / "store.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "tais.cli.main", "run", str(config), "--out", str(out), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while True:
            assert proc.poll() is None, f"tais run ended before it could be killed: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no scoring was committed within 120 s"
            if len(_scorings(db)) >= 64:
                break
            time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        server.kill()
        server.wait()
    before = _scorings(db)
    assert not (out / "evidence.json").exists()

    server = _start_server(port)  # a fresh server: its counts are the resumed run's alone
    try:
        again = _run(config, out)
        assert again.returncode in (0, 1, 3), again.stderr
        after = _scorings(db)
        scored = _scored(port)
        # positive control: scorings removed from the store are scored again, once each, to the same bytes
        removed = after[:5]
        store = sqlite3.connect(db)
        store.executemany("DELETE FROM scorings WHERE fingerprint=? AND completion_sha256=?",
                          [r[:2] for r in removed])
        store.commit()
        store.close()
        third = _run(config, out)
        assert third.returncode == again.returncode, third.stderr
        scored_third = _scored(port)
        expected_missing = _sequences(port, [r for r in after if r not in set(before)])
        expected_removed = _sequences(port, removed)
    finally:
        server.kill()
        server.wait()

    assert 64 <= len(before) < len(after), "the kill did not land in the middle of the re-scoring"
    assert len({r[:2] for r in after}) == len(after)  # nothing stored twice
    assert set(before) <= set(after)  # what was committed before the kill is kept, byte for byte
    # the resumed run scored exactly what was missing, each once (a sequence scored under both targets counts 2)
    missing = [r for r in after if r not in set(before)]
    assert Counter(scored) == expected_missing and sum(expected_missing.values()) == len(missing)
    assert Counter(scored_third) - Counter(scored) == expected_removed  # the positive control's 5, once each
    assert sum(expected_removed.values()) == 5
    assert _scorings(db)[:len(after) - 5] == after[5:] and sorted(_scorings(db)) == sorted(after)
