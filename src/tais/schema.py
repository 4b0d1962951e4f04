"""Validated settings: strict pydantic models whose errors become one-line :class:`~tais.errors.ConfigError` naming
the key path.

The screen config (:mod:`tais.pipeline.config`) and every engine's ``options`` / ``speculative`` block
(:mod:`tais.engines`) validate through :func:`parse`, so a bad value reads the same wherever it is found: with the
config file and the arm when the config is loaded (``screen.yaml: arms[1].options.batch_size: ...``), with the key
alone when an engine is built straight from an :class:`~tais.types.ArmSpec`::

    >>> class Options(StrictModel):
    ...     batch_size: int = Field(8, ge=1)
    ...     decoder: Literal["auto", "static"] = "auto"
    >>> parse(Options, {"batch_size": 4}, key="options").batch_size
    4
    >>> parse(Options, {"batch_size": True}, key="options")
    Traceback (most recent call last):
    ...
    tais.errors.ConfigError: options.batch_size: Input should be a valid integer (got True)
    >>> parse(Options, {"beams": 2}, key="options", path="screen.yaml")
    Traceback (most recent call last):
    ...
    tais.errors.ConfigError: screen.yaml: options.beams: unknown key; known: batch_size, decoder

:class:`StrictModel` is strict about types (a bool is not an int, ``"4"`` is not an int, an int is a valid float) and
rejects unknown keys; a model that passes unknown keys through (vLLM engine arguments) sets ``extra="allow"``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union  # noqa: F401 (Literal: docstring example)

from pydantic import BaseModel, ConfigDict, Field, ValidationError  # noqa: F401 (Field: docstring example)

from tais.errors import ConfigError

__all__ = ["StrictModel", "config_error", "key_path", "known_keys", "parse"]

M = TypeVar("M", bound=BaseModel)

# error types whose pydantic message already says everything (or whose input is the whole parent mapping)
_NO_INPUT = {"missing", "extra_forbidden", "value_error", "assertion_error"}


class StrictModel(BaseModel):
    """Frozen, strict types, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def key_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a key path.

    >>> key_path(("arms", 2, "speculative", "k"))
    'arms[2].speculative.k'
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _split_key(key: str) -> tuple[Any, ...]:
    """``arms[1].options`` -> ``("arms", 1, "options")`` (the inverse of :func:`key_path`)."""
    out: list[Any] = []
    for part in key.split(".") if key else ():
        name, *indexes = part.replace("]", "").split("[")
        out += [name] if name else []
        out += [int(i) for i in indexes]
    return tuple(out)


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union annotation (``X | None`` -> ``[X, NoneType]``), else the annotation itself."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the model accepts at the mapping that ``loc`` points to (empty when unknown): follows fields,
    optional sub-models and the items of lists and mappings of sub-models."""
    annotations: list[Any] = [model]
    for part in loc:
        step: list[Any] = []
        for member in (m for a in annotations for m in _members(a)):
            if isinstance(member, type) and issubclass(member, BaseModel):
                if isinstance(part, str) and part in member.model_fields:
                    step.append(member.model_fields[part].annotation)
            elif typing.get_args(member) and typing.get_origin(member) in (list, tuple, dict, Mapping):
                step.append(typing.get_args(member)[-1])
        annotations = step
    keys = {k for a in annotations for m in _members(a) if isinstance(m, type) and issubclass(m, BaseModel)
            for k in m.model_fields}
    return sorted(keys)


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def config_error(exc: ValidationError, model: type[BaseModel] | None = None, *, path: str | None = None,
                 prefix: tuple[Any, ...] = ()) -> ConfigError:
    """One :class:`ConfigError` for a validation failure: the first problem, its key path under ``prefix``, and how
    many more problems there are."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith(("function-after", "literal["))))
    message = first["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if first["type"] == "extra_forbidden":
        known = known_keys(model, loc[:-1]) if model is not None else []
        message = "unknown key" + (f"; known: {', '.join(known)}" if known else "")
    elif first["type"] == "missing":
        message = "required key is missing"
    elif first["type"] not in _NO_INPUT and "input" in first:
        message += f" (got {_shown(first['input'])})"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ConfigError(message, path=path, key=key_path(prefix + loc) or None)


def parse(model: type[M], data: Any, *, key: str = "", path: str | None = None) -> M:
    """Validate ``data`` (a mapping) as ``model``; a problem raises :class:`ConfigError` whose key is ``key`` (e.g.
    ``options`` or ``arms[1].options``) followed by the key path inside ``data``."""
    if isinstance(data, Mapping) and not isinstance(data, dict):
        data = dict(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, model, path=path, prefix=_split_key(key)) from None
