"""A small OpenAI-compatible HTTP/1.1 server on 127.0.0.1, with fault injection.

It answers ``/v1/chat/completions`` and ``/v1/completions`` at once with a deterministic text made from the prompt
(no model), plus ``POST /tokenize`` and, for a token-id prompt with ``prompt_logprobs`` (vLLM's extension), scripted
prompt log-probabilities (:func:`scripted_prompt_logprobs`); ``GET /v1/models``, ``/version``, ``/health``, ``/metrics``
(speculative counters that grow with each
answer) and ``/stats`` (what it answered and which faults it injected). With ``api_key`` set, every ``/v1/`` path
wants ``Authorization: Bearer <key>`` (as ``vllm serve --api-key`` does) and answers 401 otherwise. Its uses: the
fault-injection tests, the ingest benchmark, and trying tais end to end without a model. It is not a model server.

**Faults.** With ``fault_rate=0.2``, each completion request draws (from a seeded generator) whether to fail and how,
uniformly among ``faults``:

- ``500``: HTTP 500 with an error body;  ``429``: HTTP 429 with ``Retry-After: 0``;
- ``stall``: answer only after ``stall_s`` seconds (past the client's timeout);
- ``drop``: close the connection without answering;
- ``truncate``: announce a body and send half of it, then close.

Run it alone (``GET /health`` answers once it listens)::

    python -m tais.testing.loopback --port 8123 --model smollm2 --fault-rate 0.2

or inside a test, in a thread: ``with LoopbackServer(config).running() as base_url: ...``.

``teacher_forcing`` picks how it re-scores a token-id prompt: ``prompt_logprobs`` (vLLM's extension, the default),
``echo`` (the legacy ``echo: true`` + ``logprobs: k`` answer, tokens named ``token_id:N`` as vLLM's
``return_tokens_as_token_ids`` does; ``prompt_logprobs`` is refused with 400), or ``none``: a server that cannot
teacher-force (``/tokenize`` answers 404, ``prompt_logprobs`` and ``echo`` 400). ``score_delay_s`` answers each scoring
request that late (a re-scoring slow enough to be killed half-way); ``/stats`` counts the scoring requests per
token-id prompt (``scored``). A ``loopback_salt`` field in a completion request's body changes its answer (a
candidate arm that differs from the reference).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import random
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

FAULT_KINDS = ("500", "429", "stall", "drop", "truncate")
_WORDS = ("I", " can", " help", " with", " that", ".", " Sure", " here", " is", " an", " answer", " no", " sorry")
_REASONS = {
    200: "OK",
    401: "Unauthorized",
    404: "Not Found",
    400: "Bad Request",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


@dataclass(frozen=True)
class LoopbackConfig:
    models: tuple[str, ...] = ("smollm2",)
    api_key: str | None = None
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULT_KINDS
    stall_s: float = 5.0
    score_delay_s: float = 0.0
    seed: int = 0
    version: str = "loopback-1"
    teacher_forcing: str = "prompt_logprobs"


SCRIPT_VOCAB = 50
_SPLICE = "<prompt_logprobs>"
"""Vocabulary size of the scripted model behind ``/tokenize`` and ``prompt_logprobs``."""


def scripted_tokens(text: str) -> list[int]:
    """The scripted tokenizer: one id per character (its code point modulo :data:`SCRIPT_VOCAB`).

    >>> scripted_tokens("AB")
    [15, 16]
    """
    return [ord(c) % SCRIPT_VOCAB for c in text]


def scripted_logprob(previous: int, token: int) -> tuple[float, int]:
    """(logprob, rank) of ``token`` after ``previous`` in the scripted model: rank r = ``(token - previous - 1) mod
    V`` + 1 (the next id is the favourite), logprob -0.2 at rank 1 and -(2.5 + (r - 2)) below it.

    >>> scripted_logprob(3, 4), scripted_logprob(3, 6)
    ((-0.2, 1), (-3.5, 3))
    """
    rank = (token - previous - 1) % SCRIPT_VOCAB + 1
    return (-0.2 if rank == 1 else -(2.5 + (rank - 2))), rank


def scripted_prompt_logprobs(ids: list[int], k: int) -> list[dict[str, dict[str, Any]] | None]:
    """vLLM-shaped ``prompt_logprobs`` of a token-id prompt under the scripted model: None for the first position,
    then for each later token a map ``{"<id>": {logprob, rank, decoded_token}}`` of the top ``k`` and the token
    itself."""
    out: list[dict[str, dict[str, Any]] | None] = [None]
    for previous, token in zip(ids, ids[1:]):
        entry = {}
        for candidate in [(previous + r) % SCRIPT_VOCAB for r in range(1, k + 1)] + [token]:
            logprob, rank = scripted_logprob(previous, candidate)
            entry[str(candidate)] = {"logprob": logprob, "rank": rank, "decoded_token": f"<{candidate}>"}
        out.append(entry)
    return out


@functools.lru_cache(maxsize=65536)
def _entry_json(previous: int, token: int, k: int) -> str:
    """One ``prompt_logprobs`` entry of :func:`scripted_prompt_logprobs` as JSON text (cached: the scripted model
    has at most ``SCRIPT_VOCAB ** 2`` of them per k, and serialising 20-odd alternatives per token for every answer
    made this server, not tais, the bottleneck of a large re-scoring)."""
    entry = {}
    for candidate in [(previous + r) % SCRIPT_VOCAB for r in range(1, k + 1)] + [token]:
        logprob, rank = scripted_logprob(previous, candidate)
        entry[str(candidate)] = {"logprob": logprob, "rank": rank, "decoded_token": f"<{candidate}>"}
    return json.dumps(entry)


def scripted_prompt_logprobs_json(ids: list[int], k: int) -> str:
    """:func:`scripted_prompt_logprobs` as JSON text, built from cached entries.

    >>> json.loads(scripted_prompt_logprobs_json([1, 2, 9], 2)) == scripted_prompt_logprobs([1, 2, 9], 2)
    True
    """
    return "[" + ", ".join(["null", *(_entry_json(p, t, k) for p, t in zip(ids, ids[1:]))]) + "]"


def answer_tokens(prompt: str, max_tokens: int) -> list[tuple[int, str]]:
    """The deterministic answer to ``prompt``: up to 8 ``(token id, token text)`` pairs chosen by its sha256.

    >>> answer_tokens("hi", 3) == answer_tokens("hi", 3)
    True
    >>> len(answer_tokens("hi", 3))
    3
    """
    digest = hashlib.sha256(prompt.encode()).digest()
    return [(b % len(_WORDS), _WORDS[b % len(_WORDS)]) for b in digest[: min(8, max_tokens)]]


def scripted_echo_logprobs(ids: list[int], k: int) -> dict[str, Any]:
    """The legacy completions ``logprobs`` of an echoed token-id prompt (and the generated token) under the scripted
    model, tokens named ``token_id:N``: ``tokens``, ``token_logprobs`` (None first) and ``top_logprobs`` (None
    first, then ``{"token_id:N": logprob}`` of the top ``k``)."""
    entries = scripted_prompt_logprobs(ids, k)
    later = cast(list[dict[str, dict[str, Any]]], entries[1:])  # None only at the first position
    name = "token_id:{}".format
    return {
        "tokens": [name(t) for t in ids],
        "token_logprobs": [None] + [e[str(t)]["logprob"] for e, t in zip(later, ids[1:])],
        "top_logprobs": [None, *[{name(t): v["logprob"] for t, v in e.items() if v["rank"] <= k}
                                 for e in later]],
        "text_offset": list(range(len(ids))),
    }


@dataclass
class LoopbackState:
    """What the server did: answers per prompt text, faults injected by kind, speculative counters for /metrics."""

    answered: Counter = field(default_factory=Counter)
    scored: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    requests: int = 0
    tokenized: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"answered": dict(self.answered), "faults": dict(self.faults), "requests": self.requests,
                "scored": dict(self.scored), "tokenized": self.tokenized}


class _Http(asyncio.Protocol):
    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP connection gives a Transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            method, path, _ = head[0].split(" ", 2)
            self.server.handle(self, method, path.split("?")[0], headers, body)

    def send(self, status: int, payload: Any, *, extra: str = "", content_type: str = "application/json") -> None:
        if self.transport is None or self.transport.is_closing():
            return
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n"
        ).encode()
        self.transport.write(head + body)


class LoopbackServer:
    """The server; :meth:`running` serves it from a background thread for the length of a ``with`` block."""

    def __init__(self, config: LoopbackConfig = LoopbackConfig()) -> None:
        self.config = config
        self.state = LoopbackState()
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()

    # -- request handling -------------------------------------------------------------------------------------------
    def handle(self, conn: _Http, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        if path == "/health":
            return conn.send(200, b"", content_type="text/plain")
        authorized = headers.get("authorization") == f"Bearer {self.config.api_key}"
        if self.config.api_key is not None and path.startswith("/v1/") and not authorized:
            return conn.send(401, {"error": {"message": "Invalid API key", "type": "authentication_error"}})
        if method == "GET" and path == "/v1/models":
            data = [
                {"id": m, "object": "model", "owned_by": "loopback", "max_model_len": 2048} for m in self.config.models
            ]
            return conn.send(200, {"object": "list", "data": data})
        if method == "GET" and path == "/version":
            return conn.send(200, {"version": self.config.version})
        if method == "GET" and path == "/stats":
            with self._lock:
                return conn.send(200, self.state.to_dict())
        if method == "GET" and path == "/metrics":
            return conn.send(200, self._metrics().encode(), content_type="text/plain")
        if method == "POST" and path == "/tokenize" and self.config.teacher_forcing != "none":
            return self._tokenize(conn, body)
        if method == "POST" and path in ("/v1/chat/completions", "/v1/completions"):
            return self._complete(conn, path, body)
        return conn.send(404, {"error": {"message": f"no route {method} {path}"}})

    def _tokenize(self, conn: _Http, raw: bytes) -> None:
        body = json.loads(raw)
        if "messages" in body:
            text = "".join(f"<{m['role']}>{m['content']}" for m in body["messages"])
            text += "<assistant>" if body.get("add_generation_prompt") else ""
        else:
            text = body["prompt"]
        tokens = scripted_tokens(text)
        with self._lock:
            self.state.tokenized += 1
        return conn.send(200, {"tokens": tokens, "count": len(tokens), "max_model_len": 2048})

    def _score(self, conn: _Http, body: dict) -> None:
        """A scripted answer to a token-id prompt with ``prompt_logprobs`` (one generated token)."""
        echo = not body.get("prompt_logprobs")
        if self.config.teacher_forcing != ("echo" if echo else "prompt_logprobs"):
            argument = "echo" if echo else "prompt_logprobs"
            return conn.send(400, {"error": {"message": f"Unrecognized request argument: {argument}"}})
        ids = [int(t) for t in body["prompt"]]
        with self._lock:
            self.state.requests += 1
            self.state.scored[",".join(map(str, ids))] += 1
        following = (ids[-1] + 1) % SCRIPT_VOCAB
        choice: dict[str, Any] = {"index": 0, "text": f"<{following}>", "finish_reason": "length",
                                  "token_ids": [following]}
        if echo:
            choice["logprobs"] = scripted_echo_logprobs(ids + [following], int(body["logprobs"]))
        else:
            choice["prompt_logprobs"] = _SPLICE
        usage = {"prompt_tokens": len(ids), "completion_tokens": 1, "total_tokens": len(ids) + 1}
        text = json.dumps({"id": "cmpl-loopback", "object": "text_completion", "model": body["model"],
                           "choices": [choice], "usage": usage})
        if not echo:  # the large part, spliced in from cached entries
            text = text.replace(json.dumps(_SPLICE), scripted_prompt_logprobs_json(ids, int(body["prompt_logprobs"])))
        if self.config.score_delay_s > 0:
            asyncio.get_running_loop().call_later(self.config.score_delay_s, conn.send, 200, text.encode())
            return None
        return conn.send(200, text.encode())

    def _complete(self, conn: _Http, path: str, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            return conn.send(400, {"error": {"message": "body is not JSON"}})
        if body.get("model") not in self.config.models:
            return conn.send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
        if (body.get("prompt_logprobs") or body.get("echo")) and isinstance(body.get("prompt"), list):
            return self._score(conn, body)
        chat = path.endswith("chat/completions")
        prompt = "\n".join(m["content"] for m in body["messages"]) if chat else body["prompt"]
        with self._lock:
            self.state.requests += 1
            fault = self._rng.choice(self.config.faults) if self._rng.random() < self.config.fault_rate else None
            if fault is not None:
                self.state.faults[fault] += 1
        if fault == "500":
            return conn.send(500, {"error": {"message": "injected server error"}})
        if fault == "429":
            return conn.send(429, {"error": {"message": "injected rate limit"}}, extra="Retry-After: 0\r\n")
        if fault == "drop":
            assert conn.transport is not None
            return conn.transport.abort()
        answer = self._answer(body, prompt, chat)
        if fault == "truncate":
            assert conn.transport is not None
            data = json.dumps(answer).encode()
            conn.transport.write(
                f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                + data[: len(data) // 2]
            )
            return conn.transport.close()
        if fault == "stall":
            asyncio.get_running_loop().call_later(self.config.stall_s, self._deliver, conn, answer, prompt)
            return None
        self._deliver(conn, answer, prompt)

    def _deliver(self, conn: _Http, answer: dict, prompt: str) -> None:
        if conn.transport is None or conn.transport.is_closing():
            return
        with self._lock:
            self.state.answered[prompt] += 1
        conn.send(200, answer)

    def _answer(self, body: dict, prompt: str, chat: bool) -> dict:
        # a ``loopback_salt`` in the body (an arm's ``extra_body``) changes the answer: a candidate that differs
        tokens = answer_tokens(prompt + str(body.get("loopback_salt", "")), int(body.get("max_tokens") or 16))
        text = "".join(t for _, t in tokens)
        finish = "length" if len(tokens) == body.get("max_tokens") else "stop"
        k = body.get("top_logprobs", 0) if chat else (body.get("logprobs") or 0)
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
        steps = [(t, -0.1 * (i + 1)) for i, (_, t) in enumerate(tokens)]
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
            choice["logprobs"] = (
                {
                    "content": [
                        {"token": t, "logprob": lp, "top_logprobs": [{"token": t, "logprob": lp}][:k]}
                        for t, lp in steps
                    ]
                }
                if body.get("logprobs")
                else None
            )
        else:
            choice["text"] = text
            choice["logprobs"] = (
                {
                    "tokens": [t for t, _ in steps],
                    "token_logprobs": [lp for _, lp in steps],
                    "top_logprobs": [{t: lp} for t, lp in steps],
                }
                if k
                else None
            )
        if body.get("return_token_ids"):
            choice["token_ids"] = [i for i, _ in tokens]
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(tokens)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return {
            "id": "cmpl-loopback",
            "object": "chat.completion" if chat else "text_completion",
            "model": body["model"],
            "choices": [choice],
            "usage": usage,
        }

    def _metrics(self) -> str:
        with self._lock:
            n = sum(self.state.answered.values())
        lines = ["# TYPE vllm:spec_decode_num_draft_tokens counter"]
        for name, value in (("num_drafts", n), ("num_draft_tokens", 4 * n), ("num_accepted_tokens", 3 * n)):
            lines.append(
                f'vllm:spec_decode_{name}_total{{engine="0",model_name="{self.config.models[0]}"}} {float(value)}'
            )
        for position, value in enumerate((n, n, n, 0)):
            lines.append(
                f'vllm:spec_decode_num_accepted_tokens_per_pos_total{{engine="0",position="{position}"}} {float(value)}'
            )
        return "\n".join(lines) + "\n"

    # -- running ----------------------------------------------------------------------------------------------------
    async def start(self, port: int = 0) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: _Http(self), "127.0.0.1", port)

    @contextmanager
    def running(self, port: int = 0) -> Iterator[str]:
        """Serve from a daemon thread; yields the base URL (``http://127.0.0.1:<port>``)."""
        ready = threading.Event()
        holder: dict[str, Any] = {}

        def serve() -> None:
            loop = asyncio.new_event_loop()
            server = loop.run_until_complete(self.start(port))
            holder.update(loop=loop, server=server, port=server.sockets[0].getsockname()[1])
            ready.set()
            loop.run_forever()
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

        thread = threading.Thread(target=serve, name="loopback-openai", daemon=True)
        thread.start()
        ready.wait(10)
        try:
            yield f"http://127.0.0.1:{holder['port']}"
        finally:
            holder["loop"].call_soon_threadsafe(holder["loop"].stop)
            thread.join(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", action="append", default=None)
    parser.add_argument("--api-key-env", default=None, help="environment variable holding the key clients must send")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--stall-s", type=float, default=5.0)
    parser.add_argument("--score-delay-s", type=float, default=0.0, help="answer each scoring request this late")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import os

    config = LoopbackConfig(
        models=tuple(args.model or ["smollm2"]),
        api_key=os.environ[args.api_key_env] if args.api_key_env else None,
        fault_rate=args.fault_rate,
        stall_s=args.stall_s,
        score_delay_s=args.score_delay_s,
        seed=args.seed,
    )

    async def serve() -> None:
        server = await LoopbackServer(config).start(args.port)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
