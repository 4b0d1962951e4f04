"""The ``speculative`` block of an ``hf`` arm, validated.

Keys (``interfaces.md``, "HF arm spec")::

    proposer: draft | quantized | ngram | self   # draft needs the arm's draft model
    k: 4                                         # tokens proposed per verify step, >= 1
    acceptance: strict | typical
    typical: {epsilon: 0.3, delta: 0.09}         # for acceptance: typical
    ngram: {min_n: 1, max_n: 3}                  # for proposer: ngram
    adversarial: {system_prompt: "...", logit_bias: {"<token text>": -5.0}, bias_against_refusal: 8.0}
    planted_bug: resample_from_target | top_p_draft_only | double_temperature | top_k_off_by_one
                                                 # a deliberately wrong rule at T > 0 (planted.py), for controls

An empty block means target-only decoding. Every problem raises :class:`~tais.errors.ConfigError` naming the key::

    >>> SpeculativeConfig.parse({"proposer": "ngram", "k": 3}).ngram_max_n
    3
    >>> SpeculativeConfig.parse({"proposer": "self", "k": 0})
    Traceback (most recent call last):
    ...
    tais.errors.ConfigError: speculative.k: must be an integer >= 1, got 0
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from tais.engines.speculative.planted import PLANTED_BUGS, PlantedBug
from tais.errors import ConfigError

PROPOSERS = ("draft", "quantized", "ngram", "self")
ACCEPTANCE_RULES = ("strict", "typical")
_KEYS = {"proposer", "k", "acceptance", "typical", "ngram", "adversarial", "planted_bug"}


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
    def parse(cls, block: Mapping[str, Any] | None, *, key: str = "speculative") -> "SpeculativeConfig | None":
        """The validated config, or None for an empty block (target-only decoding)."""
        if not block:
            return None
        if not isinstance(block, Mapping):
            raise ConfigError("must be a mapping", key=key)
        unknown = sorted(set(block) - _KEYS)
        if unknown:
            raise ConfigError(f"unknown key {unknown[0]!r}; known: {', '.join(sorted(_KEYS))}", key=key)
        proposer = block.get("proposer")
        if proposer not in PROPOSERS:
            raise ConfigError(f"must be one of {', '.join(PROPOSERS)}, got {proposer!r}", key=f"{key}.proposer")
        k = block.get("k", 4)
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"must be an integer >= 1, got {k!r}", key=f"{key}.k")
        acceptance = block.get("acceptance", "strict")
        if acceptance not in ACCEPTANCE_RULES:
            raise ConfigError(f"must be one of {', '.join(ACCEPTANCE_RULES)}, got {acceptance!r}",
                              key=f"{key}.acceptance")
        typical = _mapping(block.get("typical", {}), f"{key}.typical", {"epsilon", "delta"})
        epsilon = _number(typical.get("epsilon", 0.3), f"{key}.typical.epsilon", low=0.0, high=1.0)
        delta = _number(typical.get("delta", 0.09), f"{key}.typical.delta", low=0.0, high=1.0)
        ngram = _mapping(block.get("ngram", {}), f"{key}.ngram", {"min_n", "max_n"})
        min_n, max_n = ngram.get("min_n", 1), ngram.get("max_n", 3)
        for name, value in (("min_n", min_n), ("max_n", max_n)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"must be an integer >= 1, got {value!r}", key=f"{key}.ngram.{name}")
        if min_n > max_n:
            raise ConfigError(f"min_n {min_n} is above max_n {max_n}", key=f"{key}.ngram")
        adversarial = _adversarial(block.get("adversarial", {}), f"{key}.adversarial")
        if adversarial.active and proposer not in ("draft", "quantized", "self"):
            raise ConfigError("needs a model proposer (draft, quantized or self)", key=f"{key}.adversarial")
        bug = block.get("planted_bug")
        if bug is not None and bug not in PLANTED_BUGS:
            raise ConfigError(f"must be one of {', '.join(PLANTED_BUGS)}, got {bug!r}", key=f"{key}.planted_bug")
        return cls(proposer, k, acceptance, epsilon, delta, min_n, max_n, adversarial,
                   None if bug is None else PlantedBug(bug))

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


def _mapping(value: Any, key: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError("must be a mapping", key=key)
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}; known: {', '.join(sorted(allowed))}", key=key)
    return value


def _number(value: Any, key: str, *, low: float | None = None, high: float | None = None) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ConfigError(f"must be a number, got {value!r}", key=key)
    if (low is not None and value <= low) or (high is not None and value > high):
        raise ConfigError(f"must be in ({low}, {high}], got {value!r}", key=key)
    return float(value)


def _adversarial(value: Any, key: str) -> AdversarialDraft:
    block = _mapping(value, key, {"system_prompt", "logit_bias", "bias_against_refusal"})
    system_prompt = block.get("system_prompt")
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise ConfigError("must be a string", key=f"{key}.system_prompt")
    bias = _mapping(block.get("logit_bias", {}), f"{key}.logit_bias", set(block.get("logit_bias", {}) or {}))
    pairs = tuple((str(t), _number(v, f"{key}.logit_bias.{t}")) for t, v in bias.items())
    against = _number(block.get("bias_against_refusal", 0.0), f"{key}.bias_against_refusal", low=None)
    if against < 0:
        raise ConfigError(f"must be >= 0, got {against}", key=f"{key}.bias_against_refusal")
    return AdversarialDraft(system_prompt, pairs, against)
