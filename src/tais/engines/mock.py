"""MockEngine: deterministic text from a table or a rule, for tests of the layers above the engines.

It stands in only where a real engine is not the subject of the test: the run store, resume after ``kill -9``, the
pipeline's bookkeeping, the CLI's exit codes. Anything about decoding itself (speculative acceptance, dtype,
batching effects) is tested against the real engines (``hf``, ``vllm``, ``openai``).

Arm options (``arm.options``):

- ``responses``: ``{item_id: text}``; an item listed here gets exactly that text.
- ``rule``: what unlisted items get. ``refuse-keywords`` (default): the refusal text when the last user turn contains
  one of ``keywords`` (case-insensitive), else the compliance text; ``constant``: always ``default``.
- ``keywords``: list of words for ``refuse-keywords`` (default ``["bomb", "steal", "poison", "hack", "weapon"]``).
- ``refusal`` / ``compliance`` / ``default``: the texts used by the rules.
- ``batch_size`` (default 8) and ``delay_s`` (default 0): requests are answered in batches, sleeping ``delay_s``
  before each batch, so a test can kill the process mid-generation.

Tokens are the whitespace-separated words of the text; token ids are their CRC32 (mod 50 000). When the sampling
asks for logprobs, each step reports the chosen word at log-probability -0.05 and one alternative, ``<alt>``, at
-3.0, so a candidate that emits another word at a step shows a gap that the screen classifies as a leak.

Example::

    >>> arm = ArmSpec(name="m", backend="mock", model="mock", options={"responses": {"t/1": "No way."}})
    >>> engine = MockEngine.from_arm(arm)
    >>> req = Request(item_id="t/1", messages=(ChatMessage("user", "hi"),))
    >>> [c.text for c in asyncio.run(_collect(engine, [req]))]
    ['No way.']
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from tais.interfaces import Engine
from tais.schema import StrictModel, parse
from tais.types import ArmSpec, ChatMessage, Completion, Request, StepLogprobs, TopLogprob  # noqa: F401 (ChatMessage: docstring example)

MOCK_VERSION = "1"
DEFAULT_KEYWORDS = ("bomb", "steal", "poison", "hack", "weapon")
DEFAULT_REFUSAL = "I'm sorry, but I can't help with that request."
DEFAULT_COMPLIANCE = "Sure, here is a helpful answer to your question."


class MockOptions(StrictModel):
    """The ``options`` of a ``mock`` arm (see the module docstring)."""

    responses: dict[str, str] = Field(default_factory=dict)
    rule: Literal["refuse-keywords", "constant"] = "refuse-keywords"
    keywords: list[str] = Field(default_factory=lambda: list(DEFAULT_KEYWORDS))
    refusal: str = DEFAULT_REFUSAL
    compliance: str = DEFAULT_COMPLIANCE
    default: str = DEFAULT_COMPLIANCE
    batch_size: int = Field(8, ge=1)
    delay_s: float = Field(0.0, ge=0.0)


def _token_id(word: str) -> int:
    return zlib.crc32(word.encode("utf-8")) % 50_000


class MockEngine(Engine):
    """Deterministic engine (see the module docstring); stands in only where a real engine is not the subject."""

    name = "mock"

    def __init__(self, options: MockOptions | Mapping[str, Any] | None = None) -> None:
        if not isinstance(options, MockOptions):
            options = parse(MockOptions, options or {}, key="options")
        self.responses = dict(options.responses)
        self.rule = options.rule
        self.keywords = tuple(k.lower() for k in options.keywords)
        self.refusal = options.refusal
        self.compliance = options.compliance
        self.default = options.default
        self.batch_size = options.batch_size
        self.delay_s = options.delay_s

    @classmethod
    def from_arm(cls, arm: ArmSpec, *, workdir: Path | None = None) -> MockEngine:
        return cls(arm.options)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "mock",
            "version": MOCK_VERSION,
            "responses": dict(sorted(self.responses.items())),
            "rule": self.rule,
            "keywords": list(self.keywords),
            "refusal": self.refusal,
            "compliance": self.compliance,
            "default": self.default,
        }

    def text_for(self, request: Request) -> str:
        """The text this engine answers a request with."""
        if request.item_id in self.responses:
            return self.responses[request.item_id]
        if self.rule == "constant":
            return self.default
        user = _last_user_turn(request)
        return self.refusal if any(k in user.lower() for k in self.keywords) else self.compliance

    def _completion(self, request: Request, wall_s: float) -> Completion:
        words = self.text_for(request).split()
        words = words[: request.sampling.max_tokens]
        finish = "length" if len(self.text_for(request).split()) > request.sampling.max_tokens else "stop"
        logprobs = None
        if request.sampling.logprobs:
            logprobs = tuple(
                StepLogprobs(token=w, logprob=-0.05, token_id=_token_id(w),
                             top=(TopLogprob(w, -0.05, _token_id(w)), TopLogprob("<alt>", -3.0, 49_999)))
                for w in words
            )
        prompt_words = sum(len(m.content.split()) for m in request.messages or ()) + len((request.prompt or "").split())
        return Completion(
            item_id=request.item_id,
            replicate=request.replicate,
            text=" ".join(words),
            token_ids=tuple(_token_id(w) for w in words),
            logprobs=logprobs,
            finish_reason=finish,
            prompt_tokens=prompt_words,
            output_tokens=len(words),
            wall_s=wall_s,
        )

    async def generate(self, requests: Sequence[Request]) -> AsyncIterator[Completion]:
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start : start + self.batch_size]
            began = time.perf_counter()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            share = (time.perf_counter() - began) / len(batch)
            for request in batch:
                yield self._completion(request, share)


def _last_user_turn(request: Request) -> str:
    if request.prompt is not None:
        return request.prompt
    users = [m.content for m in request.messages or () if m.role == "user"]
    return users[-1] if users else ""


async def _collect(engine: Engine, requests: Sequence[Request]) -> list[Completion]:
    return [c async for c in engine.generate(requests)]


__all__ = ["MockEngine"]
