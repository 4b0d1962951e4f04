"""An async HTTP client for one OpenAI-compatible server: a preflight check, then completions with retries.

**Preflight** (once, before the first completion): ``GET /v1/models`` must answer 200 and list the served model, so
that a wrong URL, a server that is down, a 401 or an unknown model name become one clear :class:`EngineError` before
anything is written. ``GET /version`` (vLLM) is read when the server has it, for the fingerprint.

**Completions** are sent with the retry rules of :mod:`tais.engines.openai.retry`. The API key travels only in the
``Authorization`` header; it is never logged, never put in an error message and never returned by ``describe()``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx

from tais.engines.openai.options import OpenAIOptions
from tais.engines.openai.retry import RETRYABLE_STATUS, BackoffPolicy, RetryBudget, is_transient, retry_after_seconds
from tais.engines.openai.wire import MalformedAnswer, parse_answer, request_body
from tais.errors import EngineError
from tais.types import Completion, Request

log = logging.getLogger(__name__)

_MODELS_PATH = "/v1/models"
_VERSION_PATH = "/version"


@dataclass(frozen=True)
class ServerInfo:
    """What the server said about itself in the preflight: its version (None when it has no ``/version``) and the
    ``/v1/models`` entry of the served model (``id``, ``root``, ``max_model_len``, ... as the server gives them)."""

    version: str | None
    model: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "model": dict(self.model)}


def _headers(options: OpenAIOptions) -> dict[str, str]:
    key = options.api_key()
    return {"Authorization": f"Bearer {key}"} if key else {}


def _excerpt(raw: bytes, limit: int = 200) -> str:
    """The server's own error message, shortened to one line."""
    try:
        data = json.loads(raw)
        message = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(message, dict):
            message = message.get("message", message)
        text = str(message)
    except ValueError:
        text = raw.decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")


def _status_error(options: OpenAIOptions, status: int, raw: bytes, what: str) -> EngineError:
    if status in (401, 403):
        hint = (
            f"check the key in ${options.api_key_env}"
            if options.api_key_env
            else "the server wants an API key: name its environment variable in options.api_key_env"
        )
        return EngineError(f"{options.base_url} rejected the credentials (HTTP {status}) on {what}; {hint}")
    return EngineError(f"{options.base_url} answered HTTP {status} to {what}: {_excerpt(raw)}")


def preflight(options: OpenAIOptions, model: str) -> ServerInfo:
    """Check that the server is up, accepts the credentials and serves ``model``; raise :class:`EngineError` if not."""
    headers = _headers(options)
    url = options.base_url
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=min(options.timeout_s, 30.0)) as client:
            response = client.get(_MODELS_PATH)
            version_response = client.get(_VERSION_PATH) if response.status_code == 200 else None
    except httpx.HTTPError as exc:
        raise EngineError(f"cannot reach the server at {url} ({type(exc).__name__}: {exc}); is it running?") from None
    if response.status_code == 404:
        raise EngineError(f"{url} is not an OpenAI-compatible server: GET {_MODELS_PATH} answered 404 (check base_url)")
    if response.status_code != 200:
        raise _status_error(options, response.status_code, response.content, f"GET {_MODELS_PATH}")
    try:
        entries = response.json()["data"]
        served = {entry["id"]: entry for entry in entries}
    except (ValueError, KeyError, TypeError):
        raise EngineError(f"{url} is not an OpenAI-compatible server: GET {_MODELS_PATH} gave no model list") from None
    if model not in served:
        known = ", ".join(sorted(served)) or "none"
        raise EngineError(f"{url} does not serve model {model!r} (it serves: {known}); set the arm's served model name")
    version = None
    if version_response is not None and version_response.status_code == 200:
        try:
            version = str(version_response.json().get("version"))
        except (ValueError, AttributeError):
            version = None
    entry = {k: v for k, v in served[model].items() if isinstance(v, (str, int, float, bool)) and k != "created"}
    return ServerInfo(version=version, model=entry)


class CompletionClient:
    """Sends completion requests to one server over pooled keep-alive connections (aiohttp: at 32 requests in flight
    it sustains several times the rate of httpx 0.28 on loopback; ``benchmarks/openai_ingest.py`` measures both).

    Use as ``async with CompletionClient(options, model) as client: await client.complete(request, budget)``."""

    def __init__(self, options: OpenAIOptions, model: str, *, backoff: BackoffPolicy | None = None, seed: int = 0):
        self.options = options
        self.model = model
        self.backoff = backoff or BackoffPolicy()
        self.retries = 0
        self._rng = random.Random(seed)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> CompletionClient:
        headers = {"Content-Type": "application/json", **_headers(self.options)}
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.options.timeout_s),
            connector=aiohttp.TCPConnector(limit=self.options.concurrency),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, url: str, payload: bytes) -> tuple[int, bytes, dict[str, str]]:
        assert self._session is not None, "use CompletionClient inside 'async with'"
        async with self._session.post(url, data=payload) as response:
            raw = await response.read()  # the headers are read only by a retry (Retry-After): not copied for a 200
            return response.status, raw, {} if response.status == 200 else dict(response.headers)

    async def complete(self, request: Request, budget: RetryBudget) -> Completion:
        """One completion, retrying transient failures within ``max_retries`` and the shared ``budget``."""
        path, body = request_body(request, model=self.model, api=self.options.api, extra_body=self.options.extra_body)
        url = self.options.base_url + path
        payload = json.dumps(body).encode()
        retry = 0
        while True:
            started = time.perf_counter()
            failure: str
            retry_after: float | None = None
            try:
                status, raw, headers = await self._post(url, payload)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                if not is_transient(exc):
                    raise EngineError(
                        f"request {request.item_id!r} to {url} failed: {type(exc).__name__}: {exc}"
                    ) from None
                failure = "timeout" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
            else:
                if status == 200:
                    try:
                        data = json.loads(raw)
                    except ValueError:
                        raise MalformedAnswer(
                            f"request {request.item_id!r}: {url} answered 200 with a body that is not JSON"
                        ) from None
                    return parse_answer(request, data, wall_s=time.perf_counter() - started)
                if status not in RETRYABLE_STATUS:
                    raise _status_error(self.options, status, raw, f"POST {path} (request {request.item_id!r})")
                failure = f"HTTP {status}"
                retry_after = retry_after_seconds(headers)
            retry += 1
            if retry > self.options.max_retries:
                raise EngineError(
                    f"request {request.item_id!r} to {url} still failing after {self.options.max_retries} retries "
                    f"(last: {failure}); raise options.max_retries or check the server"
                )
            if not budget.take():
                raise EngineError(
                    f"{self.options.base_url} failed too often: the retry budget of {budget.allowed} retries for this "
                    f"run is spent (last: {failure} on request {request.item_id!r}); raise options.retry_budget"
                )
            self.retries += 1
            delay = self.backoff.delay(retry, self._rng, retry_after)
            log.debug("retry %d of %s after %s; waiting %.3f s", retry, request.item_id, failure, delay)
            await asyncio.sleep(delay)
