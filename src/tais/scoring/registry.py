"""``get_scorer(name, judge_engine=None)``: the scorer a task names.

=====================  ==============================================================  ================
name                   what it is                                                       needs an engine
=====================  ==============================================================  ================
``refusal-hybrid``     rules + calibrated learned model, undecided band (default)       no
``refusal-rules``      rule-based refusal detection (:mod:`tais.scoring.refusal`)       no
``xstest-strmatch``    the XSTest paper's 21-prefix baseline                            no
``multiple-choice``    chosen-letter extraction (:mod:`tais.scoring.multiple_choice`)   no
``llama-guard``        Llama Guard 3/4 safe / unsafe judge                              yes
``wildguard``          WildGuard refusal judge                                          yes
``rubric-judge``       a generic instruction-following judge with a rubric              yes
=====================  ==============================================================  ================

    >>> get_scorer("refusal-rules").name
    'refusal-rules'
    >>> get_scorer("llama-guard")
    Traceback (most recent call last):
    ...
    tais.errors.ConfigError: scorer llama-guard needs a judge engine (set scorer_engine in the config)
"""

from __future__ import annotations

from tais.errors import ConfigError
from tais.interfaces import Engine, Scorer

RULE_SCORERS = ("refusal-hybrid", "refusal-rules", "xstest-strmatch", "multiple-choice")
JUDGE_SCORERS = ("llama-guard", "wildguard", "rubric-judge")
SCORER_NAMES = RULE_SCORERS + JUDGE_SCORERS


def get_scorer(name: str, *, judge_engine: Engine | None = None) -> Scorer:
    """A scorer by name; judge scorers drive ``judge_engine``."""
    if name == "refusal-hybrid":
        from tais.scoring.hybrid import HybridRefusalScorer

        return HybridRefusalScorer()
    if name == "refusal-rules":
        from tais.scoring.refusal import RefusalRulesScorer

        return RefusalRulesScorer()
    if name == "xstest-strmatch":
        from tais.scoring.xstest_baseline import XSTestStringMatchScorer

        return XSTestStringMatchScorer()
    if name == "multiple-choice":
        from tais.scoring.multiple_choice import MultipleChoiceScorer

        return MultipleChoiceScorer()
    if name in JUDGE_SCORERS:
        if judge_engine is None:
            raise ConfigError(f"scorer {name} needs a judge engine (set scorer_engine in the config)")
        from tais.scoring import judges

        cls = {"llama-guard": judges.LlamaGuardScorer, "wildguard": judges.WildGuardScorer,
               "rubric-judge": judges.RubricJudgeScorer}[name]
        return cls(judge_engine)
    raise ConfigError(f"unknown scorer {name!r}; known: {', '.join(SCORER_NAMES)}", key="scorer")
