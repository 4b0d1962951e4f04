"""The ``openai`` backend: any OpenAI-compatible HTTP server.

- :mod:`~tais.engines.openai.options`: the arm's ``options``, validated;
- :mod:`~tais.engines.openai.wire`: request bodies and answers in the OpenAI format;
- :mod:`~tais.engines.openai.retry`: which failures are retried, backoff with jitter, the retry budget;
- :mod:`~tais.engines.openai.client`: preflight and completions over pooled async HTTP;
- :mod:`~tais.engines.openai.engine`: :class:`OpenAIEngine`, the Engine;
- :mod:`~tais.testing.loopback`: a small OpenAI-compatible server on loopback with fault injection, for
  tests, the ingest benchmark, and trying tais without a model.
"""

from tais.engines.openai.engine import OpenAIEngine
from tais.engines.openai.options import ClientOptions, OpenAIOptions

__all__ = ["ClientOptions", "OpenAIEngine", "OpenAIOptions"]
