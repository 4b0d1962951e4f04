"""The openai engine against a real HTTP server on loopback (tais.testing.loopback) that answers like an
OpenAI server and injects faults: 500, 429, stalls past the timeout, dropped and truncated connections."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tais.engines.openai import OpenAIEngine
from tais.engines.vllm.server import free_port
from tais.errors import ConfigError, EngineError
from tais.testing.loopback import FAULT_KINDS, LoopbackConfig, LoopbackServer, answer_tokens
from tais.types import ArmSpec, ChatMessage, Request, SamplingParams


def chat_requests(n: int, *, replicates: int = 1) -> list[Request]:
    return [
        Request(
            f"t/{i}",
            SamplingParams(max_tokens=8, logprobs=3),
            messages=(ChatMessage("user", f"prompt {i}"),),
            replicate=r,
        )
        for i in range(n)
        for r in range(replicates)
    ]


def engine(base_url: str, **options) -> OpenAIEngine:
    arm = ArmSpec(name="served", backend="openai", model="smollm2", options={"base_url": base_url, **options})
    return OpenAIEngine.from_arm(arm)


def collect(eng: OpenAIEngine, requests: list[Request]) -> list:
    async def run():
        return [c async for c in eng.generate(requests)]

    return asyncio.run(run())


def test_faults_on_a_fifth_of_requests_every_item_answered_exactly_once():
    config = LoopbackConfig(fault_rate=0.2, stall_s=2.0, seed=7)
    server = LoopbackServer(config)
    requests = chat_requests(150, replicates=2)
    with server.running() as url:
        eng = engine(url, timeout_s=0.4, concurrency=24, max_retries=8, extra_body={"return_token_ids": True})
        completions = collect(eng, requests)
    keys = [(c.item_id, c.replicate) for c in completions]
    assert sorted(keys) == sorted((r.item_id, r.replicate) for r in requests)  # none lost, none duplicated
    for c in completions:
        expected = answer_tokens(f"prompt {c.item_id.split('/')[1]}", 8)
        assert c.text == "".join(t for _, t in expected)
        assert c.token_ids == tuple(i for i, _ in expected)
        assert [s.token for s in c.logprobs] == [t for _, t in expected]
    assert set(server.state.faults) == set(FAULT_KINDS)  # every kind of fault happened
    assert sum(server.state.faults.values()) >= 0.1 * len(requests)
    assert eng.telemetry()["retries"] == sum(server.state.faults.values())  # each fault cost exactly one retry
    assert all(server.state.answered[f"prompt {i}"] >= 2 for i in range(150))


def test_raw_prompts_use_the_completions_endpoint_with_faults():
    server = LoopbackServer(LoopbackConfig(fault_rate=0.2, faults=("500", "drop", "truncate"), seed=3))
    requests = [Request(f"p/{i}", SamplingParams(max_tokens=5, logprobs=2), prompt=f"text {i}") for i in range(60)]
    with server.running() as url:
        completions = collect(engine(url, timeout_s=2.0), requests)
    assert sorted(c.item_id for c in completions) == sorted(r.item_id for r in requests)
    by_id = {c.item_id: c for c in completions}
    assert by_id["p/4"].text == "".join(t for _, t in answer_tokens("text 4", 5))
    assert by_id["p/4"].finish_reason == "length" and by_id["p/4"].output_tokens == 5


def test_a_server_that_always_fails_exhausts_the_retry_budget_with_one_clear_error():
    server = LoopbackServer(LoopbackConfig(fault_rate=1.0, faults=("500",)))
    with server.running() as url:
        eng = engine(url, max_retries=100, retry_budget=12)
        with pytest.raises(EngineError, match="retry budget of 12 retries"):
            collect(eng, chat_requests(40))
    # 12 retries spent, then the failure that found the budget empty, plus at most one failure per other worker
    assert 13 <= sum(server.state.faults.values()) <= 12 + 16


def test_max_retries_per_request():
    with LoopbackServer(LoopbackConfig(fault_rate=1.0, faults=("429",))).running() as url:
        with pytest.raises(EngineError, match="still failing after 2 retries .last: HTTP 429"):
            collect(engine(url, max_retries=2, concurrency=1), chat_requests(1))


@pytest.mark.parametrize(
    "case, match",
    [
        ("wrong-url", "not an OpenAI-compatible server: GET /v1/models answered 404"),
        ("down", "cannot reach the server at http://127.0.0.1:"),
        ("unknown-model", "does not serve model 'gpt-9' .it serves: smollm2, tiny."),
        ("401", "rejected the credentials .HTTP 401."),
        ("no-key", "environment variable TAIS_TEST_KEY_UNSET .options.api_key_env. is not set"),
    ],
)
def test_unusable_server_raises_one_engine_error_before_any_completion(case, match, monkeypatch):
    monkeypatch.setenv("TAIS_TEST_KEY", "wrong-key")
    server = LoopbackServer(LoopbackConfig(models=("smollm2", "tiny"), api_key="right-key" if case == "401" else None))
    with server.running() as url:
        options = {"base_url": url}
        model = "smollm2"
        if case == "wrong-url":
            options["base_url"] = url + "/not-here"
        elif case == "down":
            options["base_url"] = f"http://127.0.0.1:{free_port()}"
        elif case == "unknown-model":
            model = "gpt-9"
        elif case == "401":
            options["api_key_env"] = "TAIS_TEST_KEY"
        elif case == "no-key":
            options["api_key_env"] = "TAIS_TEST_KEY_UNSET"
        eng = OpenAIEngine.from_arm(ArmSpec(name="a", backend="openai", model=model, options=options))
        yielded = []

        async def run():
            async for c in eng.generate(chat_requests(5)):
                yielded.append(c)

        with pytest.raises(EngineError, match=match) as info:
            asyncio.run(run())
    assert yielded == []
    assert server.state.requests == 0  # the preflight stopped it before any completion request was sent
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_api_key_is_sent_but_never_described_logged_or_reported(monkeypatch, caplog):
    secret = "sk-tais-test-0123456789abcdef"
    monkeypatch.setenv("TAIS_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)
    server = LoopbackServer(LoopbackConfig(api_key=secret, fault_rate=0.3, faults=("500", "429"), seed=1))
    with server.running() as url:
        eng = engine(url, api_key_env="TAIS_TEST_KEY", metrics_url=url + "/metrics")
        completions = collect(eng, chat_requests(20))
        described = json.dumps(eng.describe())
        telemetry = json.dumps(eng.telemetry())
        monkeypatch.setenv("TAIS_TEST_KEY", secret + "-revoked")
        with pytest.raises(EngineError) as info:
            collect(engine(url, api_key_env="TAIS_TEST_KEY"), chat_requests(1))
    assert len(completions) == 20 and server.state.faults  # the key worked, through retries too
    for text in (described, telemetry, caplog.text, str(info.value), repr(eng.options)):
        assert secret not in text
    assert "TAIS_TEST_KEY" in str(info.value)


def test_speculative_counters_are_scraped_before_and_after():
    with LoopbackServer().running() as url:
        collect(engine(url), chat_requests(7))  # counters already non-zero before the measured run
        eng = engine(url, metrics_url=url + "/metrics")
        collect(eng, chat_requests(10))
    t = eng.telemetry()
    assert (t["spec_drafted"], t["spec_accepted"], t["spec_verify_steps"]) == (40, 30, 10)
    assert t["spec_accepted_by_position"] == [10, 10, 10, 0] and t["spec_acceptance_rate"] == 0.75


def test_describe_reports_the_server_version_and_model():
    with LoopbackServer(LoopbackConfig(version="loopback-9")).running() as url:
        d = engine(url, extra_body={"seed": 1}).describe()
    assert d["server"]["version"] == "loopback-9"
    assert d["server"]["model"]["id"] == "smollm2" and d["extra_body"] == {"seed": 1}


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"base_url": "localhost:8000"}, "options.base_url: must start with http:// or https://, got 'localhost:8000'"),
        ({"base_url": "http://h", "concurrency": 0}, "options.concurrency: Input should be greater than or equal to 1"),
        ({"base_url": "http://h", "concurrency": True},
         "options.concurrency: Input should be a valid integer (got True)"),
        ({"base_url": "http://h", "timeout_s": "5"}, "options.timeout_s: Input should be a valid number (got '5')"),
        ({"base_url": "http://h", "api": "responses"}, "options.api: Input should be 'chat' or 'completions'"),
        ({"base_url": "http://h", "api_key_env": "sk-123 456"},
         "options.api_key_env: must name an environment variable"),
        ({"base_url": "http://h", "retries": 3}, "options.retries: unknown key; known: api, api_key_env, base_url"),
        ({}, "options.base_url: required key is missing"),
    ],
)
def test_bad_options_name_their_key(options, expected):
    with pytest.raises(ConfigError) as info:
        OpenAIEngine.from_arm(ArmSpec(name="a", backend="openai", model="m", options=options))
    assert str(info.value).startswith(expected), str(info.value)


def test_duplicate_requests_are_refused():
    with LoopbackServer().running() as url:
        with pytest.raises(EngineError, match="duplicate request"):
            collect(engine(url), chat_requests(3) + chat_requests(1))
