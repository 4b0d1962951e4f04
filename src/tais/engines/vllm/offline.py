"""The ``vllm`` engine: an in-process ``vllm.LLM`` for one arm, with vLLM's own speculative decoding.

The arm's ``speculative`` mapping is vLLM's ``speculative_config`` (``{method: ngram, num_speculative_tokens: 4,
prompt_lookup_max: 3}``, ``{model: <draft source>, num_speculative_tokens: 4}``, or any method the installed vLLM
offers); ``options`` are ``vllm.LLM`` engine arguments passed through (``enforce_eager``, ``seed`` (default 0),
``max_num_seqs``, ``max_model_len``, ...). See :mod:`tais.engines.vllm.config`.

The engine core runs inside the calling process (``VLLM_ENABLE_V1_MULTIPROCESSING=0`` while the LLM is built, and
``distributed_executor_backend="uni"`` unless options say otherwise), so no worker process is spawned and callers
need no ``if __name__ == "__main__"`` guard. The LLM is built on the first ``generate()``; each ``generate()`` hands
all its requests to vLLM at once (chat requests through ``LLM.chat`` with the model's chat template, raw prompts
through ``LLM.generate``) and yields the completions when vLLM returns them. ``score_tokens()`` re-scores given token
ids through ``prompt_logprobs`` (:func:`scores_from_prompt_logprobs`). Speculative acceptance over each
``generate()`` comes from ``LLM.get_metrics()`` (counters before and after) and is in :meth:`VLLMEngine.telemetry`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tais.engines.speculative import counters as spec_counters
from tais.engines.vllm.compat import guard_kernel_rebinding
from tais.engines.vllm.config import VLLMArm
from tais.engines.vllm.kv_cache import memory_hint
from tais.engines.vllm.options import VLLMOptions
from tais.errors import EngineError, require
from tais.interfaces import Engine
from tais.schema import parse
from tais.types import (
    ArmSpec,
    Completion,
    PositionScore,
    Request,
    SamplingParams,
    ScoringRequest,
    StepLogprobs,
    TokenScores,
    TopLogprob,
)

log = logging.getLogger(__name__)


@contextmanager
def _in_process_engine_core() -> Iterator[None]:
    """Build the LLM with its engine core in this process; the variable is restored afterwards."""
    key = "VLLM_ENABLE_V1_MULTIPROCESSING"
    previous = os.environ.get(key)
    os.environ[key] = "0"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous


def completion_from_output(request: Request, output: Any, *, wall_s: float) -> Completion:
    """A :class:`Completion` from one ``vllm.RequestOutput`` (text, token ids, top-k logprobs, finish reason)."""
    choice = output.outputs[0]
    k = request.sampling.logprobs or 0
    steps: tuple[StepLogprobs, ...] | None = None
    if k and choice.logprobs is not None:
        found: list[StepLogprobs] = []
        for token_id, alternatives in zip(choice.token_ids, choice.logprobs):
            ranked = sorted(alternatives.items(), key=lambda kv: kv[1].rank)
            chosen = alternatives[token_id]
            found.append(
                StepLogprobs(
                    token=chosen.decoded_token or "",
                    logprob=float(chosen.logprob),
                    token_id=int(token_id),
                    top=tuple(
                        TopLogprob(token=lp.decoded_token or "", logprob=float(lp.logprob), token_id=int(tid))
                        for tid, lp in ranked[:k]
                    ),
                )
            )
        steps = tuple(found)
    return Completion(
        item_id=request.item_id,
        replicate=request.replicate,
        text=choice.text,
        token_ids=tuple(int(t) for t in choice.token_ids),
        logprobs=steps,
        finish_reason=choice.finish_reason or "stop",
        prompt_tokens=len(output.prompt_token_ids or ()),
        output_tokens=len(choice.token_ids),
        wall_s=wall_s,
        seed=None if request.sampling.greedy else request.sampling.seed,
    )


def sampling_extras(s: SamplingParams) -> dict[str, Any]:
    """``top_p`` / ``top_k`` for ``vllm.SamplingParams`` where they cut (vLLM's "off" is top_k -1 or 0, top_p 1),
    so a greedy request's parameters are unchanged.

    >>> sampling_extras(SamplingParams(temperature=0.8, top_p=0.9, top_k=40))
    {'top_p': 0.9, 'top_k': 40}
    >>> sampling_extras(SamplingParams())
    {}
    """
    out: dict[str, Any] = {}
    if s.top_p < 1.0:
        out["top_p"] = s.top_p
    if s.top_k > 0:
        out["top_k"] = s.top_k
    return out


def scores_from_prompt_logprobs(request: ScoringRequest, prompt_length: int, prompt_logprobs: Any) -> TokenScores:
    """Teacher-forced scores from vLLM's ``prompt_logprobs`` of the token-id prompt ``prompt + forced``: at each
    forced token, its raw log-probability (vLLM reports logprobs before temperature), the top-k vLLM returned (the
    token ranked 1 is the engine's own top-1) and ``exact=False`` (only the top-k is known: the tail beyond it is
    ``PositionScore.tail_mass``; no entropy)."""
    positions = []
    for token_id, alternatives in zip(request.token_ids, prompt_logprobs[prompt_length:]):
        ranked = sorted(alternatives.items(), key=lambda kv: kv[1].rank)
        top = tuple((int(tid), float(lp.logprob)) for tid, lp in ranked if lp.rank <= max(1, request.top_k))
        first = next(((int(tid), float(lp.logprob)) for tid, lp in ranked if lp.rank == 1), top[0])
        positions.append(PositionScore(logprob=float(alternatives[token_id].logprob), top1_id=first[0],
                                       top1_logprob=first[1], top=top, entropy=None, exact=False))
    return TokenScores(item_id=request.request.item_id, replicate=request.request.replicate,
                       token_ids=tuple(int(t) for t in request.token_ids), positions=tuple(positions))


class VLLMEngine(Engine):
    """One arm on an in-process ``vllm.LLM``."""

    name = "vllm"

    def __init__(self, arm: VLLMArm, *, workdir: Path | None = None) -> None:
        self.arm = arm
        self.workdir = workdir
        self._llm: Any = None
        self._telemetry: dict[str, Any] = {}

    @classmethod
    def from_arm(cls, arm: ArmSpec, *, workdir: Path | None = None) -> VLLMEngine:
        options = parse(VLLMOptions, arm.options, key="options")
        return cls(VLLMArm.resolve(arm, engine_args=options.engine_args()), workdir=workdir)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, **self.arm.describe()}

    def telemetry(self) -> dict[str, Any]:
        """Speculative counters over the last ``generate()`` (``spec_drafted``, ``spec_accepted``, ...)."""
        return dict(self._telemetry)

    def llm(self) -> Any:
        """The ``vllm.LLM`` (built on first use; an engine argument vLLM rejects raises :class:`EngineError`)."""
        if self._llm is None:
            vllm = require("vllm", "vllm")
            kwargs = {"distributed_executor_backend": "uni", **self.arm.engine_kwargs()}
            guard_kernel_rebinding()
            started = time.perf_counter()
            try:
                with _in_process_engine_core():
                    self._llm = vllm.LLM(**kwargs)
            except (TypeError, ValueError) as exc:
                raise EngineError(f"arm {self.arm.name!r}: vLLM rejected the engine arguments: {exc}"
                                  f"{memory_hint(str(exc))}") from None
            log.info("vLLM arm %s ready in %.1f s", self.arm.name, time.perf_counter() - started)
        return self._llm

    def _sampling(self, request: Request) -> Any:
        vllm = require("vllm", "vllm")
        s = request.sampling
        return vllm.SamplingParams(
            temperature=s.temperature,
            max_tokens=s.max_tokens,
            logprobs=s.logprobs or None,
            stop=list(s.stop) or None,
            seed=s.seed,
            **sampling_extras(s),
        )

    def _run(self, requests: Sequence[Request]) -> list[Completion]:
        llm = self.llm()
        chats = [r for r in requests if r.messages is not None]
        prompts = [r for r in requests if r.messages is None]
        before = spec_counters.from_vllm_metrics(llm.get_metrics())
        started = time.perf_counter()
        outputs: list[tuple[Request, Any]] = []
        if chats:
            conversations = [[{"role": m.role, "content": m.content} for m in r.messages] for r in chats]  # type: ignore[union-attr]  # chats: messages not None
            result = llm.chat(conversations, [self._sampling(r) for r in chats], use_tqdm=False)
            outputs += list(zip(chats, result))
        if prompts:
            result = llm.generate([r.prompt for r in prompts], [self._sampling(r) for r in prompts], use_tqdm=False)
            outputs += list(zip(prompts, result))
        wall = (time.perf_counter() - started) / max(1, len(requests))
        self._telemetry = (spec_counters.from_vllm_metrics(llm.get_metrics()) - before).arm_telemetry()
        return [completion_from_output(r, out, wall_s=wall) for r, out in outputs]

    def prompt_ids(self, request: Request) -> list[int]:
        """The prompt's token ids as vLLM renders it for generation: chat turns through the tokenizer's chat template
        (rendered to text, then tokenised without added special tokens, as ``LLM.chat`` does), raw prompts with the
        tokenizer's usual special tokens (as ``LLM.generate``)."""
        tokenizer = self.llm().get_tokenizer()
        if request.messages is None:
            return list(tokenizer(request.prompt)["input_ids"])
        text = tokenizer.apply_chat_template([{"role": m.role, "content": m.content} for m in request.messages],
                                             add_generation_prompt=True, tokenize=False)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    def score_tokens(self, requests: Sequence[ScoringRequest]) -> list[TokenScores]:
        """Teacher-forced scoring: each request's prompt ids followed by its forced ids go to vLLM as one
        ``TokensPrompt`` with ``prompt_logprobs=top_k`` and one generated token; the forced positions' prompt
        logprobs are the scores (raw, top-k only: ``exact=False``). The full vocabulary (``prompt_logprobs=-1``) is
        not asked for: it is far too slow."""
        vllm = require("vllm", "vllm")
        from vllm.inputs import TokensPrompt

        llm = self.llm()
        prompts, params, lengths = [], [], []
        for r in requests:
            prompt = list(r.prompt_token_ids) if r.prompt_token_ids is not None else self.prompt_ids(r.request)
            lengths.append(len(prompt))
            prompts.append(TokensPrompt(prompt_token_ids=prompt + [int(t) for t in r.token_ids]))  # type: ignore[typeddict-item]  # vLLM uses 3.11 typing.NotRequired
            params.append(vllm.SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=max(1, r.top_k)))
        outputs = llm.generate(prompts, params, use_tqdm=False) if prompts else []
        return [scores_from_prompt_logprobs(r, n, out.prompt_logprobs)
                for r, n, out in zip(requests, lengths, outputs)]

    async def generate(self, requests: Sequence[Request]) -> AsyncIterator[Completion]:
        keys = [(r.item_id, r.replicate) for r in requests]
        if len(set(keys)) != len(keys):
            raise EngineError("duplicate requests: each (item_id, replicate) must appear once")
        self.llm()
        for completion in await asyncio.to_thread(self._run, requests):
            yield completion

    def close(self) -> None:
        if self._llm is not None:
            engine = getattr(self._llm, "llm_engine", None)
            shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
            if callable(shutdown):
                shutdown()
            self._llm = None
            gc.collect()
