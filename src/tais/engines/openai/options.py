"""The ``options`` of an ``openai`` arm, validated once into a frozen :class:`OpenAIOptions`.

Keys (all optional except ``base_url``)::

    base_url: http://127.0.0.1:8000     # the server root (a trailing /v1 is accepted and dropped)
    api: chat                           # chat: chat requests to /v1/chat/completions; completions: raw prompts only
    api_key_env: MY_SERVER_KEY          # name of the environment variable that holds the API key (never the key)
    served_model: smollm2               # the model name the server knows; defaults to the arm's ``model``
    concurrency: 16                     # requests in flight at once
    timeout_s: 120                      # per-request timeout (connect, read, write, pool)
    max_retries: 6                      # retries of one request after 429 / 5xx / timeout / dropped connection
    retry_budget: 0.5                   # retries allowed for a whole generate() call: a fraction of its requests
                                        # (< 1) or a count (>= 1); a floor of 10 applies
    extra_body: {return_token_ids: true}  # merged into every request body (vLLM, SGLang, TGI extensions, seeds)
    metrics_url: http://127.0.0.1:8000/metrics   # Prometheus endpoint scraped before and after each generate()

A bad value raises :class:`~tais.errors.ConfigError` naming ``options.<key>`` (:func:`tais.schema.parse`)::

    >>> parse(OpenAIOptions, {"base_url": "http://h:1/v1/"}, key="options").base_url
    'http://h:1'
    >>> parse(OpenAIOptions, {"base_url": "h:1"}, key="options")
    Traceback (most recent call last):
    ...
    tais.errors.ConfigError: options.base_url: must start with http:// or https://, got 'h:1'
    >>> parse(OpenAIOptions, {"base_url": "http://h", "concurrency": True}, key="options")
    Traceback (most recent call last):
    ...
    tais.errors.ConfigError: options.concurrency: Input should be a valid integer (got True)

:class:`ClientOptions` are the request settings alone; ``vllm-server`` arms take them beside vLLM's engine arguments
(:class:`tais.engines.vllm.options.VLLMServerOptions`).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_validator

from tais.errors import EngineError
from tais.schema import StrictModel, parse  # noqa: F401 (parse: docstring example)


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {value!r}")
    return value


class ClientOptions(StrictModel):
    """How requests are sent: API flavour, concurrency, timeout, retries, extra body keys."""

    api: Literal["chat", "completions"] = "chat"
    concurrency: int = Field(16, ge=1)
    timeout_s: float = Field(120.0, gt=0.0)
    max_retries: int = Field(6, ge=0)
    retry_budget: float = Field(0.5, ge=0.0)
    extra_body: dict[str, Any] = Field(default_factory=dict)


class OpenAIOptions(ClientOptions):
    """The ``options`` of an ``openai`` arm (keys in the module docstring)."""

    base_url: str
    api_key_env: str | None = None
    served_model: str | None = None
    metrics_url: str | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        _http_url(value)
        return value.rstrip("/").removesuffix("/v1")

    @field_validator("metrics_url")
    @classmethod
    def _metrics_url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("api_key_env")
    @classmethod
    def _variable_name(cls, value: str | None) -> str | None:
        if value is not None and not value.isidentifier():
            raise ValueError("must name an environment variable (the key itself never goes in a config)")
        return value

    def api_key(self) -> str | None:
        """The API key from the environment variable named by ``api_key_env`` (None when no variable is named).

        Raises :class:`EngineError` when the variable is named but unset, before any request is sent."""
        if self.api_key_env is None:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise EngineError(
                f"environment variable {self.api_key_env} (options.api_key_env) is not set; export the API key there"
            )
        return value

    def retries_allowed(self, n_requests: int) -> int:
        """The retry budget of one generate() call over ``n_requests`` requests.

        >>> OpenAIOptions(base_url="http://h", retry_budget=0.5).retries_allowed(100)
        50
        >>> OpenAIOptions(base_url="http://h", retry_budget=0.5).retries_allowed(4)
        10
        >>> OpenAIOptions(base_url="http://h", retry_budget=25).retries_allowed(4)
        25
        """
        if self.retry_budget >= 1:
            return int(self.retry_budget)
        return max(10, int(self.retry_budget * n_requests))

    def describe(self) -> dict[str, Any]:
        """The options that can change outputs or identify the server; never the key (only the variable's name is
        left out too, as it says nothing about the outputs)."""
        return {"base_url": self.base_url, "api": self.api, "extra_body": dict(self.extra_body)}

