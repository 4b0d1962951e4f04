"""Scorers: rule-based refusal, multiple-choice letter extraction, and judge scorers that drive an Engine.

Public surface: :func:`get_scorer` (by name), :data:`SCORER_NAMES`, :func:`is_refusal` (the rules),
:func:`strmatch_is_refusal` (the XSTest baseline), :func:`chosen_letter`, and the agreement metrics in
:mod:`tais.scoring.metrics`.
"""

from tais.scoring.multiple_choice import chosen_letter
from tais.scoring.refusal import is_refusal
from tais.scoring.registry import SCORER_NAMES, get_scorer
from tais.scoring.xstest_baseline import strmatch_is_refusal

__all__ = ["SCORER_NAMES", "chosen_letter", "get_scorer", "is_refusal", "strmatch_is_refusal"]
