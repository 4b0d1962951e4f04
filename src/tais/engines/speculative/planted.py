"""Planted bugs: deliberately wrong speculative-sampling rules, the positive controls of a temperature > 0 screen.

Each is selected in an arm's speculative block (``speculative: {planted_bug: NAME}``) and is WRONG ON PURPOSE: a
screen must tell the arm apart from the reference, or it has no power against that kind of bug. None of them changes
anything at temperature 0 except ``top_k_off_by_one`` where the arm sets ``top_k`` (and then only its truncation).

- ``resample_from_target``: on rejection the recovered token is drawn from the target's law ``q`` instead of the
  residual ``norm(max(0, q - p))``; the output over-weights the draft's tokens (law ``min(p, q) + (1 - sum min(p,
  q)) q`` instead of ``q``).
- ``top_p_draft_only``: top-p truncation is applied to the draft's law only; the target's law is not cut, so the
  output follows the un-truncated target (tokens outside the top-p set appear).
- ``double_temperature``: the logits are divided by the temperature twice (target and draft), so the output follows
  the law at temperature ``T**2`` (sharper for T < 1); no effect at T = 1.
- ``top_k_off_by_one``: top-k keeps ``k + 1`` tokens (target and draft).
"""

from __future__ import annotations

import enum


class PlantedBug(str, enum.Enum):
    RESAMPLE_FROM_TARGET = "resample_from_target"
    TOP_P_DRAFT_ONLY = "top_p_draft_only"
    DOUBLE_TEMPERATURE = "double_temperature"
    TOP_K_OFF_BY_ONE = "top_k_off_by_one"


PLANTED_BUGS: tuple[str, ...] = tuple(b.value for b in PlantedBug)
