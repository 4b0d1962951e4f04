"""Frozen data shared by every layer of tais.

Words (docs/design.md, "Words used in the code"):

- **item**: one prompt of a task, with a stable id.
- **task**: a named set of items with one outcome rule and one scorer.
- **battery**: the tasks of a run.
- **arm**: one decoding configuration (backend, model, draft, engine args, sampling).
- **completion**: what an arm's engine returned for one item (and one replicate).
- **score**: the binary outcome a scorer gave one completion (1 = the behaviour the task wants).

Everything here is a frozen dataclass of plain values so it can be hashed, stored as JSON and compared.
Each class that is stored has ``to_dict`` / ``from_dict`` that round-trip exactly::

    >>> c = Completion(item_id="t/1", text="Hi", token_ids=(1, 2), finish_reason="stop")
    >>> Completion.from_dict(c.to_dict()) == c
    True
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

OutcomeRule = Literal["refusal", "compliance", "multiple_choice"]
"""How a completion becomes y: ``refusal`` (1 when a harmful request is refused), ``compliance`` (1 when a benign
request is answered), ``multiple_choice`` (1 when the chosen letter is the correct one)."""

OUTCOME_RULES: tuple[str, ...] = ("refusal", "compliance", "multiple_choice")


class Role(str, enum.Enum):
    """What an arm is in a screen, and so what its contrast (and the cells of that contrast) is.

    ``reference``: the target-only arm every other arm is compared with (exactly one per screen); ``candidate``: a
    changed decoding stack under screening; ``null``: an A/A arm, the reference run again with another batch
    composition, order or seed, whose contrast measures the stack's own noise floor.

    >>> Role("null") is Role.NULL, Role.CANDIDATE.value
    (True, 'candidate')
    """

    REFERENCE = "reference"
    CANDIDATE = "candidate"
    NULL = "null"

    def __str__(self) -> str:
        return self.value


class Verdict(str, enum.Enum):
    """Decision for one cell or a whole screen, with the process exit code a CI job gates on."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"

    @property
    def exit_code(self) -> int:
        return {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}[self.value]


EXIT_BAD_INPUT = 2
"""Exit code for bad input (config, data file, arguments, unreachable engine)."""


class DivergenceClass(str, enum.Enum):
    """Why a reference/candidate pair first differs (docs/design.md, "The method": first divergence).

    ``near_tie``: the reference's log-probability gap between its own token and the candidate's token is below tau.
    ``leak``: the gap is at least tau, or the candidate's token is absent from the reference's top-k; in
    whole-trajectory forensics (``tais.screen.trajectory``): a token that is not the candidate target's own top-1.
    ``shift``: whole-trajectory forensics only: the candidate's token is its own target's top-1 but the reference's
    gap is large (the candidate's model computes a different distribution: a real change of the model, judged by
    outcome statistics, never a leak by itself).
    ``unexplained``: the reference returned no logprobs at that step.
    """

    NEAR_TIE = "near-tie"
    LEAK = "leak"
    SHIFT = "shift"
    UNEXPLAINED = "unexplained"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds: equivalence ``margin`` on p_C - p_R, test level ``alpha`` (TOST uses a 1 - 2*alpha
    interval; McNemar is Holm-significant below alpha), Cohen's ``h_cutoff``, near-tie threshold ``tau`` (nats) for the
    divergence classes, and the target ``power`` used to say how many more prompts an INCONCLUSIVE cell needs.

    The verdict policy that uses them is :mod:`tais.screen.verdict`; the run plan stores the configured ones.

    >>> Thresholds.from_dict(Thresholds(margin=0.05).to_dict()) == Thresholds(margin=0.05)
    True
    """

    margin: float = 0.03
    alpha: float = 0.05
    h_cutoff: float = 0.1
    tau: float = 0.1
    power: float = 0.8

    def __post_init__(self) -> None:
        checks = {
            "margin": 0.0 < self.margin < 1.0,
            "alpha": 0.0 < self.alpha < 0.5,
            "h_cutoff": self.h_cutoff > 0.0,
            "tau": self.tau > 0.0,
            "power": 0.0 < self.power < 1.0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"threshold {bad[0]} out of range: {getattr(self, bad[0])!r}")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Thresholds:
        """The thresholds named in ``d`` (other keys are ignored; a missing one takes its default)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in d.items() if k in names})


THRESHOLD_KEYS: tuple[str, ...] = ("margin", "alpha", "h_cutoff", "tau", "power")


# --------------------------------------------------------------------------------------------------------------------
# Requests and completions (the Engine interface)


@dataclass(frozen=True, order=True)
class CompletionKey:
    """Where one completion of an arm belongs: the item, the replicate, and the sha256 of the exact request sent
    (:func:`tais.pipeline.fingerprint.request_sha256`). The one key of a completion everywhere: in the store (with
    the arm fingerprint), in the run plan and in the screen, which pairs two arms' completions under the same key."""

    item_id: str
    replicate: int
    request_sha256: str


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


SAMPLERS: tuple[str, ...] = ("inverse-cdf", "gumbel")
"""How a sampling engine turns its noise into a token (:mod:`tais.engines.speculative.noise`): ``inverse-cdf`` (one
uniform per position) or ``gumbel`` (seed-coupled Gumbel-max, one uniform per position and token id)."""


@dataclass(frozen=True)
class SamplingParams:
    """Sampling for one request. ``logprobs`` is the top-k to return per step (0 or None: none).

    ``temperature`` 0 is greedy decoding. At ``temperature`` > 0 the sampling law is the softmax of the logits divided
    by the temperature, then cut to the ``top_k`` most likely tokens (0: no cut), then to the smallest set of most
    likely tokens whose mass reaches ``top_p`` (1: no cut), renormalised: the order of vLLM and transformers.
    ``seed`` keys the engine's counter-based noise (with the item id and replicate: each completion records the row
    seed it used); ``sampler`` is ``inverse-cdf`` or ``gumbel`` (seed-coupled, see ``SAMPLERS``). ``to_dict`` leaves
    out ``top_p``, ``top_k`` and ``sampler`` at their defaults, so greedy fingerprints are unchanged."""

    temperature: float = 0.0
    max_tokens: int = 64
    logprobs: int | None = 5
    stop: tuple[str, ...] = ()
    seed: int | None = None
    top_p: float = 1.0
    top_k: int = 0
    sampler: str = "inverse-cdf"

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0: off), got {self.top_k}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict[str, Any]:
        out = {**asdict(self), "stop": list(self.stop)}
        for key, default in (("top_p", 1.0), ("top_k", 0), ("sampler", "inverse-cdf")):
            if out[key] == default:
                del out[key]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SamplingParams:
        return cls(**{**d, "stop": tuple(d.get("stop", ()))})


@dataclass(frozen=True)
class Request:
    """One generation request: either chat ``messages`` (rendered by the engine through the model's chat template) or
    a raw ``prompt`` string; exactly one of the two is set."""

    item_id: str
    sampling: SamplingParams = field(default_factory=SamplingParams)
    messages: tuple[ChatMessage, ...] | None = None
    prompt: str | None = None
    replicate: int = 0

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("Request needs exactly one of messages or prompt")


@dataclass(frozen=True)
class TopLogprob:
    """One alternative at a decoding step: token text, its id (when known) and its log-probability (nats)."""

    token: str
    logprob: float
    token_id: int | None = None


@dataclass(frozen=True)
class StepLogprobs:
    """The chosen token at one step and the top-k alternatives the engine reported there (most likely first)."""

    token: str
    logprob: float
    token_id: int | None = None
    top: tuple[TopLogprob, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "logprob": self.logprob,
            "token_id": self.token_id,
            "top": [[t.token, t.logprob, t.token_id] for t in self.top],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StepLogprobs:
        return cls(
            token=d["token"],
            logprob=d["logprob"],
            token_id=d.get("token_id"),
            top=tuple(TopLogprob(token=t[0], logprob=t[1], token_id=t[2]) for t in d.get("top", ())),
        )


@dataclass(frozen=True)
class SpecTelemetry:
    """Speculative-decoding counters for one completion (or one arm, summed).

    ``drafted``: draft tokens proposed; ``accepted``: of those, accepted by the target; ``verify_steps``: target
    forward passes; ``accepted_by_position[i]``: accepted tokens at draft position i (0-based)."""

    drafted: int = 0
    accepted: int = 0
    verify_steps: int = 0
    accepted_by_position: tuple[int, ...] = ()

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.drafted if self.drafted else None

    def __sub__(self, before: SpecTelemetry) -> SpecTelemetry:
        """Counters accumulated since ``before`` (for engines that report running totals)."""
        n = max(len(self.accepted_by_position), len(before.accepted_by_position))
        after_pos = self.accepted_by_position + (0,) * (n - len(self.accepted_by_position))
        before_pos = before.accepted_by_position + (0,) * (n - len(before.accepted_by_position))
        return SpecTelemetry(
            drafted=self.drafted - before.drafted,
            accepted=self.accepted - before.accepted,
            verify_steps=self.verify_steps - before.verify_steps,
            accepted_by_position=tuple(a - b for a, b in zip(after_pos, before_pos)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accepted_by_position": list(self.accepted_by_position)}

    def arm_telemetry(self) -> dict[str, Any]:
        """The ``spec_*`` keys an engine reports as arm-level telemetry."""
        return {
            "spec_drafted": self.drafted,
            "spec_accepted": self.accepted,
            "spec_verify_steps": self.verify_steps,
            "spec_accepted_by_position": list(self.accepted_by_position),
            "spec_acceptance_rate": self.acceptance_rate,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpecTelemetry:
        return cls(**{**d, "accepted_by_position": tuple(d.get("accepted_by_position", ()))})


class OriginKind(enum.IntEnum):
    """Where an output token came from, in the terms of vLLM's ``v1/sample/rejection_sampler.py``
    (:mod:`tais.engines.speculative.rejection`): ``TARGET`` sampled (or argmaxed) by the target alone, in no draft round
    (the prefill token, target-only decoding, a round with no proposal); ``ACCEPTED`` a draft token the verifier
    accepted; ``RECOVERED`` the token committed at a round's first rejected slot (drawn from the residual
    ``norm(max(0, q - p))``; at T = 0 the target's argmax there); ``BONUS`` the token after every proposed draft of
    the round was accepted (drawn from the target's law ``q``)."""

    TARGET = 0
    ACCEPTED = 1
    RECOVERED = 2
    BONUS = 3


@dataclass(frozen=True)
class TokenOrigin:
    """One output token's origin: its ``kind`` and its draft ``slot`` in the round (1 .. k for accepted and recovered
    tokens; proposed + 1 for a bonus token, k + 1 when k drafts were proposed; 0 for a target token). Stored as the
    integer ``code`` = 4 * slot + kind.

    >>> TokenOrigin(OriginKind.RECOVERED, 3).code, TokenOrigin.of(14), TokenOrigin.of(0).label
    (14, TokenOrigin(kind=<OriginKind.RECOVERED: 2>, slot=3), 'target')
    >>> [TokenOrigin.of(c).label for c in (5, 10, 19)]
    ['accepted@1', 'recovered@2', 'bonus@4']
    """

    kind: OriginKind
    slot: int = 0

    @property
    def code(self) -> int:
        return 4 * self.slot + int(self.kind)

    @classmethod
    def of(cls, code: int) -> TokenOrigin:
        return cls(OriginKind(code % 4), code // 4)

    @property
    def label(self) -> str:
        name = self.kind.name.lower()
        return name if self.kind is OriginKind.TARGET else f"{name}@{self.slot}"


TARGET_ORIGIN = TokenOrigin(OriginKind.TARGET).code


def round_origins(accepted: int, proposed: int, *, last: bool = True) -> list[int]:
    """The origin codes of one draft round's committed tokens: ``accepted`` drafts at slots 1 .. accepted, then the
    round's last token: recovered at slot accepted + 1 when a proposed draft was rejected, bonus after all
    ``proposed`` (>= 1) were accepted, a target token when nothing was proposed. ``last=False``: the accepted drafts
    only.

    >>> [TokenOrigin.of(c).label for c in round_origins(2, 4)]
    ['accepted@1', 'accepted@2', 'recovered@3']
    >>> [TokenOrigin.of(c).label for c in round_origins(4, 4)], round_origins(0, 0)
    (['accepted@1', 'accepted@2', 'accepted@3', 'accepted@4', 'bonus@5'], [0])
    """
    codes = [TokenOrigin(OriginKind.ACCEPTED, j).code for j in range(1, accepted + 1)]
    if not last:
        return codes
    if proposed == 0:
        return codes + [TARGET_ORIGIN]
    kind = OriginKind.BONUS if accepted >= proposed else OriginKind.RECOVERED
    return codes + [TokenOrigin(kind, accepted + 1).code]


@dataclass(frozen=True)
class Completion:
    """What an engine returned for one request.

    ``token_ids`` and ``logprobs`` are None when the backend does not give them; ``finish_reason`` is ``stop`` (EOS or
    a stop string) or ``length`` (max_tokens reached); ``wall_s`` is the wall time attributed to this completion
    (for a batch, the batch time shared by its rows); ``spec`` is None for non-speculative arms; ``seed`` is the row
    seed a sampling engine keyed its noise with (None for greedy decoding; left out of ``to_dict`` when None);
    ``origins`` (one :class:`TokenOrigin` code per token of ``token_ids``: target, accepted at slot j, recovered at
    slot j, bonus) where the decoder records them (hf's dynamic decoders; None elsewhere, and left out of
    ``to_dict`` when None, so completions without it keep their bytes and sha256)."""

    item_id: str
    text: str
    replicate: int = 0
    token_ids: tuple[int, ...] | None = None
    logprobs: tuple[StepLogprobs, ...] | None = None
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    output_tokens: int = 0
    wall_s: float = 0.0
    spec: SpecTelemetry | None = None
    seed: int | None = None
    origins: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "item_id": self.item_id,
            "replicate": self.replicate,
            "text": self.text,
            "token_ids": None if self.token_ids is None else list(self.token_ids),
            "logprobs": None if self.logprobs is None else [s.to_dict() for s in self.logprobs],
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "wall_s": self.wall_s,
            "spec": None if self.spec is None else self.spec.to_dict(),
        }
        if self.seed is not None:
            out["seed"] = self.seed
        if self.origins is not None:
            out["origins"] = list(self.origins)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Completion:
        return cls(
            item_id=d["item_id"],
            replicate=d.get("replicate", 0),
            text=d["text"],
            token_ids=None if d.get("token_ids") is None else tuple(d["token_ids"]),
            logprobs=None if d.get("logprobs") is None else tuple(StepLogprobs.from_dict(s) for s in d["logprobs"]),
            finish_reason=d.get("finish_reason", "stop"),
            prompt_tokens=d.get("prompt_tokens", 0),
            output_tokens=d.get("output_tokens", 0),
            wall_s=d.get("wall_s", 0.0),
            spec=None if d.get("spec") is None else SpecTelemetry.from_dict(d["spec"]),
            seed=d.get("seed"),
            origins=None if d.get("origins") is None else tuple(int(c) for c in d["origins"]),
        )


# --------------------------------------------------------------------------------------------------------------------
# Teacher-forced scoring (Engine.score_tokens)


@dataclass(frozen=True)
class ScoringRequest:
    """Score ``token_ids`` (a completion's tokens) as the continuation of ``request``'s prompt, teacher-forced: the
    engine feeds the prompt's token ids and these ids, never re-tokenised text, and reports its own distribution at
    every position. ``prompt_token_ids`` overrides the prompt rendering where the caller knows the exact ids;
    ``top_k`` is how many alternatives to report per position."""

    request: Request
    token_ids: tuple[int, ...]
    prompt_token_ids: tuple[int, ...] | None = None
    top_k: int = 20

    @property
    def key(self) -> tuple[str, int]:
        return self.request.item_id, self.request.replicate


@dataclass(frozen=True)
class PositionScore:
    """An engine's own distribution at one forced position (all log-probabilities in nats, raw: before any
    temperature).

    ``logprob``: of the forced token; ``top1_id`` / ``top1_logprob``: the engine's own most likely token there;
    ``top``: the top-k ``(token id, logprob)`` pairs, best first; ``entropy``: of the full distribution (None where
    only a top-k is known); ``exact``: True when the full distribution was seen (top-1 and entropy exact), False
    when the engine reported only a top-k (the tail beyond ``top`` carries ``1 - sum(exp(top))``)."""

    logprob: float
    top1_id: int
    top1_logprob: float
    top: tuple[tuple[int, float], ...] = ()
    entropy: float | None = None
    exact: bool = True

    @property
    def tail_mass(self) -> float:
        """Probability outside ``top`` (what a top-k figure cannot see; the entropy, where known, covers it).

        >>> round(PositionScore(-0.1, 1, -0.1, ((1, -0.1), (2, -2.5)), exact=False).tail_mass, 4)
        0.0131
        """
        import math

        return max(0.0, 1.0 - sum(math.exp(lp) for _, lp in self.top))

    def to_list(self) -> list[Any]:
        return [self.logprob, self.top1_id, self.top1_logprob, [list(t) for t in self.top], self.entropy, self.exact]

    @classmethod
    def from_list(cls, v: Any) -> PositionScore:
        return cls(v[0], v[1], v[2], tuple((int(i), float(lp)) for i, lp in v[3]), v[4], bool(v[5]))


@dataclass(frozen=True)
class TokenScores:
    """One engine's teacher-forced scores of one token sequence: ``positions[i]`` is its distribution at forced
    token ``token_ids[i]`` (given the prompt and ``token_ids[:i]``)."""

    item_id: str
    replicate: int
    token_ids: tuple[int, ...]
    positions: tuple[PositionScore, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "replicate": self.replicate, "token_ids": list(self.token_ids),
                "positions": [p.to_list() for p in self.positions]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TokenScores:
        return cls(d["item_id"], d.get("replicate", 0), tuple(d["token_ids"]),
                   tuple(PositionScore.from_list(p) for p in d["positions"]))


# --------------------------------------------------------------------------------------------------------------------
# Battery: items and tasks


@dataclass(frozen=True)
class Item:
    """One prompt of a task.

    ``id`` is stable across runs (``TASK/KEY``); ``prompt`` is the user turn; ``choices`` and ``answer`` (a letter)
    are set for multiple-choice items; ``meta`` holds anything else the loader kept (category, source row)."""

    id: str
    prompt: str
    choices: tuple[str, ...] = ()
    answer: str | None = None
    meta: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prompt": self.prompt,
            "choices": list(self.choices),
            "answer": self.answer,
            "meta": [list(kv) for kv in self.meta],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Item:
        return cls(
            id=d["id"],
            prompt=d["prompt"],
            choices=tuple(d.get("choices", ())),
            answer=d.get("answer"),
            meta=tuple(tuple(kv) for kv in d.get("meta", ())),
        )


@dataclass(frozen=True)
class Task:
    """A named set of items with one outcome rule.

    ``scorer`` names the scorer that sets the outcome (e.g. ``refusal-rules``, ``multiple-choice``); ``source`` is the
    source string it was loaded from; ``sha256`` pins its content (see ``tais.battery``)."""

    name: str
    items: tuple[Item, ...]
    outcome: OutcomeRule
    scorer: str
    system_prompt: str | None = None
    source: str = ""
    sha256: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOME_RULES:
            raise ValueError(f"task {self.name!r}: outcome must be one of {OUTCOME_RULES}, got {self.outcome!r}")


@dataclass(frozen=True)
class Battery:
    tasks: tuple[Task, ...]

    def task(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)


# --------------------------------------------------------------------------------------------------------------------
# Scores


@dataclass(frozen=True)
class Score:
    """A scorer's decision on one completion.

    ``outcome`` is 1 / 0 (the behaviour the task wants, or not) or None when the scorer could not decide (an
    unparseable judge answer, an unreadable multiple-choice letter); ``label`` is the scorer's own word (``refusal``,
    ``compliance``, ``B``, ``unsafe:S2``, ``unparseable``); ``scorer`` is ``NAME@VERSION``."""

    item_id: str
    outcome: int | None
    label: str
    scorer: str
    replicate: int = 0
    detail: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "detail": [list(kv) for kv in self.detail]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Score:
        return cls(**{**d, "detail": tuple(tuple(kv) for kv in d.get("detail", ()))})


# --------------------------------------------------------------------------------------------------------------------
# Arms

@dataclass(frozen=True)
class ArmSpec:
    """One decoding configuration.

    ``backend`` picks the engine (``hf``, ``vllm``, ``vllm-server``, ``openai``, ``mock``); ``model`` and ``draft`` are
    source strings; ``speculative`` holds the speculative config (proposer, k, acceptance rule, ...) or is empty for
    target-only decoding; ``options`` holds backend-specific settings (batch size, base URL, engine args ...).
    ``role`` is a :class:`Role` (a plain string is accepted and converted)."""

    name: str
    backend: str
    model: str
    role: Role = Role.CANDIDATE
    dtype: str = "float32"
    device: str = "cpu"
    draft: str | None = None
    speculative: Mapping[str, Any] = field(default_factory=dict)
    sampling: SamplingParams = field(default_factory=SamplingParams)
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": self.backend,
            "model": self.model,
            "role": self.role.value,
            "dtype": self.dtype,
            "device": self.device,
            "draft": self.draft,
            "speculative": dict(self.speculative),
            "sampling": self.sampling.to_dict(),
            "options": dict(self.options),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArmSpec:
        return cls(**{**d, "sampling": SamplingParams.from_dict(d.get("sampling", {}))})
