"""The ``vllm`` engine: an in-process ``vllm.LLM`` for one arm, with vLLM's own speculative decoding.

The arm's ``speculative`` mapping is vLLM's ``speculative_config`` (``{method: ngram, num_speculative_tokens: 4,
prompt_lookup_max: 3}``, ``{model: <draft source>, num_speculative_tokens: 4}``, or any method the installed vLLM
offers); ``options`` are ``vllm.LLM`` engine arguments passed through (``enforce_eager``, ``seed`` (default 0),
``max_num_seqs``, ``max_model_len``, ...). See :mod:`tais.engines.vllm.config`.

The engine core runs inside the calling process (``VLLM_ENABLE_V1_MULTIPROCESSING=0`` while the LLM is built, and
``distributed_executor_backend="uni"`` unless options say otherwise), so no worker process is spawned and callers
need no ``if __name__ == "__main__"`` guard. The LLM is built on the first ``generate()``; each ``generate()`` hands
all its requests to vLLM at once (chat requests through ``LLM.chat`` with the model's chat template, raw prompts
through ``LLM.generate``) and yields the completions when vLLM returns them. Speculative acceptance over each
``generate()`` comes from ``LLM.get_metrics()`` (counters before and after) and is in :meth:`VLLMEngine.telemetry`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Sequence

from tais.engines.speculative import counters as spec_counters
from tais.engines.vllm.kv_cache import memory_hint
from tais.engines.vllm.config import VLLMArm
from tais.errors import EngineError, require
from tais.interfaces import Engine
from tais.types import ArmSpec, Completion, Request, StepLogprobs, TopLogprob

log = logging.getLogger(__name__)


def _unscannable_modules() -> list[str]:
    """Modules holding a value whose ``vars()`` is not a mapping (llvmlite's ctypes wrappers, imported with numba by
    vLLM's own ngram proposer)."""
    names = []
    for name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for value in list(namespace.values()):
            try:
                broken = hasattr(value, "__dict__") and not hasattr(vars(value), "get")
            except Exception:
                broken = True
            if broken:
                names.append(name)
                break
    return names


def _guard_kernel_rebinding() -> None:
    """Work around a vLLM 0.32 CPU bug that breaks the second ``LLM`` of a process after an ngram arm.

    Building an LLM on CPU registers kernel overrides and rebinds them in every loaded module
    (``vllm.triton_utils.dispatcher._rebind_kernels``), reading ``vars(value).get`` for each module attribute. Once
    vLLM's ngram proposer has imported numba, llvmlite's ctypes wrappers are loaded and answer ``vars()`` with an
    object that has no ``get``: the next LLM fails with ``AttributeError``. Those modules hold no vLLM kernels, so
    they are left out of ``sys.modules`` for the duration of that scan only (no import can happen during it)."""
    try:
        from vllm.triton_utils import dispatcher
    except ImportError:
        return
    original = getattr(dispatcher, "_rebind_kernels", None)
    if original is None or getattr(original, "_tais_guarded", False):
        return

    def rebind(*args: Any, **kwargs: Any) -> Any:
        hidden = {name: sys.modules.pop(name) for name in _unscannable_modules()}
        try:
            return original(*args, **kwargs)
        finally:
            sys.modules.update(hidden)

    rebind._tais_guarded = True  # type: ignore[attr-defined]
    dispatcher._rebind_kernels = rebind


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
    steps = None
    if k and choice.logprobs is not None:
        steps = []
        for token_id, alternatives in zip(choice.token_ids, choice.logprobs):
            ranked = sorted(alternatives.items(), key=lambda kv: kv[1].rank)
            chosen = alternatives[token_id]
            steps.append(
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
        steps = tuple(steps)
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
    )


class VLLMEngine(Engine):
    """One arm on an in-process ``vllm.LLM``."""

    name = "vllm"

    def __init__(self, arm: VLLMArm, *, workdir: Path | None = None) -> None:
        self.arm = arm
        self.workdir = workdir
        self._llm: Any = None
        self._telemetry: dict[str, Any] = {}

    @classmethod
    def from_arm(cls, arm: ArmSpec, *, workdir: Path | None = None) -> "VLLMEngine":
        return cls(VLLMArm.resolve(arm, engine_args=arm.options), workdir=workdir)

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
            _guard_kernel_rebinding()
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
        )

    def _run(self, requests: Sequence[Request]) -> list[Completion]:
        llm = self.llm()
        chats = [r for r in requests if r.messages is not None]
        prompts = [r for r in requests if r.messages is None]
        before = spec_counters.from_vllm_metrics(llm.get_metrics())
        started = time.perf_counter()
        outputs: list[tuple[Request, Any]] = []
        if chats:
            conversations = [[{"role": m.role, "content": m.content} for m in r.messages] for r in chats]  # type: ignore[union-attr]
            result = llm.chat(conversations, [self._sampling(r) for r in chats], use_tqdm=False)
            outputs += list(zip(chats, result))
        if prompts:
            result = llm.generate([r.prompt for r in prompts], [self._sampling(r) for r in prompts], use_tqdm=False)
            outputs += list(zip(prompts, result))
        wall = (time.perf_counter() - started) / max(1, len(requests))
        self._telemetry = (spec_counters.from_vllm_metrics(llm.get_metrics()) - before).arm_telemetry()
        return [completion_from_output(r, out, wall_s=wall) for r, out in outputs]

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
