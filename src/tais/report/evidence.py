"""``evidence.json``: the machine-readable record of a screen, schema-versioned and deterministic.

Top-level keys (schema ``tais.evidence/2``; schema ``tais.evidence/1`` differs only in its manifest, which listed the
sha256 of every completion and score where schema 2 has one Merkle root per arm, task and kind, see
:mod:`tais.pipeline.stream`):

- ``schema``, ``verdict`` (PASS / FAIL / INCONCLUSIVE), ``exit_code``, ``thresholds``, ``near_tie_tau`` (the
  near-tie threshold the divergences were classed with: tau widened by a 16-bit reference's logit rounding);
- ``cells``: one object per (contrast, task) with ``contrast``, ``candidate``, ``reference``, ``task``, ``kind``
  (the cell's role: candidate / null; schema 1 names it ``kind``), ``n`` (decided pairs), ``pairs``, ``undecided``,
  ``identical`` (byte-identical pairs), ``identical_tokens`` and ``token_pairs``, ``divergences`` (counts by class),
  ``table`` {a, b, c, d}, ``p_reference``, ``p_candidate``, ``diff``, ``ci_low``, ``ci_high``, ``tost_p``,
  ``equivalent``, ``mcnemar_p``, ``mcnemar_p_holm``, ``cohens_h``, ``null_h``, ``wilson_reference``,
  ``wilson_candidate``, ``verdict``, ``reasons``, ``n_more``;
- ``pooled``: per contrast the Mantel-Haenszel paired odds ratio and its interval;
- ``arms``: name, role, fingerprint, spec, generation wall time, telemetry;
- ``speed``: per arm output tokens, wall time, tokens/s, acceptance (overall and by task), speedup, and on
  candidate rows the null arm's speedup (the noise floor of speed);
- ``divergences``: every first divergence with its position, class, gap, tokens, the reference's top-k, the
  two texts from the divergence on, and its role under the key ``kind``;
- ``robustness`` (present when a second scorer checked a cell): per checked cell, its verdict under a second scorer
  (:mod:`tais.screen.robustness`):
  ``contrast``, ``task``, ``scorer``, ``alt_scorer``, ``rescored`` (pairs re-scored), ``b``/``c`` and
  ``b_alt``/``c_alt``, ``undecided_alt``, ``verdict``, ``verdict_alt``, ``flips``;
- ``sampled`` (present only for a temperature > 0 screen, :mod:`tais.screen.sampled`): the reference's law
  (``temperature``, ``top_p``, ``top_k``), ``theta_margin``, ``tau_p``, ``tau_logit``, ``exact_laws``, ``verdict``
  and per ``contrasts`` entry: ``arm``, ``reference``, ``role``, ``tokens`` (theta with its interval and TOST, the
  surprisal / top-1 Z, PIT A2 and histogram, Holm p-values, hard and soft leaks, and ``diagnostics``, absent in
  figures stored before they existed: ``strata`` with theta and Z per entropy and position bin and, for an arm
  recording token origins, per origin stratum (``kind`` ``origin``: target-only, slot j, bonus, with ``accepted``),
  ``pit_lag1``,
  ``duplicates``, ``expected_duplicate_rate``, ``reference_duplicates``, :mod:`tais.screen.sampled_diagnostics`),
  ``outcomes`` (per task the per-prompt rate difference with its interval, TOST, p-value, Cohen's h, and ``prompts``:
  each prompt's ``item``, ``reference`` and ``arm`` rates), ``verdict``, ``reasons``, ``tokens_needed``,
  ``prompts_needed``;
- ``manifest`` and ``meta``: passed through from the caller.
- ``token_evidence`` (present only when the run has teacher-forced token evidence,
  :mod:`tais.screen.token_cells`): ``available``, ``reason``, ``tau`` and per (arm, task) cell ``two_sided``,
  ``one_sided_reason``, ``unscored``, ``trajectory`` (counts by class incl. ``shift``, leak positions, prompts with a
  leak, largest gap, position histogram), ``leaks`` (item, replicate, position, token ids), ``kl`` (KL /
  same-top-1 / Δp summary), ``kl_exact`` and ``approximate`` (the figures that are top-k lower bounds);
- ``manifest`` and ``meta``: passed through from the caller;
- ``sweep`` (only when the config has a ``sweep:``): per expanded arm its ``arm``, ``template`` and grid ``point``
  (key -> value);
- ``cluster`` (only when arms ran on a Ray cluster): ``arms`` (arm -> its placements: executor, node_id, hostname,
  worker_restarts, one per generation session) and ``resources`` (the cluster's CPU / GPU / custom totals).

Streaming: :func:`write_evidence` writes the same bytes as :func:`evidence_json` with the divergences supplied as
already-serialised entries (:func:`divergence_entry`, joined by ``",\n"``) from a file, so a screen with a million
divergences never holds them all in memory.

Deterministic: :func:`evidence_json` sorts keys, writes floats with Python's shortest round-trip repr and turns
non-finite numbers into null, so identical results give identical bytes.
"""

from __future__ import annotations

import enum
import json
import math
import shutil
from dataclasses import fields, is_dataclass
from typing import Any, TextIO

from tais.screen.result import Divergence, ScreenResult

SCHEMA = "tais.evidence/2"
LEGACY_SCHEMA = "tais.evidence/1"
"""the schema whose manifest lists every completion's sha256 (written by tais before the Merkle manifest)"""
_PLACEHOLDER = "\x00tais-divergences\x00"
_PLACEHOLDER_LINE = '\n  "divergences": "\\u0000tais-divergences\\u0000",\n'


def evidence_dict(result: ScreenResult, schema: str = SCHEMA) -> dict[str, Any]:
    """The evidence of ``result`` as plain JSON-ready data (see the module docstring for the keys)."""
    cells = []
    for cell in result.cells:
        cells.append(
            {
                "contrast": cell.contrast,
                "candidate": cell.candidate,
                "reference": cell.reference,
                "task": cell.task,
                "kind": cell.role,
                "n": cell.n,
                "pairs": cell.pairs,
                "undecided": cell.undecided,
                "identical": cell.identical_text,
                "identical_tokens": cell.identical_tokens,
                "token_pairs": cell.token_pairs,
                "divergences": dict(cell.divergences),
                "table": {"a": cell.a, "b": cell.b, "c": cell.c, "d": cell.d},
                "p_reference": cell.p_reference,
                "p_candidate": cell.p_candidate,
                "diff": cell.diff,
                "ci_low": cell.ci_low,
                "ci_high": cell.ci_high,
                "tost_p": cell.tost_p,
                "equivalent": cell.equivalent,
                "mcnemar_p": cell.mcnemar_p,
                "mcnemar_p_holm": cell.mcnemar_p_holm,
                "cohens_h": cell.cohens_h,
                "null_h": cell.null_h,
                "wilson_reference": cell.wilson_reference,
                "wilson_candidate": cell.wilson_candidate,
                "verdict": cell.verdict.value,
                "reasons": list(cell.reasons),
                "n_more": cell.n_more,
            }
        )
    data = {
        "schema": schema,
        "verdict": result.verdict.value,
        "exit_code": result.verdict.exit_code,
        "thresholds": _plain(result.thresholds),
        "near_tie_tau": result.near_tie_tau,
        "cells": cells,
        "pooled": {name: _plain(p) for name, p in sorted(result.pooled.items())},
        "arms": [_plain(a) for a in result.arms],
        "speed": [_plain(s) for s in result.speed],
        "divergences": [_divergence(d) for d in result.divergences],
        "manifest": _plain(result.manifest),
        "meta": _plain(result.meta),
    } | ({"robustness": [{**_plain(r), "flips": r.flips} for r in result.robustness]} if result.robustness else {})
    if result.sweep:  # optional keys: evidence without a sweep or a cluster reads exactly as before
        data["sweep"] = [{"arm": p.arm, "template": p.template, "point": {k: v for k, v in p.point}}
                         for p in result.sweep]
    if result.cluster:
        data["cluster"] = _plain(result.cluster)
    if result.token_evidence is not None:
        data["token_evidence"] = result.token_evidence.to_dict()
    if result.sampled is not None:
        data["sampled"] = _sampled(result)
    return _plain(data)


def _sampled(result: ScreenResult) -> dict[str, Any]:
    """The T > 0 section: its fields, each outcome with ``significant``, each token level with its soft-leak rate."""
    plain = _plain(result.sampled)
    assert result.sampled is not None
    for c, pc in zip(result.sampled.contrasts, plain["contrasts"]):
        pc["tokens"]["soft_leak_rate"] = c.tokens.soft_leak_rate
        if c.tokens.diagnostics is None:  # figures stored before the diagnostics existed: their evidence unchanged
            del pc["tokens"]["diagnostics"]
        else:  # ``accepted`` only on origin strata, so figures stored before them keep their evidence
            for ps in pc["tokens"]["diagnostics"]["strata"]:
                if ps.get("accepted") is None:
                    ps.pop("accepted", None)
        if c.soft_excess is None:  # no null arm to compare soft leaks with
            del pc["soft_excess"]
        for o, po in zip(c.outcomes, pc["outcomes"]):
            po["significant"] = o.significant
            if not o.prompts:
                del po["prompts"]
    return plain


def divergence_entry(d: Divergence) -> str:
    r"""One divergence as it appears inside ``evidence.json``'s ``divergences`` list (indented, no trailing comma):
    ``"    " + _pretty(_divergence(d), "\n    ")``, written field by field in the keys' sorted order (a divergence
    entry is written per diverging pair: this is several times faster than the generic path, which a field of an
    unexpected type still takes).

    >>> from tais.screen.result import DivergenceClass
    >>> d = Divergence("c vs r", "t", "t/1", 0, 2, DivergenceClass.NEAR_TIE, 0.05, " a", " b",
    ...                ((" a", -0.1), (" b", -0.15)), "x\u00e9", ' "y"', " z", 1, None)
    >>> divergence_entry(d) == "    " + _pretty(_divergence(d), "\n    ")
    True
    """
    parts = []
    for key, name in _DIVERGENCE_KEYS:
        value = getattr(d, name)
        text = _top_text(value) if name == "reference_top" else _scalar_text(value)
        if text is None:
            text = _pretty(_plain(value), "\n      ")
        parts.append(key + text)
    return "    {\n      " + ",\n      ".join(parts) + "\n    }"


_DIVERGENCE_KEYS = tuple(sorted((json.dumps("kind" if f.name == "role" else f.name) + ": ", f.name)
                                for f in fields(Divergence)))
"""(``"key": ``, field name) of a divergence entry in sorted key order (``role`` is written as ``kind``)"""


def _scalar_text(value: Any) -> str | None:
    """A string, number, None, bool or enum of a string or number as :func:`_pretty` of :func:`_plain` writes it;
    None for anything else."""
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return float.__repr__(value) if math.isfinite(value) else "null"
    if isinstance(value, enum.Enum) and type(value.value) in (str, int):
        return _scalar_text(value.value)
    return None


def _top_text(top: Any) -> str | None:
    """The reference's top-k (pairs of token and logprob) as :func:`_pretty` writes it at a divergence's field."""
    if type(top) is not tuple:
        return None
    if not top:
        return "[]"
    rows = []
    for pair in top:
        if type(pair) is not tuple or len(pair) != 2:
            return None
        token, logprob = _scalar_text(pair[0]), _scalar_text(pair[1])
        if token is None or logprob is None:
            return None
        rows.append("[\n          " + token + ",\n          " + logprob + "\n        ]")
    return "[\n        " + ",\n        ".join(rows) + "\n      ]"


def _pretty(value: Any, newline: str) -> str:
    """``json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False)`` of plain data (what :func:`_plain`
    returns), with every line break followed by ``newline``'s indent: the same text, several times faster than the
    json module's pure-Python indenting encoder (a divergence entry is written per diverging pair).

    >>> data = {"b": [1.5, None, True], "a": {"x": "é\\"", "y": []}, "c": {}}
    >>> _pretty(data, "\\n") == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)
    True
    """
    if isinstance(value, str):
        return _encode_string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is float:
        if not math.isfinite(value):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        return float.__repr__(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return json.dumps(value, allow_nan=False)
    inner = newline + "  "
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[" + inner + ("," + inner).join(_pretty(v, inner) for v in value) + newline + "]"
    if not value:
        return "{}"
    return "{" + inner + ("," + inner).join(
        _encode_string(k) + ": " + _pretty(value[k], inner) for k in sorted(value)) + newline + "}"


_encode_string = json.encoder.encode_basestring


def write_evidence(result: ScreenResult, handle: TextIO, divergences: TextIO | None = None,
                   schema: str = SCHEMA) -> None:
    """Write ``evidence.json`` to ``handle``: the bytes of :func:`evidence_json`, except that when ``divergences``
    is given, the divergence list is copied from it (entries from :func:`divergence_entry` joined by ``",\n"``, in
    order) instead of serialised from ``result.divergences``.

    >>> import io
    >>> from tais.screen.result import ScreenResult
    >>> from tais.types import Thresholds, Verdict
    >>> empty = ScreenResult(Verdict.INCONCLUSIVE, (), (), (), (), Thresholds(), {})
    >>> out = io.StringIO(); write_evidence(empty, out, io.StringIO(""))
    >>> out.getvalue() == evidence_json(empty)
    True
    """
    if divergences is None:
        handle.write(evidence_json(result, schema))
        return
    data = evidence_dict(result, schema)
    data["divergences"] = _PLACEHOLDER
    text = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    head, found, tail = text.partition(_PLACEHOLDER_LINE)
    assert found, "evidence layout: the divergences placeholder is missing"
    handle.write(head + '\n  "divergences": ')
    first = divergences.read(1 << 16)
    if not first:
        handle.write("[]")
    else:
        handle.write("[\n" + first)
        shutil.copyfileobj(divergences, handle, 1 << 16)
        handle.write("\n  ]")
    handle.write(",\n" + tail)


def _divergence(d: Divergence) -> dict[str, Any]:
    """A divergence as evidence: its fields, with its role under the key ``kind`` (the word of schema 1)."""
    plain = _plain(d)
    plain["kind"] = plain.pop("role")
    return plain


def evidence_json(result: ScreenResult, schema: str = SCHEMA) -> str:
    """``evidence_dict(result)`` serialised: sorted keys, two-space indent, UTF-8 text, trailing newline."""
    data = evidence_dict(result, schema)
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _plain(value: Any) -> Any:
    """JSON-ready copy: dataclasses to dicts, enums to values, tuples to lists, non-finite floats to None."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is tuple or kind is list:
        return [_plain(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, dict) or hasattr(value, "items") and callable(value.items):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    raise TypeError(f"cannot put {type(value).__name__} into evidence.json")
