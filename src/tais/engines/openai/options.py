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

A bad value raises :class:`~tais.errors.ConfigError` naming ``options.<key>``::

    >>> OpenAIOptions.parse({"base_url": "http://h:1/v1/"}, arm_name="a").base_url
    'http://h:1'
    >>> OpenAIOptions.parse({"base_url": "h:1"}, arm_name="a")
    Traceback (most recent call last):
    ...
    tais.errors.ConfigError: options.base_url: arm 'a': base_url must start with http:// or https://, got 'h:1'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from tais.errors import ConfigError, EngineError

KNOWN_KEYS = frozenset(
    {
        "base_url",
        "api",
        "api_key_env",
        "served_model",
        "concurrency",
        "timeout_s",
        "max_retries",
        "retry_budget",
        "extra_body",
        "metrics_url",
    }
)


@dataclass(frozen=True)
class OpenAIOptions:
    base_url: str
    api: str = "chat"
    api_key_env: str | None = None
    served_model: str | None = None
    concurrency: int = 16
    timeout_s: float = 120.0
    max_retries: int = 6
    retry_budget: float = 0.5
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    metrics_url: str | None = None

    @classmethod
    def parse(cls, options: Mapping[str, Any], *, arm_name: str) -> "OpenAIOptions":
        def bad(key: str, message: str) -> ConfigError:
            return ConfigError(f"arm {arm_name!r}: {message}", key=f"options.{key}")

        unknown = sorted(set(options) - KNOWN_KEYS)
        if unknown:
            raise bad(unknown[0], f"unknown option {unknown[0]!r}; known: {', '.join(sorted(KNOWN_KEYS))}")
        base_url = options.get("base_url")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise bad("base_url", f"base_url must start with http:// or https://, got {base_url!r}")
        base_url = base_url.rstrip("/").removesuffix("/v1")
        api = options.get("api", "chat")
        if api not in ("chat", "completions"):
            raise bad("api", f"api must be 'chat' or 'completions', got {api!r}")
        api_key_env = options.get("api_key_env")
        if api_key_env is not None and (not isinstance(api_key_env, str) or not api_key_env.isidentifier()):
            raise bad(
                "api_key_env", "api_key_env must name an environment variable (the key itself never goes in a config)"
            )
        served_model = options.get("served_model")
        if served_model is not None and not isinstance(served_model, str):
            raise bad("served_model", f"served_model must be a string, got {served_model!r}")
        concurrency = _number(options, "concurrency", 16, int, bad, minimum=1)
        timeout_s = _number(options, "timeout_s", 120.0, float, bad, minimum=0.001)
        max_retries = _number(options, "max_retries", 6, int, bad, minimum=0)
        retry_budget = _number(options, "retry_budget", 0.5, float, bad, minimum=0.0)
        extra_body = options.get("extra_body", {})
        if not isinstance(extra_body, Mapping):
            raise bad("extra_body", f"extra_body must be a mapping, got {type(extra_body).__name__}")
        metrics_url = options.get("metrics_url")
        if metrics_url is not None and (
            not isinstance(metrics_url, str) or not metrics_url.startswith(("http://", "https://"))
        ):
            raise bad("metrics_url", f"metrics_url must start with http:// or https://, got {metrics_url!r}")
        return cls(
            base_url=base_url,
            api=api,
            api_key_env=api_key_env,
            served_model=served_model,
            concurrency=concurrency,
            timeout_s=timeout_s,
            max_retries=max_retries,
            retry_budget=retry_budget,
            extra_body=dict(extra_body),
            metrics_url=metrics_url,
        )

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

        >>> OpenAIOptions("http://h", retry_budget=0.5).retries_allowed(100)
        50
        >>> OpenAIOptions("http://h", retry_budget=0.5).retries_allowed(4)
        10
        >>> OpenAIOptions("http://h", retry_budget=25).retries_allowed(4)
        25
        """
        if self.retry_budget >= 1:
            return int(self.retry_budget)
        return max(10, int(self.retry_budget * n_requests))

    def describe(self) -> dict[str, Any]:
        """The options that can change outputs or identify the server; never the key (only the variable's name is
        left out too, as it says nothing about the outputs)."""
        return {"base_url": self.base_url, "api": self.api, "extra_body": dict(self.extra_body)}


def _number(options: Mapping[str, Any], key: str, default: Any, kind: type, bad: Any, *, minimum: float) -> Any:
    value = options.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (kind is int and not float(value).is_integer())
    ):
        raise bad(key, f"{key} must be a {'whole ' if kind is int else ''}number, got {value!r}")
    if value < minimum:
        raise bad(key, f"{key} must be >= {minimum}, got {value!r}")
    return kind(value)
