"""The OpenAI wire format: a :class:`~tais.types.Request` as a JSON body, and a JSON answer as a
:class:`~tais.types.Completion`.

Two endpoints:

- ``/v1/chat/completions`` for chat requests: ``messages``; top-k as ``logprobs: true, top_logprobs: k``; the answer's
  ``choices[0].logprobs.content`` is a list of ``{token, logprob, top_logprobs: [{token, logprob}]}``.
- ``/v1/completions`` for raw prompts: ``prompt``; top-k as ``logprobs: k``; the answer's ``choices[0].logprobs`` is
  ``{tokens, token_logprobs, top_logprobs: [{token: logprob}]}``.

Token ids come from ``choices[0].token_ids`` where the server gives them (vLLM with ``return_token_ids: true`` in
``extra_body``). ``extra_body`` keys are merged last, so they can set anything the server accepts. Example::

    >>> from tais.types import ChatMessage, SamplingParams
    >>> r = Request("t/1", SamplingParams(max_tokens=8, logprobs=2), messages=(ChatMessage("user", "Hi"),))
    >>> path, body = request_body(r, model="m", api="chat", extra_body={"seed": 3})
    >>> path, body["top_logprobs"], body["seed"]
    ('/v1/chat/completions', 2, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tais.errors import EngineError
from tais.types import Completion, Request, StepLogprobs, TopLogprob

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"


class MalformedAnswer(EngineError):
    """A 200 answer whose body is not an OpenAI completion (permanent: the server speaks another protocol)."""


def request_body(request: Request, *, model: str, api: str, extra_body: Mapping[str, Any]) -> tuple[str, dict]:
    """The endpoint path and JSON body for one request."""
    sampling = request.sampling
    body: dict[str, Any] = {"model": model, "max_tokens": sampling.max_tokens, "temperature": sampling.temperature}
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    if sampling.top_p < 1.0:
        body["top_p"] = sampling.top_p
    if sampling.top_k > 0:  # not OpenAI's API; vLLM's and llama.cpp's servers read it
        body["top_k"] = sampling.top_k
    if sampling.stop:
        body["stop"] = list(sampling.stop)
    k = sampling.logprobs or 0
    if request.messages is not None:
        if api != "chat":
            raise EngineError(
                f"request {request.item_id!r} has chat messages but the arm uses api=completions, which takes raw "
                "prompts only; set options.api: chat"
            )
        path = CHAT_PATH
        body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
        if k:
            body["logprobs"] = True
            body["top_logprobs"] = k
    else:
        path = COMPLETIONS_PATH
        body["prompt"] = request.prompt
        if k:
            body["logprobs"] = k
    body.update(extra_body)
    return path, body


def parse_answer(request: Request, data: Any, *, wall_s: float) -> Completion:
    """A completion from the decoded JSON answer to ``request``; raises :class:`MalformedAnswer` when it is none."""
    try:
        choice = data["choices"][0]
        if "message" in choice:
            text = choice["message"].get("content") or ""
            steps = _chat_logprobs(choice.get("logprobs"))
        else:
            text = choice["text"]
            steps = _completion_logprobs(choice.get("logprobs"))
        usage = data.get("usage") or {}
        token_ids = choice.get("token_ids")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise MalformedAnswer(
            f"request {request.item_id!r}: the server's answer is not an OpenAI completion (missing {exc})"
        ) from None
    if not isinstance(text, str):
        raise MalformedAnswer(f"request {request.item_id!r}: the server's answer text is not a string")
    if token_ids is not None:
        token_ids = tuple(int(t) for t in token_ids)
        if steps is not None and len(steps) == len(token_ids):
            steps = tuple(
                StepLogprobs(token=s.token, logprob=s.logprob, token_id=tid, top=s.top)
                for s, tid in zip(steps, token_ids)
            )
    output_tokens = usage.get("completion_tokens")
    if output_tokens is None:
        output_tokens = len(token_ids) if token_ids is not None else len(steps or ())
    return Completion(
        item_id=request.item_id,
        replicate=request.replicate,
        text=text,
        token_ids=token_ids,
        logprobs=steps,
        finish_reason=choice.get("finish_reason") or "stop",
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(output_tokens),
        wall_s=wall_s,
        seed=None if request.sampling.greedy else request.sampling.seed,
    )


def _chat_logprobs(logprobs: Any) -> tuple[StepLogprobs, ...] | None:
    if not logprobs or logprobs.get("content") is None:
        return None
    return tuple(
        StepLogprobs(
            token=step["token"],
            logprob=float(step["logprob"]),
            top=tuple(
                TopLogprob(token=t["token"], logprob=float(t["logprob"])) for t in step.get("top_logprobs") or ()
            ),
        )
        for step in logprobs["content"]
    )


def _completion_logprobs(logprobs: Any) -> tuple[StepLogprobs, ...] | None:
    if not logprobs or logprobs.get("tokens") is None:
        return None
    tops = logprobs.get("top_logprobs") or [None] * len(logprobs["tokens"])
    steps = []
    for token, logprob, top in zip(logprobs["tokens"], logprobs["token_logprobs"], tops):
        ranked = sorted((top or {}).items(), key=lambda kv: -kv[1])
        steps.append(
            StepLogprobs(
                token=token,
                logprob=float(logprob) if logprob is not None else float("nan"),
                top=tuple(TopLogprob(token=t, logprob=float(lp)) for t, lp in ranked),
            )
        )
    return tuple(steps)
