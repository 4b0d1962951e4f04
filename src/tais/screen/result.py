"""What a screen found: frozen records that the report layer renders and the pipeline stores.

Words:

- **role**: a :class:`~tais.types.Role`, the same word on arms, cells, divergences and speeds: a cell or divergence
  has the role of its contrast's arm (``candidate``, or ``null`` for an A/A arm: the reference run again with another
  batch composition, order or seed).
- **contrast**: one comparison of an arm against the reference, named ``"<arm> vs <reference>"``.
- **cell**: one (contrast, task) pair, with its 2x2 table of paired outcomes ``(a, b, c, d)``: a = both 1, b =
  reference 1 and candidate 0, c = reference 0 and candidate 1, d = both 0 (1 = the behaviour the task wants).
- **undecided**: a pair where either score has ``outcome=None``; it is left out of the table but counted.
- **null_h**: the largest |Cohen's h| among the null contrasts on the same task: the stack's own noise floor, shown
  beside each candidate cell (None when the screen has no null arm).

Everything is plain data (numbers, strings, enums, tuples, dicts of those) so that ``tais.report`` can render it and
``evidence.json`` is byte-identical for identical inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tais.screen.sampled import SampledScreen
from tais.types import DivergenceClass, Role, Thresholds, TokenOrigin, Verdict

if TYPE_CHECKING:
    from tais.screen.token_cells import TokenEvidence


def contrast_name(arm: str, reference: str) -> str:
    """Name of the contrast of ``arm`` against ``reference``, e.g. ``contrast_name("spec", "ref") == "spec vs ref"``."""
    return f"{arm} vs {reference}"


@dataclass(frozen=True)
class ArmInfo:
    """One arm as the screen sees it.

    ``role`` is reference / candidate / null (a plain string is converted); ``fingerprint`` the hash of everything that
    can change its outputs; ``spec`` the arm's full spec (``ArmSpec.to_dict()``); ``generation_wall_s`` the wall time
    the arm spent generating the battery; ``telemetry`` engine-level extras, e.g. ``{"drafted": 900, "accepted": 610}``
    read from vLLM's /metrics (used for the acceptance rate when completions carry no per-completion counters)."""

    name: str
    role: Role
    fingerprint: str
    spec: Mapping[str, Any]
    generation_wall_s: float
    telemetry: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))


@dataclass(frozen=True)
class CellResult:
    """Statistics and verdict of one (contrast, task) cell.

    ``identical_text``: pairs whose output text bytes are equal; ``identical_tokens``: pairs whose token ids are equal,
    counted over the pairs where both sides gave ids (None when no pair had ids on both sides); ``divergences``: first
    divergences by :class:`~tais.types.DivergenceClass` (``near-tie`` / ``leak`` / ``unexplained``). ``n`` counts
    decided pairs (``a+b+c+d``); ``n + undecided`` is every pair. ``role``: the role of the contrast's arm (candidate
    or null). ``ci_low``/``ci_high`` is the Tango interval of ``diff`` at 1 - 2 alpha;
    ``mcnemar_p_holm`` is Holm-adjusted across the cells of the same role; ``wilson_*`` are 95% Wilson intervals of the
    two marginal rates; ``n_more`` is how many more prompts would decide an INCONCLUSIVE cell."""

    contrast: str
    candidate: str
    reference: str
    task: str
    role: Role
    n: int
    undecided: int
    identical_text: int
    identical_tokens: int | None
    divergences: Mapping[DivergenceClass, int]
    a: int
    b: int
    c: int
    d: int
    p_reference: float | None
    p_candidate: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    tost_p: float | None
    equivalent: bool
    mcnemar_p: float | None
    mcnemar_p_holm: float | None
    cohens_h: float | None
    null_h: float | None
    wilson_reference: tuple[float, float] | None
    wilson_candidate: tuple[float, float] | None
    verdict: Verdict
    reasons: tuple[str, ...]
    n_more: int | None
    token_pairs: int = 0

    @property
    def pairs(self) -> int:
        """Every pair of the cell, decided or not."""
        return self.n + self.undecided


@dataclass(frozen=True)
class Divergence:
    """The first divergence of one non-identical pair.

    ``position`` is the first differing token index (or character offset when ``basis == "text"``); ``gap`` the
    reference's log-probability of its own token minus that of the candidate's token at that step (nats; None when
    not known); ``reference_top`` the reference's top-k ``(token, logprob)`` at that step; ``prefix_text`` the common
    text before the divergence and ``reference_text`` / ``candidate_text`` each side's text from there on;
    ``candidate_origin`` where the candidate's token at the divergence came from (accepted draft at slot j, recovered,
    bonus, target: :class:`~tais.types.TokenOrigin`) when its decoder records origins, else None."""

    contrast: str
    task: str
    item_id: str
    replicate: int
    position: int
    cls: DivergenceClass
    gap: float | None
    reference_token: str | None
    candidate_token: str | None
    reference_top: tuple[tuple[str, float], ...]
    prefix_text: str
    reference_text: str
    candidate_text: str
    outcome_reference: int | None
    outcome_candidate: int | None
    basis: str = "tokens"
    role: Role = Role.CANDIDATE
    candidate_origin: TokenOrigin | None = None


@dataclass(frozen=True)
class ArmSpeed:
    """Throughput of one arm: ``tokens_per_s`` = output tokens / generation wall time; ``acceptance`` = accepted /
    drafted speculative tokens (None for a target-only arm); ``speedup`` = tokens/s over the reference's tokens/s;
    ``acceptance_by_task`` the acceptance rate per task where completions carry speculative counters."""

    arm: str
    output_tokens: int
    wall_s: float
    tokens_per_s: float | None
    acceptance: float | None
    speedup: float | None
    role: Role = Role.CANDIDATE
    acceptance_by_task: Mapping[str, float] = field(default_factory=dict)
    null_speedup: float | None = None
    """on a candidate row: the null (A/A) arm's speedup, the noise floor of speed (the stack against itself); the
    one farthest from 1 when there are several null arms; None without a null arm"""


@dataclass(frozen=True)
class PooledOdds:
    """Mantel-Haenszel pooled paired odds ratio of one contrast across its tasks (Haldane-corrected ``(sum b + 0.5) /
    (sum c + 0.5)``: above 1, the candidate loses the wanted behaviour more often than it gains it)."""

    contrast: str
    odds_ratio: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class SweepPoint:
    """One arm of a sweep: its name, the template it was expanded from and its grid settings ``((key, value), ...)``
    in grid order, e.g. ``("spec-k4-bfloat16", "spec", (("speculative.k", 4), ("dtype", "bfloat16")))``."""

    arm: str
    template: str
    point: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class CellRobustness:
    """One cell's verdict under a second scorer (:mod:`tais.screen.robustness`): the pairs that were re-scored, the
    discordant counts ``(b, c)`` under each scorer, both verdicts and whether the verdict flips."""

    contrast: str
    task: str
    scorer: str
    alt_scorer: str
    rescored: int
    b: int
    c: int
    b_alt: int
    c_alt: int
    undecided_alt: int
    verdict: str
    verdict_alt: str

    @property
    def flips(self) -> bool:
        return self.verdict != self.verdict_alt


@dataclass(frozen=True)
class ScreenResult:
    """Everything one screen decided. ``cells`` holds candidate cells first, then null cells, each in (contrast,
    task) order; ``pooled`` maps a contrast name to its :class:`PooledOdds`; ``thresholds`` are the
    :class:`~tais.types.Thresholds` used; ``manifest`` (hashes of config, tasks, arms, completions) and ``meta``
    (tool version, times) come from the caller unchanged."""

    verdict: Verdict
    cells: tuple[CellResult, ...]
    divergences: tuple[Divergence, ...]
    arms: tuple[ArmInfo, ...]
    speed: tuple[ArmSpeed, ...]
    thresholds: Thresholds
    pooled: Mapping[str, PooledOdds]
    manifest: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    near_tie_tau: float | None = None
    """the near-tie threshold the divergences were classed with: tau widened by the reference dtype's logit rounding
    (:mod:`tais.screen.precision`); None means ``thresholds.tau``"""
    robustness: tuple[CellRobustness, ...] = ()
    """each checked cell's verdict under a second scorer (:mod:`tais.screen.robustness`); empty when not checked"""
    sweep: tuple[SweepPoint, ...] = ()
    """the arms a config's ``sweep:`` expanded, each with its grid point (empty without a sweep)"""
    cluster: Mapping[str, Any] = field(default_factory=dict)
    """where arms ran on a Ray cluster: ``{"arms": {arm: [placement...]}, "resources": {...}}`` (empty when local)"""
    divergences_total: int | None = None
    """how many first divergences the screen found when ``divergences`` holds only the first of them (the streaming
    analysis keeps a bounded number in memory and writes every one to ``evidence.json``); None: ``divergences`` is
    every one"""

    token_evidence: TokenEvidence | None = None
    """teacher-forced token evidence per cell (:mod:`tais.screen.token_cells`); None when the run has none"""
    sampled: SampledScreen | None = None
    """the temperature > 0 section (:mod:`tais.screen.sampled`): token-level and outcome-level figures per contrast;
    None for a greedy screen"""

    @property
    def divergence_count(self) -> int:
        """Every first divergence found, held in ``divergences`` or not."""
        return len(self.divergences) if self.divergences_total is None else self.divergences_total

    @property
    def candidate_cells(self) -> tuple[CellResult, ...]:
        return tuple(c for c in self.cells if c.role is Role.CANDIDATE)

    @property
    def null_cells(self) -> tuple[CellResult, ...]:
        return tuple(c for c in self.cells if c.role is Role.NULL)

    @property
    def contrasts(self) -> tuple[str, ...]:
        """Contrast names in report order (candidates first), without repeats."""
        return tuple(dict.fromkeys(c.contrast for c in self.cells))
