"""Common machinery of judge scorers: build one judge request per (item, completion), run them through the judge
engine in one batch, parse each answer.

A judge's scorer id is ``NAME@VERSION+DIGEST`` where DIGEST is the first 8 hex digits of the sha256 of the judge
engine's ``describe()`` (JSON, keys sorted): scores from a different judge model or configuration never mix.

Judging is greedy (temperature 0) and asks for no logprobs. Each judge request's ``item_id`` is
``judge:<position>`` so answers are matched back whatever order the engine yields them in.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import hashlib
import json
from collections.abc import Sequence

from tais.errors import ConfigError, EngineError
from tais.interfaces import Engine, Scorer
from tais.types import Completion, Item, OutcomeRule, Request, SamplingParams, Score

UNPARSEABLE = "unparseable"


def parse_failure(reason: str) -> tuple[None, str, tuple[tuple[str, str], ...]]:
    """The parse result for an answer that says nothing usable."""
    return None, UNPARSEABLE, (("why", reason),)


def run_async(coro):
    """Run a coroutine to completion from synchronous code, also when an event loop is already running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _collect(engine: Engine, requests: Sequence[Request]) -> dict[str, Completion]:
    out: dict[str, Completion] = {}
    async for completion in engine.generate(requests):
        out[completion.item_id] = completion
    return out


class JudgeScorer(Scorer, abc.ABC):
    """A scorer that asks a judge model. Subclasses define :meth:`request` and :meth:`parse`."""

    #: outcome rules this judge can decide
    rules: tuple[str, ...] = ("refusal",)
    #: bumped whenever the prompt or the parser changes
    judge_version: str = "1"
    max_tokens: int = 32

    def __init__(self, engine: Engine) -> None:
        if engine is None:
            raise ConfigError(f"scorer {self.name} needs a judge engine (set scorer_engine in the config)")
        self.engine = engine
        described = json.dumps(engine.describe(), sort_keys=True, default=str)
        self.version = f"{self.judge_version}+{hashlib.sha256(described.encode()).hexdigest()[:8]}"

    @property
    def sampling(self) -> SamplingParams:
        return SamplingParams(temperature=0.0, max_tokens=self.max_tokens, logprobs=None)

    @abc.abstractmethod
    def request(self, judge_id: str, item: Item, completion: Completion) -> Request:
        """The judge request for one completion."""

    @abc.abstractmethod
    def parse(self, answer: str, outcome_rule: OutcomeRule) -> tuple[int | None, str, tuple[tuple[str, str], ...]]:
        """(outcome, label, detail) from the judge's answer; outcome None when it cannot be parsed."""

    def score(self, item: Item, completion: Completion, outcome_rule: OutcomeRule) -> Score:
        return self.score_batch([(item, completion)], outcome_rule)[0]

    def score_batch(self, pairs: Sequence[tuple[Item, Completion]], outcome_rule: OutcomeRule) -> list[Score]:
        if outcome_rule not in self.rules:
            raise ConfigError(f"scorer {self.name} scores the outcome rules {', '.join(self.rules)}, "
                              f"not {outcome_rule!r}")
        requests = [self.request(f"judge:{i}", item, completion) for i, (item, completion) in enumerate(pairs)]
        answers = run_async(_collect(self.engine, requests)) if requests else {}
        scores = []
        for request, (item, completion) in zip(requests, pairs):
            answer = answers.get(request.item_id)
            if answer is None:
                raise EngineError(f"judge engine returned no answer for {item.id} (replicate {completion.replicate})")
            outcome, label, detail = self.parse(answer.text, outcome_rule)
            scores.append(Score(item_id=item.id, replicate=completion.replicate, scorer=self.id, outcome=outcome,
                                label=label, detail=detail + (("judge_answer", answer.text[:500]),)))
        return scores
