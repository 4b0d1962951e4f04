"""``sweep:``: one arm template expanded over a grid of settings into named candidate arms.

A sweep block names a template arm and a grid of dotted keys into that arm, each with the list of values to try::

    sweep:
      template: {name: spec, backend: hf, model: "...", speculative: {proposer: ngram, k: 1}}
      grid:
        speculative.k: [1, 2, 4, 8]
        dtype: [float32, bfloat16]

The grid's cartesian product (keys in the order written, values in the order listed) gives one arm per point, named
``<template>-<label>-<label>...``: a string value is its own label, any other value is the key's last part followed
by the value (``k4``, ``batch_size8``); characters an arm name may not hold become ``_``. Every expanded arm is a
candidate: a contrast against the reference. The config (:mod:`tais.pipeline.config`) validates each expanded arm
like a listed one and names the grid key in any error.

Worked example::

    >>> [(a.name, a.point) for a in expand_sweep({"name": "t", "speculative": {"k": 1}, "dtype": "float32"},
    ...                                          {"speculative.k": [1, 4], "dtype": ["float32", "bfloat16"]})]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('t-k1-float32', (('speculative.k', 1), ('dtype', 'float32'))),
     ('t-k1-bfloat16', (('speculative.k', 1), ('dtype', 'bfloat16'))),
     ('t-k4-float32', (('speculative.k', 4), ('dtype', 'float32'))),
     ('t-k4-bfloat16', (('speculative.k', 4), ('dtype', 'bfloat16')))]
    >>> expand_sweep({"name": "t"}, {"options.batch_size": [8]})[0].arm
    {'name': 't-batch_size8', 'options': {'batch_size': 8}, 'role': 'candidate'}
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class SweptArm:
    """One grid point: the expanded arm (a config arm mapping), its name and its ``(key, value)`` settings."""

    name: str
    point: tuple[tuple[str, Any], ...]
    arm: dict[str, Any]


def point_label(key: str, value: Any) -> str:
    """The part of an arm name one grid setting gives.

    >>> point_label("speculative.k", 4), point_label("dtype", "bfloat16"), point_label("draft", "hf:org/m")
    ('k4', 'bfloat16', 'hf_org_m')
    """
    text = value if isinstance(value, str) else f"{key.rsplit('.', 1)[-1]}{_value_text(value)}"
    return _NOT_IN_NAME.sub("_", text).strip("_") or "_"


def _value_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    return str(value)


def set_key(arm: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``arm`` with the dotted ``key`` set to ``value`` (missing mappings on the way are made).

    >>> set_key({"speculative": {"k": 1, "proposer": "ngram"}}, "speculative.k", 4)
    {'speculative': {'k': 4, 'proposer': 'ngram'}}
    """
    out = copy.deepcopy(arm)
    node = out
    *parents, leaf = key.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {} if child is None else child
            if not isinstance(child, dict):
                raise ValueError(f"{part!r} of the template is not a mapping")
            node[part] = child
        node = child
    node[leaf] = copy.deepcopy(value)
    return out


def expand_sweep(template: Mapping[str, Any], grid: Mapping[str, Sequence[Any]]) -> list[SweptArm]:
    """Every grid point of the template, in grid order (see the module docstring); role forced to candidate."""
    keys = list(grid)
    out = []
    for values in itertools.product(*(grid[k] for k in keys)):
        point = tuple(zip(keys, values))
        arm = dict(template)
        for key, value in point:
            arm = set_key(arm, key, value)
        name = "-".join([str(template.get("name", "sweep"))] + [point_label(k, v) for k, v in point])
        arm["name"] = name
        arm["role"] = "candidate"
        out.append(SweptArm(name=name, point=point, arm=arm))
    return out


def sweep_points(config_text: str) -> dict[str, tuple[str, tuple[tuple[str, Any], ...]]]:
    """arm name -> (template name, grid point) for the sweep of a (validated) config's text; empty without one.

    >>> sweep_points("sweep: {template: {name: t}, grid: {speculative.k: [2]}}")
    {'t-k2': ('t', (('speculative.k', 2),))}
    >>> sweep_points("name: no-sweep")
    {}
    """
    try:
        data = yaml.safe_load(config_text)
    except yaml.YAMLError:
        return {}
    sweep = data.get("sweep") if isinstance(data, Mapping) else None
    if not isinstance(sweep, Mapping) or not isinstance(sweep.get("template"), Mapping):
        return {}
    template, grid = sweep["template"], sweep.get("grid") or {}
    return {a.name: (str(template.get("name")), a.point) for a in expand_sweep(template, grid)}
