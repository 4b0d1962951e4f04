"""The ``hf`` backend: an :class:`~tais.interfaces.Engine` that decodes in-process with PyTorch / transformers.

Target-only arms decode with batched greedy; arms with a ``speculative`` block decode with batched speculative
decoding (:mod:`tais.engines.hf.speculative`). At temperature > 0 they sample instead: target-only sampling
(:mod:`tais.engines.hf.sampling`) and speculative sampling (:mod:`tais.engines.hf.speculative_sampling`), on the
dynamic decoder, with per-row counter-based noise (every completion records its row seed). Requests are cut, in the
order given, into batches of ``options.batch_size`` (default 8); every completion of a batch carries the batch's wall
time.

Decoding runs on one of two decoders, chosen by ``options.decoder``:

- ``dynamic``: the model's own transformers forward pass with a growing KV cache (:mod:`tais.engines.hf.greedy`,
  :mod:`tais.engines.hf.speculative`); any causal LM, every proposer and acceptance rule, CPU or CUDA;
- ``static``: fixed-width KV buffers and fused kernels, each step one CUDA graph on CUDA, eager on CPU
  (:mod:`tais.engines.hf.static_greedy`, :mod:`tais.engines.hf.static_speculative`); Llama-architecture models
  only (``model_type`` ``llama``: SmolLM2, TinyLlama, Llama 2/3), and for speculative arms only the ``self`` and
  ``draft`` proposers (a Llama draft) with ``strict`` acceptance and no adversarial draft;
- ``auto`` (the default): ``static`` on CUDA for an arm it can run, else ``dynamic``.

The two give the same tokens in float32; in bfloat16 / float16 their kernels round differently, so near ties can
break the other way. ``describe()`` names the decoder, so it is part of the arm's fingerprint: to compare two arms
on the same kernels, give both the same decoder.

Example arm (every key: docs/config.md, "`hf`: embedded PyTorch / transformers")::

    ArmSpec(name="quantized-draft", backend="hf", model=SMOLLM2, speculative={"proposer": "quantized", "k": 4},
            options={"batch_size": 16})
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from tais.engines.hf.chat import prompt_token_ids
from tais.engines.hf.loading import LoadedModel, ModelCache, check_dtype_device, load_model
from tais.engines.hf.options import HFOptions
from tais.engines.hf.rows import RowState, TokenText
from tais.engines.speculative.config import SpeculativeConfig
from tais.errors import ConfigError, EngineError, require
from tais.interfaces import Engine
from tais.schema import parse
from tais.types import ArmSpec, Completion, Request, ScoringRequest, TokenScores

STATIC_WIDTH_STEP = 256


class HFEngine(Engine):
    """Greedy or speculative decoding of one target model (and optionally a draft model)."""

    name = "hf"

    def __init__(
        self,
        target: LoadedModel,
        *,
        speculative: SpeculativeConfig | None = None,
        draft: LoadedModel | None = None,
        batch_size: int = 8,
        decoder: str = "dynamic",
        models: ModelCache | None = None,
        decoding: str = "greedy",
    ) -> None:
        self.target: LoadedModel = target
        self.speculative = speculative
        self.draft = draft
        self.batch_size = batch_size
        self.decoder = decoder
        self.models = models
        self._token_text: TokenText | None = TokenText(target.tokenizer)
        self.decoding = decoding
        self._proposer_model: Any = None
        self._static: Any = None
        self._closed = False

    # ------------------------------------------------------------------------------------------------ construction

    @classmethod
    def from_arm(cls, arm: ArmSpec, *, workdir: Path | None = None, models: ModelCache | None = None) -> HFEngine:
        """Build the engine for ``arm`` (``workdir`` is unused: the engine keeps no logs). With ``models`` (an opt-in
        :class:`~tais.engines.hf.loading.ModelCache`), engines alive at the same time share loaded weights."""
        check_dtype_device(arm.dtype, arm.device)
        options = parse(HFOptions, arm.options, key="options")
        speculative = SpeculativeConfig.parse(arm.speculative)
        if speculative is not None and speculative.proposer == "draft" and not arm.draft:
            raise ConfigError("proposer 'draft' needs the arm's draft model", key="draft")
        if arm.draft and (speculative is None or speculative.proposer != "draft"):
            raise ConfigError("a draft model is only used with speculative.proposer 'draft'", key="draft")
        if speculative is not None and speculative.proposer == "quantized" and arm.device != "cpu":
            raise ConfigError("proposer 'quantized' (int8 dynamic quantization) runs on cpu only",
                              key="speculative.proposer")
        if options.threads is not None:
            require("torch", "hf").set_num_threads(options.threads)
        target = load_model(arm.model, dtype=arm.dtype, device=arm.device, cache=models)
        draft = None
        if speculative is not None and speculative.proposer == "draft":
            draft = load_model(arm.draft, dtype=arm.dtype, device=arm.device, cache=models)  # type: ignore[arg-type]  # arm.draft is set: the draft proposer requires it
            check_same_tokenizer(target, draft)
        decoding = "greedy" if arm.sampling.greedy else "sampling"
        decoder = sampling_decoder(options.decoder, decoding) or choose_decoder(options.decoder, target, speculative,
                                                                                draft)
        return cls(target, speculative=speculative, draft=draft, batch_size=options.batch_size, decoder=decoder,
                   models=models, decoding=decoding)

    # ------------------------------------------------------------------------------------------------- generation

    async def generate(self, requests: Sequence[Request]) -> AsyncIterator[Completion]:
        for start in range(0, len(requests), self.batch_size):
            batch = list(requests[start:start + self.batch_size])
            for completion in await asyncio.to_thread(self.generate_batch, batch):
                yield completion

    def generate_batch(self, requests: Sequence[Request]) -> list[Completion]:
        """Decode one batch synchronously; completions in request order."""
        if self._closed or self._token_text is None:
            raise EngineError("the hf engine is closed")
        token_text = self._token_text
        for r in requests:
            if r.sampling.max_tokens < 1:
                raise EngineError(f"request {r.item_id!r}: max_tokens must be >= 1")
        tok = self.target.tokenizer
        rows = [
            RowState(
                request=r,
                prompt_ids=prompt_token_ids(tok, r),
                eos_ids=self.target.eos_token_ids,
                top_k=int(r.sampling.logprobs or 0),
                tokenizer=tok,
            )
            for r in requests
        ]
        started = time.perf_counter()
        telemetry = None
        if any(not r.sampling.greedy for r in requests):
            telemetry = self._sample(rows)
        elif self.decoder == "static":
            result = self._static_decoder(rows).decode(rows, pad_id=self.target.pad_token_id)
            telemetry = None if self.speculative is None else result
        elif self.speculative is None:
            from tais.engines.hf.greedy import greedy_decode

            greedy_decode(self.target.model, rows, pad_id=self.target.pad_token_id)
        else:
            from tais.engines.hf.speculative import speculative_decode

            telemetry = speculative_decode(self.target, rows, self.speculative, self._proposer())
        wall = time.perf_counter() - started
        return [
            row.completion(tok, wall_s=wall, spec=None if telemetry is None else telemetry[i],
                           token_text=token_text)
            for i, row in enumerate(rows)
        ]

    def score_tokens(self, requests: Sequence[ScoringRequest]) -> list[TokenScores]:
        """Teacher-forced scoring under this arm's target model (speculation plays no part: at temperature 0 the
        target's own distribution is what a lossless speculative arm samples from); see
        :mod:`tais.engines.hf.scoring`."""
        from tais.engines.hf.scoring import score_tokens

        return score_tokens(self.target, requests, batch_size=self.batch_size)

    def prompt_ids(self, request: Request) -> list[int]:
        """The prompt of ``request`` as this engine renders it for scoring (its target's tokenizer and chat template):
        the prefix its :meth:`log_prob_rows` condition on, for a draft model teacher-forced beside it."""
        return prompt_token_ids(self.target.tokenizer, request)

    def log_prob_rows(self, requests: Sequence[ScoringRequest]) -> list[Any]:
        """Full float32 log-softmax rows of the target at every forced position (``[n, vocab]`` per request), for
        exact distribution distances between two in-process arms (:func:`tais.engines.hf.scoring.log_prob_rows`)."""
        from tais.engines.hf.scoring import log_prob_rows

        return log_prob_rows(self.target, requests)

    def draft_log_prob_rows(self, requests: Sequence[ScoringRequest]) -> list[Any]:
        """The draft's full float32 log-softmax rows at every forced position (``[n, draft vocab]`` per request, on
        the CPU), for the draft log-ratio of a T > 0 screen: the model this arm's speculative proposer drafts with
        (the ``draft`` proposer's draft model, the ``quantized`` proposer's int8 copy of the target, the target for
        ``self``), teacher-forced on the target's rendering of the prompt. An adversarial draft's other system prompt
        and logit bias are not applied (the rows are the draft model's own). :class:`EngineError` when the arm drafts
        with no model (target-only, or the ``ngram`` proposer, whose draft is a point mass)."""
        import dataclasses

        from tais.engines.hf.proposers import ModelProposer
        from tais.engines.hf.scoring import log_prob_rows

        if self._closed:
            raise EngineError("the hf engine is closed")
        proposer = None if self.speculative is None else self._proposer()
        if not isinstance(proposer, ModelProposer):
            raise EngineError("this arm drafts with no model (target-only or the ngram proposer): no draft rows")
        return log_prob_rows(dataclasses.replace(self.target, model=proposer.model), requests)

    def _sample(self, rows: Sequence[RowState]) -> Any:
        """Decode a batch with a row at temperature > 0 (:mod:`tais.engines.hf.sampling`); speculative telemetry."""
        if self.decoder == "static":
            raise EngineError("the static decoder decodes greedily; build the arm with temperature > 0 (it then "
                              "samples on the dynamic decoder)")
        if len({r.request.sampling.sampler for r in rows}) > 1:
            raise EngineError("the requests of one batch must share one sampler")
        if self.speculative is None:
            from tais.engines.hf.sampling import sample_decode

            sample_decode(self.target.model, rows, pad_id=self.target.pad_token_id)
            return None
        from tais.engines.hf.speculative_sampling import speculative_sample

        return speculative_sample(self.target, rows, self.speculative, self._proposer())

    def _static_decoder(self, rows: Sequence[RowState]):
        """The static decoder for this batch: kept between batches while it fits (needing no more rows, top-k or
        columns than it was built for), else rebuilt for this batch's rows with the width rounded up to a multiple
        of ``STATIC_WIDTH_STEP`` (one graph capture each; a smaller last batch is padded, not rebuilt)."""
        new = max(r.max_tokens for r in rows)
        per_token = 1 if self.speculative is None else self.speculative.k + 1
        width = max(len(r.prompt_ids) for r in rows) + per_token * new
        top_k = max(r.top_k for r in rows)
        if self._static is not None and self._static.fits(len(rows), width, top_k):
            return self._static
        self._static = None  # free the old buffers (and graph) first
        width = -(-width // STATIC_WIDTH_STEP) * STATIC_WIDTH_STEP
        if self.speculative is None:
            from tais.engines.hf.static_greedy import StaticGreedy

            self._static = StaticGreedy(self.target.model, batch_size=len(rows), width=width, top_k=top_k)
        else:
            from tais.engines.hf.static_speculative import StaticSpeculative

            draft = self.target if self.draft is None else self.draft
            self._static = StaticSpeculative(self.target.model, draft.model, batch_size=len(rows), width=width,
                                             k=self.speculative.k, top_k=top_k)
        return self._static

    def _proposer(self):
        from tais.engines.hf.proposers import make_proposer

        if self._proposer_model is None:
            assert self.speculative is not None
            quantized = None
            if self.speculative.proposer == "quantized" and self.models is not None:
                quantized = self.models.int8_copy(self.target)
            self._proposer_model = make_proposer(self.speculative, self.target, self.draft, quantized=quantized)
        return self._proposer_model

    # -------------------------------------------------------------------------------------------------- identity

    def describe(self) -> dict[str, Any]:
        torch = require("torch", "hf")
        transformers = require("transformers", "hf")
        out: dict[str, Any] = {
            "backend": self.name,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "model": self.target.files.source,
            "model_sha256": self.target.files.sha256,
            "dtype": self.target.dtype,
            "device": self.target.device,
            "chat_template_sha256": self.target.chat_template_sha256(),
            "batch_size": self.batch_size,
            "decoding": self.decoding,
            "decoder": self.decoder,
            "speculative": None if self.speculative is None else self.speculative.describe(),
        }
        if self.draft is not None:
            out["draft"] = self.draft.files.source
            out["draft_sha256"] = self.draft.files.sha256
        if self.speculative is not None and self.speculative.proposer == "quantized":
            out["draft_quantization"] = "torch.ao dynamic int8 (nn.Linear)"
        return out

    def close(self) -> None:
        """Drop every reference to the models, their int8 copy, the static decoder's buffers and graphs, then collect
        and (on CUDA) return the cached blocks to the device. The weights are freed unless another engine sharing
        them through a :class:`~tais.engines.hf.loading.ModelCache` still holds them. Idempotent."""
        if self._closed:
            return
        device = self.target.device
        self._closed = True
        self._proposer_model = None
        self._static = None
        self._token_text = None
        self.target = None  # type: ignore[assignment]  # closed: dropped so the model can be freed
        self.draft = None
        self.models = None
        gc.collect()
        if device == "cuda":
            require("torch", "hf").cuda.empty_cache()


def check_same_tokenizer(target: LoadedModel, draft: LoadedModel) -> None:
    """Raise :class:`ConfigError` unless the draft's tokenizer maps every token to the same id as the target's."""
    if target.tokenizer.get_vocab() != draft.tokenizer.get_vocab():
        raise ConfigError(
            f"draft {draft.files.source!r} does not share the target's tokenizer "
            f"({len(draft.tokenizer.get_vocab())} vs {len(target.tokenizer.get_vocab())} tokens, or different ids)",
            key="draft",
        )


def choose_decoder(option: str, target: LoadedModel, speculative: SpeculativeConfig | None,
                   draft: LoadedModel | None) -> str:
    """``static`` or ``dynamic`` for ``options.decoder`` (see the module docstring); ``ConfigError`` where ``static``
    is asked for and cannot run the arm."""
    blockers = static_blockers(target, speculative, draft)
    if option == "static":
        if blockers:
            raise ConfigError(f"the static decoder cannot run this arm: {blockers[0]}; use 'dynamic' or 'auto'",
                              key="options.decoder")
        return "static"
    if option == "auto" and not blockers and target.device == "cuda":
        return "static"
    return "dynamic"


def sampling_decoder(option: str, decoding: str) -> str | None:
    """``dynamic`` for an arm that samples (the static decoders decode greedily; ``ConfigError`` where ``static`` is
    asked for), else None (:func:`choose_decoder` decides)."""
    if decoding == "greedy":
        return None
    if option == "static":
        raise ConfigError("the static decoder decodes greedily; an arm at temperature > 0 needs 'dynamic' or 'auto'",
                          key="options.decoder")
    return "dynamic"


def static_blockers(target: LoadedModel, speculative: SpeculativeConfig | None,
                    draft: LoadedModel | None) -> list[str]:
    """Why the static decoder cannot run an arm (empty when it can)."""
    from tais.engines.hf.static_llama import LLAMA_MODEL_TYPES

    out = []
    for role, loaded in (("target", target), ("draft", draft)):
        model_type = None if loaded is None else getattr(loaded.model.config, "model_type", None)
        if loaded is not None and model_type not in LLAMA_MODEL_TYPES:
            out.append(f"the {role}'s model type is {model_type!r}, not a Llama architecture")
    if speculative is not None:
        if speculative.proposer not in ("self", "draft"):
            out.append(f"proposer {speculative.proposer!r} (it drafts with a model: 'self' or 'draft')")
        if speculative.acceptance != "strict":
            out.append(f"acceptance {speculative.acceptance!r} (it verifies strictly)")
        if speculative.adversarial.active:
            out.append("an adversarial draft")
    return out

