"""When and how long to wait before sending a failed request again.

**Transient failures** are retried: HTTP 429 (rate limited), 500 / 502 / 503 / 504 (server trouble), a request that
timed out, and a connection that could not be opened or was dropped mid-answer. Everything else (400, 401, 403, 404,
422, a 200 whose body is not an answer) is permanent and raised at once.

**Backoff.** Exponential with full jitter (Brooks, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015):
before retry number ``r`` (1, 2, ...) wait a uniform random time in ``[0, min(cap, base * 2**(r-1))]``. When the
server sends ``Retry-After`` (seconds) with a 429 / 503, wait at least that long (still capped). Worked example with
``base=0.05, cap=2``: retry 1 waits up to 0.05 s, retry 3 up to 0.2 s, retry 7 and later up to 2 s.

**Budget.** Each request may be retried ``max_retries`` times; all requests of one ``generate()`` call share a retry
budget (:class:`RetryBudget`), so a server that fails everything is given up on quickly instead of being retried
``n * max_retries`` times.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def is_transient(error: BaseException) -> bool:
    """True for a timeout or a connection that failed or dropped (worth sending again)."""
    return isinstance(error, (asyncio.TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError))


@dataclass
class RetryBudget:
    """Retries left for one ``generate()`` call, shared by all its requests."""

    allowed: int
    used: int = 0

    def take(self) -> bool:
        """Spend one retry; False when none is left."""
        if self.used >= self.allowed:
            return False
        self.used += 1
        return True


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential backoff with full jitter (see the module docstring)."""

    base_s: float = 0.05
    cap_s: float = 2.0

    def delay(self, retry: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based).

        >>> p = BackoffPolicy(base_s=0.05, cap_s=2.0)
        >>> all(0 <= p.delay(3, random.Random(s)) <= 0.2 for s in range(100))
        True
        >>> p.delay(1, random.Random(0), retry_after_s=1.5) >= 1.5
        True
        """
        ceiling = min(self.cap_s, self.base_s * 2 ** (retry - 1))
        wait = rng.uniform(0.0, ceiling)
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, self.cap_s))
        return wait


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The ``Retry-After`` header in seconds, when it is a number (HTTP dates are ignored).

    >>> retry_after_seconds({"Retry-After": "2"})
    2.0
    >>> retry_after_seconds({}) is None
    True
    """
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
