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
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import aiohttp

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


async def _post(session: aiohttp.ClientSession, options: OpenAIOptions, path: str, body: dict[str, Any],
                what: str) -> Any:
    """POST and return the decoded JSON; the answers that mean "cannot teacher-force" raise CannotTeacherForce."""
    from tais.engines.openai.client import _excerpt, _status_error

    try:
        async with session.post(options.base_url + path, data=json.dumps(body).encode()) as response:
            status, raw = response.status, await response.read()
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise EngineError(f"{options.base_url}: POST {path} failed ({type(exc).__name__}: {exc})") from None
    if status in (404, 405):
        raise CannotTeacherForce("openai", f"{options.base_url} has no {path} (HTTP {status}), needed for {what}")
    if status in (400, 422):
        raise _Refused("openai", f"{options.base_url} rejected {what} (HTTP {status}: {_excerpt(raw)})")
    if status != 200:
        raise _status_error(options, status, raw, f"POST {path}")
    try:
        return json.loads(raw)
    except ValueError:
        raise EngineError(f"{options.base_url}: POST {path} answered 200 with a body that is not JSON") from None


class _Scorer:
    """Scores requests over one session in the way the server takes: ``prompt_logprobs`` until the server refuses
    it, then ``echo``. A prompt that several of the requests share (the same :class:`~tais.types.Request` object: a
    reference's and a candidate's completion of one item) is tokenized once by this server and its ids kept until
    its last use."""

    def __init__(self, session: aiohttp.ClientSession, options: OpenAIOptions, model: str,
                 requests: Sequence[ScoringRequest] = ()) -> None:
        self.session, self.options, self.model = session, options, model
        self.mode, self.refused = "prompt_logprobs", ""
        uses = Counter(id(r.request) for r in requests if r.prompt_token_ids is None)
        self.uses_left = {k: n for k, n in uses.items() if n > 1}
        self.shared: dict[int, list[int]] = {}

    async def prompt_ids(self, r: ScoringRequest) -> list[int]:
        if r.prompt_token_ids is not None:
            return [int(t) for t in r.prompt_token_ids]
        key = id(r.request)
        ids = self.shared.get(key)
        if ids is None:
            answer = await _post(self.session, self.options, TOKENIZE_PATH,
                                 tokenize_body(r.request, model=self.model), "the prompt's token ids")
            ids = [int(t) for t in answer["tokens"]]
        if key in self.uses_left:
            self.uses_left[key] -= 1
            if self.uses_left[key] > 0:
                self.shared[key] = ids
            else:
                self.shared.pop(key, None)
        return ids

    async def score(self, r: ScoringRequest) -> TokenScores:
        prompt = await self.prompt_ids(r)
        if self.mode == "prompt_logprobs":
            try:
                answer = await _post(self.session, self.options, COMPLETIONS_PATH,
                                     scoring_body(r, prompt, model=self.model),
                                     "a token-id prompt with prompt_logprobs")
                return parse_prompt_logprobs(r, len(prompt), answer)
            except _Refused as exc:
                self.refused, self.mode = exc.reason, "echo"
        try:
            answer = await _post(self.session, self.options, COMPLETIONS_PATH, echo_body(r, prompt, model=self.model),
                                 "a token-id prompt with echo and logprobs")
        except CannotTeacherForce as exc:
            raise CannotTeacherForce("openai", f"{self.refused}; and {exc.reason}") from None
        return parse_echo_logprobs(r, len(prompt), answer)


class _Flight:
    """Every request's answer as a future, filled by ``options.concurrency`` workers over one pooled session: the
    first request alone (it settles whether the server takes ``prompt_logprobs`` or only ``echo``), then the rest in
    request order with at most ``ahead`` answers not yet taken by the consumer (memory stays bounded however many
    requests there are). A failed request's future holds its exception and the workers stop taking new ones."""

    def __init__(self, options: OpenAIOptions, model: str, requests: Sequence[ScoringRequest], ahead: int) -> None:
        self.options, self.model, self.requests = options, model, requests
        self.futures: list[asyncio.Future[TokenScores]] = []
        self.room = asyncio.Semaphore(max(ahead, options.concurrency))
        self.next, self.failed = 1, False
        self.session: aiohttp.ClientSession | None = None
        self.workers: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        from tais.engines.openai.client import _headers

        loop = asyncio.get_running_loop()
        self.futures = [loop.create_future() for _ in self.requests]
        self.session = aiohttp.ClientSession(
            headers={"Content-Type": "application/json", **_headers(self.options)},
            timeout=aiohttp.ClientTimeout(total=self.options.timeout_s),
            connector=aiohttp.TCPConnector(limit=self.options.concurrency))
        if not self.requests:
            return
        scorer = _Scorer(self.session, self.options, self.model, self.requests)
        await self.room.acquire()
        await self._one(scorer, 0)
        if not self.failed:
            self.workers = [asyncio.create_task(self._work(scorer))
                            for _ in range(min(self.options.concurrency, len(self.requests) - 1))]

    async def _one(self, scorer: _Scorer, index: int) -> None:
        try:
            self.futures[index].set_result(await scorer.score(self.requests[index]))
        except Exception as exc:  # handed to the consumer through the future, in request order
            self.failed = True
            self.futures[index].set_exception(exc)

    async def _work(self, scorer: _Scorer) -> None:
        while True:
            await self.room.acquire()
            if self.failed or self.next >= len(self.requests):
                self.room.release()
                return
            index, self.next = self.next, self.next + 1
            await self._one(scorer, index)

    async def take(self, start: int, stop: int) -> list[TokenScores]:
        """The answers of requests ``[start, stop)``, in request order (the first failure among them raises)."""
        out = []
        for future in self.futures[start:stop]:
            out.append(await future)
            self.room.release()
        return out

    async def close(self) -> None:
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        for future in self.futures:  # a failure nobody took: retrieved, so asyncio does not log it
            if future.done() and not future.cancelled():
                future.exception()
        if self.session is not None:
            await self.session.close()


def score_batches(options: OpenAIOptions, model: str, requests: Sequence[ScoringRequest],
                  batch: int) -> Iterator[list[TokenScores]]:
    """Teacher-forced scores of ``requests`` in consecutive batches of ``batch``, each yielded in request order as
    soon as it is complete, with ``options.concurrency`` requests in flight across batch boundaries over one pooled
    session (the first request alone, to learn whether the server takes ``prompt_logprobs`` or only ``echo``). The
    requests run while the caller waits for the next batch; closing the iterator cancels what is in flight. No
    retries: a failed request raises, and the re-scoring phase resumes from what it committed.

    >>> from tais.engines.openai.options import OpenAIOptions
    >>> list(score_batches(OpenAIOptions(base_url="http://127.0.0.1:9"), "m", [], 4))
    []
    """
    loop = asyncio.new_event_loop()
    flight = _Flight(options, model, requests, ahead=2 * batch + options.concurrency)
    try:
        loop.run_until_complete(flight.open())
        for start in range(0, len(requests), batch):
            yield loop.run_until_complete(flight.take(start, min(start + batch, len(requests))))
    finally:
        try:
            loop.run_until_complete(flight.close())
        finally:
            loop.close()


def score_tokens(options: OpenAIOptions, model: str, requests: Sequence[ScoringRequest]) -> list[TokenScores]:
    """Teacher-forced scores of every request in request order (:func:`score_batches` in one batch)."""
    return [s for scored in score_batches(options, model, requests, max(1, len(requests))) for s in scored]
