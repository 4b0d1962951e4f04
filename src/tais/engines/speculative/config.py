"""The ``speculative`` block of an ``hf`` arm, validated.

Keys (docs/config.md, "`hf`: embedded PyTorch / transformers")::

    proposer: draft | quantized | ngram | self   # draft needs the arm's draft model
    k: 4                                         # tokens proposed per verify step, >= 1
    acceptance: strict | typical
    typical: {epsilon: 0.3, delta: 0.09}         # for acceptance: typical
    ngram: {min_n: 1, max_n: 3}                  # for proposer: ngram
    adversarial: {system_prompt: "...", logit_bias: {"<token text>": -5.0}, bias_against_refusal: 8.0}
    planted_bug: resample_from_target | top_p_draft_only | double_temperature | top_k_off_by_one
                                                 # a deliberately wrong rule at T > 0 (planted.py), for controls

An empty block means target-only decoding. The block is validated by :class:`SpeculativeModel` (the screen config
validates it with the same model when it loads), and every problem raises :class:`~tais.errors.ConfigError` naming
the key::

    >>> SpeculativeConfig.parse({"proposer": "ngram", "k": 3}).ngram_max_n
    3
    >>> SpeculativeConfig.parse({"proposer": "self", "k": 0})
    Traceback (most recent call last):
    ...
    tais.errors.ConfigError: speculative.k: Input should be greater than or equal to 1 (got 0)
    >>> SpeculativeConfig.parse({"proposer": "ngram", "ngram": {"min_n": 3, "max_n": 2}})
    Traceback (most recent call last):
    ...
    tais.errors.ConfigError: speculative.ngram: min_n 3 is above max_n 2
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from tais.engines.speculative.planted import PlantedBug
from tais.schema import StrictModel, parse

PROPOSERS = ("draft", "quantized", "ngram", "self")
ACCEPTANCE_RULES = ("strict", "typical")
MODEL_PROPOSERS = ("draft", "quantized", "self")


class TypicalModel(StrictModel):
    epsilon: float = Field(0.3, gt=0.0, le=1.0)
    delta: float = Field(0.09, gt=0.0, le=1.0)


class NgramModel(StrictModel):
    min_n: int = Field(1, ge=1)
    max_n: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> NgramModel:
        if self.min_n > self.max_n:
            raise ValueError(f"min_n {self.min_n} is above max_n {self.max_n}")
        return self


class AdversarialModel(StrictModel):
    system_prompt: str | None = None
    logit_bias: dict[str, float] = Field(default_factory=dict)
    bias_against_refusal: float = Field(0.0, ge=0.0)

    @property
    def active(self) -> bool:
        return self.system_prompt is not None or bool(self.logit_bias) or self.bias_against_refusal != 0.0


class SpeculativeModel(StrictModel):
    """The ``speculative`` block of an ``hf`` arm as written in the config."""

    proposer: Literal["draft", "quantized", "ngram", "self"]
    k: int = Field(4, ge=1)
    acceptance: Literal["strict", "typical"] = "strict"
    typical: TypicalModel = Field(default_factory=TypicalModel)
    ngram: NgramModel = Field(default_factory=NgramModel)
    adversarial: AdversarialModel = Field(default_factory=AdversarialModel)
    #: a deliberately wrong sampling rule, for positive controls (:mod:`tais.engines.speculative.planted`)
    planted_bug: Literal["resample_from_target", "top_p_draft_only", "double_temperature",
                         "top_k_off_by_one"] | None = None

    @field_validator("adversarial")
    @classmethod
    def _adversarial_needs_a_model(cls, value: AdversarialModel, info: ValidationInfo) -> AdversarialModel:
        proposer = info.data.get("proposer")
        if value.active and proposer is not None and proposer not in MODEL_PROPOSERS:
            raise ValueError(f"needs a model proposer ({', '.join(MODEL_PROPOSERS)}), not {proposer!r}")
        return value


@dataclass(frozen=True)
class AdversarialDraft:
    """What the draft sees differently from the target: another ``system_prompt``, a ``logit_bias`` added to the
    draft's logits for the tokens of each text, and ``bias_against_refusal``, subtracted from the draft's logits of
    the tokens that open a refusal (see :mod:`tais.engines.hf.adversarial`)."""

    system_prompt: str | None = None
    logit_bias: tuple[tuple[str, float], ...] = ()
    bias_against_refusal: float = 0.0

    @property
    def active(self) -> bool:
        return self.system_prompt is not None or bool(self.logit_bias) or self.bias_against_refusal != 0.0


@dataclass(frozen=True)
class SpeculativeConfig:
    proposer: str
    k: int = 4
    acceptance: str = "strict"
    typical_epsilon: float = 0.3
    typical_delta: float = 0.09
    ngram_min_n: int = 1
    ngram_max_n: int = 3
    adversarial: AdversarialDraft = field(default_factory=AdversarialDraft)
    planted_bug: PlantedBug | None = None

    @classmethod
    def parse(cls, block: Mapping[str, Any] | None, *, key: str = "speculative") -> SpeculativeConfig | None:
        """The validated config, or None for an empty block (target-only decoding)."""
        if not block:
            return None
        return cls.from_model(parse(SpeculativeModel, block, key=key))

    @classmethod
    def from_model(cls, m: SpeculativeModel) -> SpeculativeConfig:
        adversarial = AdversarialDraft(m.adversarial.system_prompt, tuple(m.adversarial.logit_bias.items()),
                                       m.adversarial.bias_against_refusal)
        return cls(m.proposer, m.k, m.acceptance, m.typical.epsilon, m.typical.delta, m.ngram.min_n, m.ngram.max_n,
                   adversarial, None if m.planted_bug is None else PlantedBug(m.planted_bug))

    def describe(self) -> dict[str, Any]:
        """The settings that change outputs, as plain JSON values."""
        out: dict[str, Any] = {"proposer": self.proposer, "k": self.k, "acceptance": self.acceptance}
        if self.acceptance == "typical":
            out["typical"] = {"epsilon": self.typical_epsilon, "delta": self.typical_delta}
        if self.proposer == "ngram":
            out["ngram"] = {"min_n": self.ngram_min_n, "max_n": self.ngram_max_n}
        if self.adversarial.active:
            adv = asdict(self.adversarial)
            adv["logit_bias"] = dict(self.adversarial.logit_bias)
            out["adversarial"] = adv
        if self.planted_bug is not None:
            out["planted_bug"] = self.planted_bug.value
        return out

