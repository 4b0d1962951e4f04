"""The one exception tree of tais.

Every error a user can cause is an :class:`InputError` (exit code 2). Its message is one line that names where the
problem is: a file, and a line, column or key inside it::

    >>> str(InputError("missing column 'prompt'", path="data.csv", line=1))
    "data.csv:1: missing column 'prompt'"
    >>> str(InputError("must be > 0", path="screen.yaml", key="thresholds.margin"))
    'screen.yaml: thresholds.margin: must be > 0'

The CLI prints ``tais: error: <message>`` and exits 2; nothing else prints.

The tree::

    TaisError                      exit 1
    +-- InputError                 exit 2: bad input, one line naming where
    |   +-- ConfigError
    |   +-- DataError
    |   +-- SourceError
    |   +-- MissingDependencyError
    |   +-- EngineError
    |       +-- CannotTeacherForce an engine (or its server) that cannot re-score given tokens
    +-- IntegrityError             exit 1: a stored byte no longer matches
"""

from __future__ import annotations


class TaisError(Exception):
    """Base of every error tais raises on purpose."""

    exit_code = 1


class InputError(TaisError):
    """Bad input: a config, data file, argument, model source or unreachable engine. Exit code 2."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: str | int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.key = key
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path is not None:
            where = str(self.path)
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        if self.key is not None:
            where += f"{self.key}: "
        elif self.column is not None and self.line is None:
            where += f"column {self.column}: "
        return (where + self.message).replace("\n", " ")


class ConfigError(InputError):
    """A screen config that does not validate (names the key path)."""


class DataError(InputError):
    """A battery / label file that cannot be read (names the file and line or column)."""


class SourceError(InputError):
    """A source string that cannot be resolved, or whose content no longer matches its pinned sha256."""


class MissingDependencyError(InputError):
    """An optional dependency is not installed; the message says which extra installs it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed: pip install 'tais[{extra}]'")


class EngineError(InputError):
    """An engine that cannot serve the arm: unreachable server, unknown model, rejected credentials, bad engine
    options. Exit 2; the run directory stays resumable."""


class CannotTeacherForce(EngineError):
    """An engine that cannot re-score a given token sequence (teacher forcing): a backend without the feature, or a
    server whose API cannot take a token-id prompt with prompt log-probabilities (a chat-only API). Callers fall back
    to reference-only forensics and flag the evidence as one-sided."""

    def __init__(self, engine: str, reason: str) -> None:
        super().__init__(f"engine {engine!r} cannot teacher-force (re-score given tokens): {reason}")
        self.engine = engine
        self.reason = reason


class IntegrityError(TaisError):
    """``tais verify`` found a stored byte that no longer matches the manifest. Exit 1."""


def require(module: str, extra: str):
    """Import an optional heavy dependency, or raise :class:`MissingDependencyError` naming the extra.

    >>> require("json", "hf").__name__
    'json'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(module.split(".")[0], extra) from exc
