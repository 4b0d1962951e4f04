"""Teacher-forced scoring through the openai engine against the real loopback HTTP server: a token-id prompt with
vLLM's ``prompt_logprobs`` (scripted answers), and the degradation to :class:`CannotTeacherForce` on a server that
cannot do it."""

from __future__ import annotations

import pytest

from tais.engines.openai import OpenAIEngine, OpenAIOptions
from tais.errors import CannotTeacherForce
from tais.testing.loopback import LoopbackConfig, LoopbackServer
from tais.types import ChatMessage, Request, SamplingParams, ScoringRequest


def _engine(url: str, api: str = "completions") -> OpenAIEngine:
    return OpenAIEngine(OpenAIOptions(base_url=url, api=api), "smollm2")


def _expected(previous: int, token: int) -> float:
    """The loopback's scripted model, written out here: the favourite after id p is p + 1 (mod 50) at -0.2 nats,
    the one after it -2.5, then one nat less per rank."""
    rank = (token - previous - 1) % 50 + 1
    return -0.2 if rank == 1 else -(2.5 + (rank - 2))


@pytest.mark.parametrize("mode", ["prompt_logprobs", "echo"])
def test_token_id_prompt_scores_every_forced_token(mode):
    """Through vLLM's prompt_logprobs, or, where the server refuses that, the legacy echo + logprobs answer."""
    request = ScoringRequest(Request("t/1", prompt="ignored"), token_ids=(11, 12, 40, 41), prompt_token_ids=(9, 10),
                             top_k=3)
    server = LoopbackServer(LoopbackConfig(teacher_forcing=mode))
    with server.running() as url:
        [scores] = _engine(url).score_tokens([request])
    sequence = [9, 10, 11, 12, 40, 41]
    assert scores.token_ids == (11, 12, 40, 41) and len(scores.positions) == 4
    for j, pos in enumerate(scores.positions):
        previous, token = sequence[1 + j], sequence[2 + j]
        assert pos.logprob == pytest.approx(_expected(previous, token))
        assert pos.top1_id == (previous + 1) % 50 and pos.top1_logprob == pytest.approx(-0.2)
        assert [t for t, _ in pos.top] == [(previous + r) % 50 for r in (1, 2, 3)]
        assert not pos.exact and pos.entropy is None
    # the forced 40 after 12 is far from the favourite 13: a low logprob, not the top-1
    assert scores.positions[2].logprob == pytest.approx(-(2.5 + 26))  # rank 28 and scores.positions[2].top1_id == 13


def test_chat_request_prompt_ids_come_from_the_servers_tokenize():
    chat = Request("t/2", SamplingParams(), messages=(ChatMessage("user", "Hi"),))
    with LoopbackServer().running() as url:
        [scores] = _engine(url, api="chat").score_tokens([ScoringRequest(chat, (5,), top_k=2)])
    last_prompt_id = ord(">") % 50  # the scripted template ends "<assistant>"
    assert scores.positions[0].logprob == pytest.approx(_expected(last_prompt_id, 5))


def test_a_server_that_cannot_teacher_force_raises_cannot_teacher_force():
    server = LoopbackServer(LoopbackConfig(teacher_forcing="none"))
    given = ScoringRequest(Request("t/1", prompt="x"), (3,), prompt_token_ids=(1, 2))
    needs_tokenize = ScoringRequest(Request("t/2", prompt="x"), (3,))
    with server.running() as url:
        with pytest.raises(CannotTeacherForce, match="rejected a token-id prompt with prompt_logprobs.*echo"):
            _engine(url).score_tokens([given])
        with pytest.raises(CannotTeacherForce, match="has no /tokenize"):
            _engine(url).score_tokens([needs_tokenize])


def test_an_echo_answer_that_names_tokens_by_text_is_refused():
    from tais.engines.openai.scoring import parse_echo_logprobs

    request = ScoringRequest(Request("t/1", prompt="x"), (5,), prompt_token_ids=(1,))
    answer = {"choices": [{"logprobs": {"token_logprobs": [None, -0.5], "top_logprobs": [None, {"Hi": -0.1}]}}]}
    with pytest.raises(CannotTeacherForce, match="names tokens by text"):
        parse_echo_logprobs(request, 1, answer)


@pytest.mark.parametrize("mode", ["prompt_logprobs", "echo"])
def test_many_requests_in_flight_come_back_in_request_order(mode):
    requests = [ScoringRequest(Request(f"t/{i}", prompt="x"), token_ids=(i % 50, (i * 7) % 50),
                               prompt_token_ids=((i + 3) % 50,), top_k=2) for i in range(30)]
    server = LoopbackServer(LoopbackConfig(teacher_forcing=mode))
    with server.running() as url:
        engine = OpenAIEngine(OpenAIOptions(base_url=url, api="completions", concurrency=8), "smollm2")
        scored = engine.score_tokens(requests)
    assert [s.item_id for s in scored] == [r.request.item_id for r in requests]
    for r, s in zip(requests, scored):
        sequence = [*r.prompt_token_ids, *r.token_ids]
        assert [p.logprob for p in s.positions] == pytest.approx(
            [_expected(sequence[0], sequence[1]), _expected(sequence[1], sequence[2])])
