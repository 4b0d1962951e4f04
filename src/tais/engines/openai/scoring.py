"""Teacher-forced scoring on an OpenAI-compatible server, through vLLM's ``prompt_logprobs`` extension.

For each :class:`~tais.types.ScoringRequest`:

1. the prompt's token ids: the request's own ``prompt_token_ids``, else the server's ``POST /tokenize`` (vLLM;
   chat turns with the generation prompt, as the server renders them for ``/v1/chat/completions``);
2. ``POST /v1/completions`` with the token-id prompt ``prompt + forced``, ``max_tokens: 1``, ``temperature: 0`` and
   ``prompt_logprobs: k``; the answer's ``choices[0].prompt_logprobs`` holds, per prompt position, a map
   ``{"<token id>": {"logprob", "rank", "decoded_token"}}`` with the top-k and the prompt's own token (the first
   position is null).

A server that refuses ``prompt_logprobs`` is asked the legacy way instead: the same token-id prompt with ``echo:
true``, ``logprobs: k`` and ``return_tokens_as_token_ids: true`` (vLLM names tokens ``token_id:N`` then); the
answer's ``choices[0].logprobs`` (``token_logprobs``, ``top_logprobs``) covers the echoed prompt. An echo answer
that names tokens by text only cannot give the top-1's id and is refused.

Token ids travel as ids both ways; text is never re-tokenised. Values are the server's raw log-probabilities, top-k
only (``exact=False``). A server that cannot do either (a chat-only API with no ``/v1/completions``, no
``/tokenize``, or one that rejects both requests or ignores them) raises :class:`~tais.errors.CannotTeacherForce`
naming what was missing. Example of the body of step 2::

    >>> from tais.types import Request
    >>> body = scoring_body(ScoringRequest(Request("t/1", prompt="x"), (7, 8), top_k=3), [1, 2], model="m")
    >>> body["prompt"], body["prompt_logprobs"], body["max_tokens"]
    ([1, 2, 7, 8], 3, 1)
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

import httpx

from tais.engines.openai.options import OpenAIOptions
from tais.errors import CannotTeacherForce, EngineError
from tais.types import PositionScore, Request, ScoringRequest, TokenScores

TOKENIZE_PATH = "/tokenize"
COMPLETIONS_PATH = "/v1/completions"


class _Refused(CannotTeacherForce):
    """The server answered 400 / 422 to a scoring request: it does not take that way of asking."""


def scoring_body(request: ScoringRequest, prompt_ids: Sequence[int], *, model: str) -> dict[str, Any]:
    """The ``/v1/completions`` body that teacher-forces ``request.token_ids`` after ``prompt_ids``."""
    return {"model": model, "prompt": [int(t) for t in prompt_ids] + [int(t) for t in request.token_ids],
            "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": max(1, request.top_k)}


def echo_body(request: ScoringRequest, prompt_ids: Sequence[int], *, model: str) -> dict[str, Any]:
    """The legacy ``/v1/completions`` body that echoes the token-id prompt with its top-k logprobs."""
    body = scoring_body(request, prompt_ids, model=model)
    del body["prompt_logprobs"]
    return {**body, "echo": True, "logprobs": max(1, request.top_k), "return_tokens_as_token_ids": True}


def _token_id(name: str) -> int:
    """The id in a ``token_id:N`` token name; CannotTeacherForce for a name that is text."""
    if not name.startswith("token_id:"):
        raise CannotTeacherForce("openai", "the server's echo answer names tokens by text, not id "
                                           "(return_tokens_as_token_ids unsupported)")
    return int(name.split(":", 1)[1])


def parse_echo_logprobs(request: ScoringRequest, prompt_length: int, answer: Any) -> TokenScores:
    """Scores of the forced positions from an ``echo`` answer's legacy ``logprobs``."""
    try:
        logprobs = answer["choices"][0]["logprobs"]
        values, tops = logprobs["token_logprobs"], logprobs["top_logprobs"]
    except (KeyError, IndexError, TypeError):
        raise CannotTeacherForce("openai", "the server answered echo without prompt logprobs") from None
    n = len(request.token_ids)
    values, tops = values[prompt_length:prompt_length + n], tops[prompt_length:prompt_length + n]
    if len(values) != n or any(t is None for t in tops):
        raise EngineError(f"scoring {request.request.item_id!r}: the echo answer covers {len(values)} of {n} forced "
                          "tokens")
    positions = []
    for value, top in zip(values, tops):
        ranked = sorted(((_token_id(t), float(v)) for t, v in top.items()), key=lambda x: -x[1])
        ranked = ranked[:max(1, request.top_k)]
        positions.append(PositionScore(logprob=float(value), top1_id=ranked[0][0], top1_logprob=ranked[0][1],
                                       top=tuple(ranked), entropy=None, exact=False))
    return TokenScores(item_id=request.request.item_id, replicate=request.request.replicate,
                       token_ids=tuple(int(t) for t in request.token_ids), positions=tuple(positions))


def tokenize_body(request: Request, *, model: str) -> dict[str, Any]:
    """The ``/tokenize`` body giving a request's prompt ids as the server renders them for generation."""
    if request.messages is None:
        return {"model": model, "prompt": request.prompt}
    return {"model": model, "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "add_generation_prompt": True}


def parse_prompt_logprobs(request: ScoringRequest, prompt_length: int, answer: Any) -> TokenScores:
    """Scores of the forced positions from a ``/v1/completions`` answer carrying ``prompt_logprobs``."""
    try:
        entries = answer["choices"][0]["prompt_logprobs"]
    except (KeyError, IndexError, TypeError):
        entries = None
    if not entries:
        raise CannotTeacherForce("openai", "the server answered without prompt_logprobs (it ignores the extension)")
    forced = entries[prompt_length:]
    if len(forced) != len(request.token_ids):
        raise EngineError(f"scoring {request.request.item_id!r}: the server returned {len(forced)} prompt logprobs "
                          f"for {len(request.token_ids)} forced tokens")
    positions = []
    for token_id, alternatives in zip(request.token_ids, forced):
        ranked = sorted(((int(t), float(v["logprob"]), int(v.get("rank") or 0)) for t, v in alternatives.items()),
                        key=lambda x: x[2])
        top = tuple((t, lp) for t, lp, rank in ranked if 1 <= rank <= max(1, request.top_k))
        first = top[0] if top else max(((t, lp) for t, lp, _ in ranked), key=lambda x: x[1])
        own = alternatives.get(str(token_id))
        if own is None:
            raise EngineError(f"scoring {request.request.item_id!r}: the server's prompt logprobs lack the forced "
                              f"token {token_id}")
        positions.append(PositionScore(logprob=float(own["logprob"]), top1_id=first[0], top1_logprob=first[1],
                                       top=top, entropy=None, exact=False))
    return TokenScores(item_id=request.request.item_id, replicate=request.request.replicate,
                       token_ids=tuple(int(t) for t in request.token_ids), positions=tuple(positions))


async def _post(client: httpx.AsyncClient, options: OpenAIOptions, path: str, body: dict[str, Any], what: str) -> Any:
    """POST and return the decoded JSON; the answers that mean "cannot teacher-force" raise CannotTeacherForce."""
    from tais.engines.openai.client import _excerpt, _status_error

    try:
        response = await client.post(path, json=body)
    except httpx.HTTPError as exc:
        raise EngineError(f"{options.base_url}: POST {path} failed ({type(exc).__name__}: {exc})") from None
    if response.status_code in (404, 405):
        raise CannotTeacherForce("openai", f"{options.base_url} has no {path} (HTTP {response.status_code}), "
                                           f"needed for {what}")
    if response.status_code in (400, 422):
        raise _Refused("openai", f"{options.base_url} rejected {what} (HTTP {response.status_code}: "
                                 f"{_excerpt(response.content)})")
    if response.status_code != 200:
        raise _status_error(options, response.status_code, response.content, f"POST {path}")
    try:
        return response.json()
    except ValueError:
        raise EngineError(f"{options.base_url}: POST {path} answered 200 with a body that is not JSON") from None


class _Scorer:
    """Scores requests over one client in the way the server takes: ``prompt_logprobs`` until the server refuses
    it, then ``echo``."""

    def __init__(self, client: httpx.AsyncClient, options: OpenAIOptions, model: str) -> None:
        self.client, self.options, self.model = client, options, model
        self.mode, self.refused = "prompt_logprobs", ""

    async def prompt_ids(self, r: ScoringRequest) -> list[int]:
        if r.prompt_token_ids is not None:
            return [int(t) for t in r.prompt_token_ids]
        answer = await _post(self.client, self.options, TOKENIZE_PATH, tokenize_body(r.request, model=self.model),
                             "the prompt's token ids")
        return [int(t) for t in answer["tokens"]]

    async def score(self, r: ScoringRequest) -> TokenScores:
        prompt = await self.prompt_ids(r)
        if self.mode == "prompt_logprobs":
            try:
                answer = await _post(self.client, self.options, COMPLETIONS_PATH,
                                     scoring_body(r, prompt, model=self.model), "a token-id prompt with prompt_logprobs")
                return parse_prompt_logprobs(r, len(prompt), answer)
            except _Refused as exc:
                self.refused, self.mode = exc.reason, "echo"
        try:
            answer = await _post(self.client, self.options, COMPLETIONS_PATH, echo_body(r, prompt, model=self.model),
                                 "a token-id prompt with echo and logprobs")
        except CannotTeacherForce as exc:
            raise CannotTeacherForce("openai", f"{self.refused}; and {exc.reason}") from None
        return parse_echo_logprobs(r, len(prompt), answer)


async def _score_all(options: OpenAIOptions, model: str, requests: Sequence[ScoringRequest]) -> list[TokenScores]:
    from tais.engines.openai.client import _headers

    limits = httpx.Limits(max_connections=options.concurrency)
    async with httpx.AsyncClient(base_url=options.base_url, headers=_headers(options), timeout=options.timeout_s,
                                 limits=limits) as client:
        scorer = _Scorer(client, options, model)
        if not requests:
            return []
        first = await scorer.score(requests[0])  # settles the way the server takes
        gate = asyncio.Semaphore(options.concurrency)

        async def one(r: ScoringRequest) -> TokenScores:
            async with gate:
                return await scorer.score(r)

        return [first, *await asyncio.gather(*(one(r) for r in requests[1:]))]


def score_tokens(options: OpenAIOptions, model: str, requests: Sequence[ScoringRequest]) -> list[TokenScores]:
    """Teacher-forced scores of every request in request order, ``options.concurrency`` requests in flight (the
    first alone, to learn whether the server takes ``prompt_logprobs`` or only ``echo``). No retries: a failed
    request raises, and the re-scoring phase resumes from what it committed."""
    return asyncio.run(_score_all(options, model, requests))
