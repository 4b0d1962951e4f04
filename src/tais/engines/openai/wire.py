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
    """A completion from the decoded JSON answer to ``request``; raises :class:`MalformedAnswer` when it is none.
    Each step is built once, with its token id when the server gave as many ids as steps (an answer is parsed per
    completion: this is on the path of every ``tais run`` against a server)."""
    try:
        choice = data["choices"][0]
        token_ids = choice.get("token_ids")
        ids = None if token_ids is None else tuple(int(t) for t in token_ids)
        if "message" in choice:
            text = choice["message"].get("content") or ""
            steps = _chat_logprobs(choice.get("logprobs"), ids)
        else:
            text = choice["text"]
            steps = _completion_logprobs(choice.get("logprobs"), ids)
        usage = data.get("usage") or {}
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise MalformedAnswer(
            f"request {request.item_id!r}: the server's answer is not an OpenAI completion (missing {exc})"
        ) from None
    if not isinstance(text, str):
        raise MalformedAnswer(f"request {request.item_id!r}: the server's answer text is not a string")
    output_tokens = usage.get("completion_tokens")
    if output_tokens is None:
        output_tokens = len(ids) if ids is not None else len(steps or ())
    return Completion(
        item_id=request.item_id,
        replicate=request.replicate,
        text=text,
        token_ids=ids,
        logprobs=steps,
        finish_reason=choice.get("finish_reason") or "stop",
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(output_tokens),
        wall_s=wall_s,
        seed=None if request.sampling.greedy else request.sampling.seed,
    )


def _step_ids(ids: tuple[int, ...] | None, steps: int) -> tuple[int | None, ...]:
    """The token id of each step: the server's ids when it gave one per step, else None for each."""
    return ids if ids is not None and len(ids) == steps else (None,) * steps


def _chat_logprobs(logprobs: Any, ids: tuple[int, ...] | None = None) -> tuple[StepLogprobs, ...] | None:
    """The steps of a chat answer's ``logprobs.content``, each with its token id from ``ids`` (see
    :func:`_step_ids`).

    >>> steps = _chat_logprobs({"content": [{"token": "a", "logprob": -0.5,
    ...                                      "top_logprobs": [{"token": "a", "logprob": -0.5}]}]}, (7,))
    >>> steps[0].token_id, steps[0].top[0]
    (7, TopLogprob(token='a', logprob=-0.5, token_id=None))
    """
    if not logprobs or logprobs.get("content") is None:
        return None
    content = logprobs["content"]
    return tuple(
        StepLogprobs(step["token"], float(step["logprob"]), token_id,
                     tuple([TopLogprob(t["token"], float(t["logprob"])) for t in step.get("top_logprobs") or ()]))
        for step, token_id in zip(content, _step_ids(ids, len(content)))
    )


def _completion_logprobs(logprobs: Any, ids: tuple[int, ...] | None = None) -> tuple[StepLogprobs, ...] | None:
    if not logprobs or logprobs.get("tokens") is None:
        return None
    tokens = logprobs["tokens"]
    tops = logprobs.get("top_logprobs") or [None] * len(tokens)
    steps = []
    for token, logprob, top, token_id in zip(tokens, logprobs["token_logprobs"], tops, _step_ids(ids, len(tokens))):
        ranked = sorted((top or {}).items(), key=lambda kv: -kv[1])
        steps.append(
            StepLogprobs(
                token=token,
                logprob=float(logprob) if logprob is not None else float("nan"),
                token_id=token_id,
                top=tuple(TopLogprob(token=t, logprob=float(lp)) for t, lp in ranked),
            )
        )
    return tuple(steps)
