"""Speculative-decoding acceptance counters of a vLLM engine, read from its Prometheus ``/metrics`` text or from
``vllm.LLM.get_metrics()``, and the difference over one arm's run, as :class:`tais.types.SpecTelemetry`.

vLLM counts, since it started: ``num_drafts`` (verify steps that carried a draft), ``num_draft_tokens`` (tokens
proposed), ``num_accepted_tokens`` (of those, accepted), and ``num_accepted_tokens_per_pos`` (accepted at draft
position 0, 1, ...). The acceptance rate is accepted / drafted. Worked example of the text format::

    >>> text = '''# TYPE vllm:spec_decode_num_draft_tokens_total counter
    ... vllm:spec_decode_num_draft_tokens_total{engine="0",model_name="m"} 12.0
    ... vllm:spec_decode_num_accepted_tokens_total{engine="0",model_name="m"} 4.0
    ... vllm:spec_decode_num_drafts_total{engine="0",model_name="m"} 3.0
    ... vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="m",position="0"} 3.0
    ... vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="m",position="1"} 1.0
    ... '''
    >>> c = from_prometheus_text(text)
    >>> c.drafted, c.accepted, c.verify_steps, c.accepted_by_position, c.acceptance_rate
    (12, 4, 3, (3, 1), 0.3333333333333333)
    >>> (c - SpecTelemetry(drafted=4, accepted=2, verify_steps=1, accepted_by_position=(2, 0))).accepted_by_position
    (1, 1)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tais.types import SpecTelemetry

_PREFIX = "vllm:spec_decode_"
_LINE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_POSITION = re.compile(r'position="(\d+)"')


def from_prometheus_text(text: str) -> SpecTelemetry:
    """Sum the speculative counters over all label sets (engines) of a Prometheus exposition."""
    totals = {"num_draft_tokens": 0.0, "num_accepted_tokens": 0.0, "num_drafts": 0.0}
    by_position: dict[int, float] = {}
    for line in text.splitlines():
        if not line.startswith(_PREFIX):
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        name = match["name"][len(_PREFIX) :].removesuffix("_total")
        value = float(match["value"])
        if name == "num_accepted_tokens_per_pos":
            position = _POSITION.search(match["labels"] or "")
            if position is not None:
                i = int(position.group(1))
                by_position[i] = by_position.get(i, 0.0) + value
        elif name in totals:
            totals[name] += value
    return SpecTelemetry(
        drafted=int(totals["num_draft_tokens"]),
        accepted=int(totals["num_accepted_tokens"]),
        verify_steps=int(totals["num_drafts"]),
        accepted_by_position=tuple(int(by_position[i]) for i in sorted(by_position)),
    )


def from_vllm_metrics(metrics: Iterable[Any]) -> SpecTelemetry:
    """From ``vllm.LLM.get_metrics()`` (``Counter`` objects with ``name`` / ``value``, a ``Vector`` with
    ``values``), summed over engines."""
    drafted = accepted = steps = 0
    by_position: list[int] = []
    for metric in metrics:
        name = getattr(metric, "name", "")
        if not name.startswith(_PREFIX):
            continue
        short = name[len(_PREFIX) :]
        if short == "num_draft_tokens":
            drafted += int(metric.value)
        elif short == "num_accepted_tokens":
            accepted += int(metric.value)
        elif short == "num_drafts":
            steps += int(metric.value)
        elif short == "num_accepted_tokens_per_pos":
            values = [int(v) for v in metric.values]
            by_position += [0] * (len(values) - len(by_position))
            by_position = [a + b for a, b in zip(by_position, values + [0] * (len(by_position) - len(values)))]
    return SpecTelemetry(drafted=drafted, accepted=accepted, verify_steps=steps,
                         accepted_by_position=tuple(by_position))
