"""The two plug-in interfaces of tais: :class:`Engine` (produces completions) and :class:`Scorer` (turns a completion
into a binary outcome).

They live at the bottom layer so that ``scoring`` (whose judge scorer drives an Engine) and ``engines`` both depend on
them without depending on each other.

An engine yields completions in any order as they finish; the caller matches them by ``(item_id, replicate)``::

    async for completion in engine.generate(requests):
        store.add_completion(arm, completion)   # committed before it counts
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tais.errors import CannotTeacherForce
from tais.types import ArmSpec, Completion, Item, OutcomeRule, Request, Score, ScoringRequest, TokenScores

E = TypeVar("E", bound="Engine")


class Engine(abc.ABC):
    """A decoding backend configured for one arm."""

    #: backend name, e.g. ``hf``, ``vllm``, ``openai``
    name: str = "engine"

    @classmethod
    def from_arm(cls: type[E], arm: ArmSpec, *, workdir: Path | None = None) -> E:
        """Build the engine for one arm: validate ``arm.options`` (and its ``speculative`` block) into the backend's
        typed options, raising :class:`~tais.errors.ConfigError` naming the key; load or connect lazily or at once as
        the backend prefers. ``workdir`` is a folder of the run directory where the engine may keep logs (a started
        server's output); it never enters the fingerprint. Every backend implements it; an engine made only in code
        (a test's scripted judge) need not."""
        raise NotImplementedError(f"{cls.__name__} is not built from an arm spec")

    @abc.abstractmethod
    def generate(self, requests: Sequence[Request]) -> AsyncIterator[Completion]:
        """Generate one completion per request; an async generator yielding each as soon as it is done."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """Everything that can change this engine's outputs (goes into the arm fingerprint): backend and its version,
        model / draft revisions or file hashes, engine args including the speculative config, dtype, chat template.
        Must be JSON-serialisable and must not contain secrets."""

    def score_tokens(self, requests: Sequence[ScoringRequest]) -> list[TokenScores]:
        """Teacher-forced scoring: for each request, the engine's own distribution at every position of the given
        token ids (fed as ids after the prompt's ids, never re-tokenised), in request order. Raw log-probabilities
        (no temperature). Engines that cannot do it raise :class:`~tais.errors.CannotTeacherForce` (this default)."""
        raise CannotTeacherForce(self.name, "this backend has no teacher-forced scoring")

    def score_token_batches(self, requests: Sequence[ScoringRequest], batch: int) -> Iterator[list[TokenScores]]:
        """:meth:`score_tokens` of ``requests`` in consecutive batches of ``batch``, each yielded in request order
        once complete (the caller commits a batch before it asks for the next). This default scores batch after
        batch; an engine that keeps requests in flight (a server's) may work ahead across batch boundaries, with the
        same results."""
        for start in range(0, len(requests), batch):
            yield self.score_tokens(requests[start:start + batch])

    def telemetry(self) -> dict[str, Any]:
        """What the engine measured about its last ``generate()`` as a whole, beyond single completions (e.g. a
        server's speculative counters: ``spec_drafted``, ``spec_accepted``, ...). Empty when it has nothing."""
        return {}

    def close(self) -> None:  # noqa: B027  -- an optional hook: a no-op unless the engine holds something
        """Release what the engine holds (models, servers, connections) so that it can be freed; the engine is not
        used after. Idempotent."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Scorer(abc.ABC):
    """Sets the binary outcome of one completion. Rule scorers are pure functions of (item, completion)."""

    #: scorer name, e.g. ``refusal-rules``
    name: str = "scorer"
    #: bumped whenever the rules change, so stored scores from older rules are never reused
    version: str = "0"
    #: whether :meth:`score` reads ``completion.logprobs``; when False (every scorer so far) the pipeline hands it
    #: completions read without their per-step logprobs (``logprobs=None``), which is most of the cost of reading them
    reads_logprobs: bool = False

    @property
    def id(self) -> str:
        """``NAME@VERSION``, stored with every score."""
        return f"{self.name}@{self.version}"

    @abc.abstractmethod
    def score(self, item: Item, completion: Completion, outcome_rule: OutcomeRule) -> Score:
        """Score one completion under the task's outcome rule (``refusal`` / ``compliance`` / ``multiple_choice``)."""

    def score_batch(self, pairs: Sequence[tuple[Item, Completion]], outcome_rule: OutcomeRule) -> list[Score]:
        """Score many completions; judge scorers override this to batch their engine calls."""
        return [self.score(item, completion, outcome_rule) for item, completion in pairs]
