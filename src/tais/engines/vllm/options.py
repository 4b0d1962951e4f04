"""The ``options`` of ``vllm`` and ``vllm-server`` arms: vLLM engine arguments, passed through unvalidated (vLLM
judges them: ``vllm.LLM`` raises, ``vllm serve`` exits, and the engine reports either as one error), except

- ``seed`` (default 0), a strict integer, so that every arm is seeded unless it says otherwise;
- the arguments the arm itself sets (``model``, ``dtype``, ``speculative_config``, ...), rejected here;
- for ``vllm-server``, the request settings of :class:`~tais.engines.openai.options.ClientOptions` (``api``,
  ``concurrency`` (default 16), ``timeout_s`` (default 600), ``max_retries``, ``retry_budget``, ``extra_body``) and
  ``startup_timeout_s`` (how long to wait for ``/health``, default 900), which stay with tais.

    >>> VLLMOptions.model_validate({"enforce_eager": True, "max_model_len": 1024}).engine_args()
    {'seed': 0, 'enforce_eager': True, 'max_model_len': 1024}
    >>> parse(VLLMOptions, {"dtype": "float16"}, key="options")
    Traceback (most recent call last):
    ...
    tais.errors.ConfigError: options.dtype: is set by the arm itself (its dtype), not in options
    >>> server = VLLMServerOptions.model_validate({"concurrency": 4, "max_num_seqs": 8})
    >>> server.concurrency, server.timeout_s, server.engine_args()
    (4, 600.0, {'seed': 0, 'max_num_seqs': 8})
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from tais.engines.openai.options import ClientOptions
from tais.schema import StrictModel, parse  # noqa: F401 (parse: docstring example)

#: engine arguments the arm sets itself (its model, dtype, speculative block, the server's address and name)
RESERVED = {
    "model": "the arm itself (its model)",
    "dtype": "the arm itself (its dtype)",
    "speculative_config": "the arm itself (its speculative block)",
    "tokenizer": "the arm itself (its model folder)",
    "host": "tais (127.0.0.1)",
    "port": "tais (a free port)",
    "served_model_name": "tais (the arm's name)",
}


class VLLMOptions(StrictModel):
    """``vllm`` arm options: vLLM engine arguments (unknown keys are passed through to vLLM)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True, protected_namespaces=())

    seed: int = 0
    model: Any = None
    dtype: Any = None
    speculative_config: Any = None
    tokenizer: Any = None
    host: Any = None
    port: Any = None
    served_model_name: Any = None

    @field_validator(*RESERVED)
    @classmethod
    def _reserved(cls, value: Any, info: ValidationInfo) -> Any:
        raise ValueError(f"is set by {RESERVED[info.field_name or '']}, not in options")

    def engine_args(self) -> dict[str, Any]:
        """The engine arguments for vLLM: ``seed`` and every pass-through key."""
        return {"seed": self.seed, **(self.model_extra or {})}


class VLLMServerOptions(ClientOptions, VLLMOptions):
    """``vllm-server`` arm options: the client's request settings, ``startup_timeout_s``, and vLLM engine
    arguments (every other key, passed through as ``vllm serve`` flags)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True, protected_namespaces=())

    timeout_s: float = Field(600.0, gt=0.0)
    startup_timeout_s: float = Field(900.0, gt=0.0)

    def client(self) -> dict[str, Any]:
        """The request settings, as keyword arguments of :class:`~tais.engines.openai.options.OpenAIOptions`."""
        return {key: getattr(self, key) for key in ClientOptions.model_fields}
