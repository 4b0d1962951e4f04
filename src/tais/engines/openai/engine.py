"""The ``openai`` engine: any OpenAI-compatible server (vLLM, SGLang, llama.cpp server, TGI, a hosted API).

``generate()`` first runs the preflight (:func:`~tais.engines.openai.client.preflight`), so a bad URL, a dead server,
rejected credentials or an unknown model raise one :class:`~tais.errors.EngineError` before any completion exists.
It then keeps ``concurrency`` requests in flight and yields each completion as it finishes, exactly once per request
(requests must have distinct ``(item_id, replicate)``). When ``metrics_url`` is set, the server's Prometheus counters
are read before and after, and the speculative acceptance of the run is in :meth:`OpenAIEngine.telemetry`.

Example (a vLLM server on port 8000 serving SmolLM2)::

    arm = ArmSpec(name="ngram", backend="openai", model="smollm2",
                  options={"base_url": "http://127.0.0.1:8000", "extra_body": {"return_token_ids": True},
                           "metrics_url": "http://127.0.0.1:8000/metrics"})
    engine = OpenAIEngine.from_arm(arm)
    async for completion in engine.generate(requests):
        ...
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from tais.engines.openai.client import CompletionClient, ServerInfo, preflight
from tais.engines.openai.options import OpenAIOptions
from tais.engines.openai.retry import RetryBudget
from tais.engines.speculative import counters as spec_counters
from tais.errors import EngineError
from tais.interfaces import Engine
from tais.schema import parse
from tais.types import ArmSpec, Completion, Request, ScoringRequest, SpecTelemetry, TokenScores

log = logging.getLogger(__name__)


class OpenAIEngine(Engine):
    """Drives one OpenAI-compatible server for one arm."""

    name = "openai"

    def __init__(
        self,
        options: OpenAIOptions,
        model: str,
        *,
        workdir: Path | None = None,
        describe_extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.options = options
        self.model = model
        self.workdir = workdir
        self._describe_extra = dict(describe_extra or {})
        self._info: ServerInfo | None = None
        self._telemetry: dict[str, Any] = {}

    @classmethod
    def from_arm(cls, arm: ArmSpec, *, workdir: Path | None = None) -> OpenAIEngine:
        options = parse(OpenAIOptions, arm.options, key="options")
        return cls(options, options.served_model or arm.model, workdir=workdir)

    def server_info(self) -> ServerInfo:
        """The preflight's findings (runs it on first use; raises :class:`EngineError` when the server is unusable)."""
        if self._info is None:
            self._info = preflight(self.options, self.model)
        return self._info

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "served_model": self.model,
            **self.options.describe(),
            "server": self.server_info().to_dict(),
            **self._describe_extra,
        }

    def telemetry(self) -> dict[str, Any]:
        """Engine-level extras of the last ``generate()``: retries spent and, with ``metrics_url``, the speculative
        counters read from the server before and after (``spec_drafted``, ``spec_accepted``, ...)."""
        return dict(self._telemetry)

    def score_tokens(self, requests: Sequence[ScoringRequest]) -> list[TokenScores]:
        """Teacher-forced scoring through ``/v1/completions`` with a token-id prompt and vLLM's ``prompt_logprobs``
        (:mod:`tais.engines.openai.scoring`); :class:`~tais.errors.CannotTeacherForce` where the server cannot."""
        from tais.engines.openai.scoring import score_tokens

        self.server_info()
        return score_tokens(self.options, self.model, requests)

    def score_token_batches(self, requests: Sequence[ScoringRequest], batch: int) -> Iterator[list[TokenScores]]:
        """:meth:`score_tokens` a batch at a time, ``concurrency`` requests in flight across batches over one
        session (:func:`tais.engines.openai.scoring.score_batches`)."""
        from tais.engines.openai.scoring import score_batches

        self.server_info()
        return score_batches(self.options, self.model, requests, batch)

    async def _scrape(self) -> SpecTelemetry | None:
        if self.options.metrics_url is None:
            return None
        try:
            async with httpx.AsyncClient(timeout=min(self.options.timeout_s, 30.0)) as client:
                response = await client.get(self.options.metrics_url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise EngineError(f"cannot read metrics from {self.options.metrics_url} ({type(exc).__name__})") from None
        return spec_counters.from_prometheus_text(response.text)

    async def generate(self, requests: Sequence[Request]) -> AsyncIterator[Completion]:
        keys = [(r.item_id, r.replicate) for r in requests]
        if len(set(keys)) != len(keys):
            duplicate = next(k for k in keys if keys.count(k) > 1)
            raise EngineError(f"duplicate request {duplicate!r}: each (item_id, replicate) must appear once")
        await asyncio.to_thread(self.server_info)
        before = await self._scrape()
        budget = RetryBudget(self.options.retries_allowed(len(requests)))
        pending = iter(requests)
        done: asyncio.Queue[Completion | BaseException] = asyncio.Queue()

        async def worker(client: CompletionClient) -> None:
            for request in pending:
                try:
                    done.put_nowait(await client.complete(request, budget))
                except asyncio.CancelledError:
                    raise
                except BaseException as exc:  # handed to the consumer, which stops every worker
                    done.put_nowait(exc)
                    return

        async with CompletionClient(self.options, self.model) as client:
            workers = [asyncio.create_task(worker(client)) for _ in range(min(self.options.concurrency, len(requests)))]
            try:
                for _ in range(len(requests)):
                    result = await done.get()
                    if isinstance(result, BaseException):
                        raise result
                    yield result
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
        telemetry: dict[str, Any] = {"retries": client.retries, "retry_budget": budget.allowed}
        if before is not None:
            after = await self._scrape()
            assert after is not None
            telemetry.update((after - before).arm_telemetry())
        self._telemetry = telemetry
        log.info("openai arm %s: %d completions, %d retries", self.model, len(requests), client.retries)
