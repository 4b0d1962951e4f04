"""``evidence.json``: the machine-readable record of a screen, schema-versioned and deterministic.

Top-level keys (schema ``tais.evidence/1``):

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
- ``robustness`` (present when a second scorer checked a cell): per checked cell, its verdict under a second scorer (:mod:`tais.screen.robustness`):
  ``contrast``, ``task``, ``scorer``, ``alt_scorer``, ``rescored`` (pairs re-scored), ``b``/``c`` and
  ``b_alt``/``c_alt``, ``undecided_alt``, ``verdict``, ``verdict_alt``, ``flips``;
- ``sampled`` (present only for a temperature > 0 screen, :mod:`tais.screen.sampled`): the reference's law
  (``temperature``, ``top_p``, ``top_k``), ``theta_margin``, ``tau_p``, ``tau_logit``, ``exact_laws``, ``verdict``
  and per ``contrasts`` entry: ``arm``, ``reference``, ``role``, ``tokens`` (theta with its interval and TOST, the
  surprisal / top-1 Z, PIT A2 and histogram, Holm p-values, hard and soft leaks), ``outcomes`` (per task the per-prompt
  rate difference with its interval, TOST, p-value, Cohen's h), ``verdict``, ``reasons``, ``tokens_needed``,
  ``prompts_needed``;
- ``manifest`` and ``meta``: passed through from the caller.

Deterministic: :func:`evidence_json` sorts keys, writes floats with Python's shortest round-trip repr and turns
non-finite numbers into null, so identical results give identical bytes.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import fields, is_dataclass
from typing import Any

from tais.screen.result import Divergence, ScreenResult

SCHEMA = "tais.evidence/1"


def evidence_dict(result: ScreenResult) -> dict[str, Any]:
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
        "schema": SCHEMA,
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
    } | ({"robustness": [{**_plain(r), "flips": r.flips} for r in result.robustness]} if result.robustness else {}) \
      | ({"sampled": _sampled(result)} if result.sampled is not None else {})
    return _plain(data)


def _sampled(result: ScreenResult) -> dict[str, Any]:
    """The T > 0 section: its fields, each outcome with ``significant``, each token level with its soft-leak rate."""
    plain = _plain(result.sampled)
    assert result.sampled is not None
    for c, pc in zip(result.sampled.contrasts, plain["contrasts"]):
        pc["tokens"]["soft_leak_rate"] = c.tokens.soft_leak_rate
        for o, po in zip(c.outcomes, pc["outcomes"]):
            po["significant"] = o.significant
    return plain


def _divergence(d: Divergence) -> dict[str, Any]:
    """A divergence as evidence: its fields, with its role under the key ``kind`` (the word of schema 1)."""
    plain = _plain(d)
    plain["kind"] = plain.pop("role")
    return plain


def evidence_json(result: ScreenResult) -> str:
    """``evidence_dict(result)`` serialised: sorted keys, two-space indent, UTF-8 text, trailing newline."""
    return json.dumps(evidence_dict(result), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _plain(value: Any) -> Any:
    """JSON-ready copy: dataclasses to dicts, enums to values, tuples to lists, non-finite floats to None."""
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
