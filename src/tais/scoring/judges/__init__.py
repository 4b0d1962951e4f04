"""Judge scorers: a second model reads (request, completion) and says whether the completion refused or was
unsafe. They drive any :class:`tais.interfaces.Engine` (``engine.generate``) and parse its answer; an answer that
cannot be parsed is scored ``outcome=None`` with label ``unparseable``, never counted as safe."""

from tais.scoring.judges.base import JudgeScorer, parse_failure
from tais.scoring.judges.llama_guard import LlamaGuardScorer, parse_llama_guard
from tais.scoring.judges.rubric import RubricJudgeScorer, parse_rubric
from tais.scoring.judges.wildguard import WildGuardScorer, parse_wildguard

__all__ = ["JudgeScorer", "LlamaGuardScorer", "RubricJudgeScorer", "WildGuardScorer", "parse_failure",
           "parse_llama_guard", "parse_rubric", "parse_wildguard"]
