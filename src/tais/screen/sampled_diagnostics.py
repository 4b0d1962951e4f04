"""Diagnostics of a temperature > 0 contrast, beside its verdict (they do not enter it): the surprisal test and theta
per stratum of positions, and two signs of a sampler reusing its random numbers.

- **strata** (:mod:`tais.stats.strata`): theta (one Newton step) and its Z on the positions of each entropy bin of
  the reference's law ([0, 0.5), [0.5, 1.5), [1.5, 3), >= 3 nats) and of each output-position bin (0-7, 8-31,
  32-127, 128+), with Holm-adjusted p-values over the eight. Each is a predictable selection, so each Z is N(0, 1)
  under H0; a located error (flat laws only, late positions only) shows in its stratum. Where the arm's decoder
  records each token's origin (:class:`tais.types.TokenOrigin`, hf's speculative decoders), also per origin stratum:
  target-only tokens, the tokens at draft slot 1 .. k of their round (accepted or recovered there) and bonus tokens
  (:func:`tais.stats.strata.origin_strata`; each row counts its accepted tokens) and, where the draft log-ratio is
  measured, its Z and one-step lambda on the same strata (``origin-draft``) and both scores split by the round's
  outcome (``outcome`` / ``outcome-draft``: accepted at slot j, recovered; :mod:`tais.stats.outcome_split`, each
  part centred on its own law under the lossless rule), Holm over every row. A slot is a
  predictable selection; "accepted" or "recovered" alone is not (a lossless sampler's accepted tokens follow
  ``min(p, q)``, its recovered ones the residual, so their surprisal is not centred under ``q``): a rule wrong only
  at the residual (``resample_from_target``) shows in the slot strata, never in the bonus or target-only ones.
- **RNG reuse** (:mod:`tais.stats.rng_reuse`): the lag-1 autocorrelation of the randomised PIT within completions
  (null se ``1/sqrt(pairs)``), and the rate of token-identical replicate pairs of one prompt for the arm, the rate
  the reference's laws expect for it under H0, and the reference arm's own rate (it samples too).

Why not gates: the PIT is a diagnostic in the method (the verdict's battery already holds its Anderson-Darling
test), the strata re-test the same tokens as the pooled surprisal test (a gate on eight more tests would need its own
multiplicity budget), and the expected duplicate rate is an estimate, not a test with a known null law.

:func:`sampled_diagnostics` computes the record from what the T > 0 phase already has: the laws, tokens and prompts of
an arm laid out completion after completion (:func:`completion_lengths` gives the layout of
:func:`tais.pipeline.sampled.arm_laws`; with laws listed by a non-hf reference, a token the reference did not list is
left out, ``kept``, and breaks the lag-1 pairs around it), and both arms' replicates (:func:`replicate_groups`);
:func:`arm_diagnostics` takes both arms' completions. The expected duplicate rate needs exact laws (hf reference).

Worked example: two completions of one prompt under the law (0.5, 0.5), both emitting (0, 1): identical (1 pair of 1),
each of probability 0.25, the rate H0 expects::

    >>> laws = ReferenceLaws.full(np.tile([0.5, 0.5], (4, 1)))
    >>> d = sampled_diagnostics(laws, [0, 1, 0, 1], [0, 0, 0, 0], [2, 2], arm_groups=[[(0, 1), (0, 1)]],
    ...                         reference_groups=[[(3,), (4,)]])
    >>> d.duplicates.rate, d.expected_duplicate_rate, d.reference_duplicates.rate
    (1.0, 0.25, 0.0)
    >>> [(s.label, s.n_tokens) for s in d.strata if s.n_tokens]
    [('[0.5, 1.5)', 4), ('0-7', 4)]

With origins (codes of :class:`tais.types.TokenOrigin`: a target token, then accepted at slot 1 and recovered at slot
2, in each completion), two more strata rows and a bonus row::

    >>> d = sampled_diagnostics(laws, [0, 1, 0, 1], [0, 0, 0, 0], [2, 2], arm_groups=[[(0, 1), (0, 1)]],
    ...                         reference_groups=[[(3,), (4,)]], origins=[0, 5, 0, 10])
    >>> [(s.label, s.n_tokens, s.accepted) for s in d.strata if s.kind is StratumKind.ORIGIN]
    [('target-only', 2, 0), ('slot 1', 1, 1), ('slot 2', 1, 0), ('bonus', 0, 0)]
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from tais.stats.outcome_split import OutcomeSplit
from tais.stats.pit import randomised_pit
from tais.stats.predictable import ReferenceLaws, holm_adjusted
from tais.stats.rng_reuse import DuplicateRate, Lag1, duplicate_rate, expected_duplicate_rate, pit_lag1
from tais.stats.strata import (
    ENTROPY_EDGES,
    POSITION_EDGES,
    UNKNOWN_ORIGIN,
    ScoreTerms,
    StratumTest,
    bin_labels,
    entropy_strata,
    origin_strata,
    position_strata,
    scored_test,
    stratified_tests,
)
from tais.types import Completion, CompletionKey


class StratumKind(enum.Enum):
    ENTROPY = "entropy"
    POSITION = "position"
    ORIGIN = "origin"  # target-only, draft slot j, bonus (arms whose decoder records token origins)
    ORIGIN_DRAFT = "origin-draft"  # the same strata, the draft log-ratio's Z and one-step lambda (draft measured)
    OUTCOME = "outcome"  # accepted at slot j, recovered: the surprisal split, centred on min(p, q) / max(0, q - p)
    OUTCOME_DRAFT = "outcome-draft"  # the same split of the draft log-ratio


@dataclass(frozen=True)
class Stratum:
    """One stratum's surprisal test: ``theta`` None when it has no varentropy; ``p_holm`` adjusted over every
    stratum of the record; ``accepted``: of an origin stratum's tokens, the accepted drafts (None for the others)."""

    kind: StratumKind
    label: str
    n_tokens: int
    theta: float | None
    z: float
    p_value: float
    p_holm: float
    mean_varentropy: float
    accepted: int | None = None


@dataclass(frozen=True)
class SampledDiagnostics:
    """One arm's diagnostics (module docstring): ``strata`` (entropy bins, position bins, then origin strata where
    the arm records token origins), ``pit_lag1``,
    ``duplicates`` with ``expected_duplicate_rate`` under H0, and the reference arm's ``reference_duplicates``."""

    strata: tuple[Stratum, ...]
    pit_lag1: Lag1
    duplicates: DuplicateRate
    expected_duplicate_rate: float | None
    reference_duplicates: DuplicateRate

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SampledDiagnostics:
        """From the plain form written into the store and ``evidence.json``."""
        strata = tuple(Stratum(**{**s, "kind": StratumKind(s["kind"])}) for s in d["strata"])
        return cls(strata, Lag1(**d["pit_lag1"]), DuplicateRate(**d["duplicates"]), d["expected_duplicate_rate"],
                   DuplicateRate(**d["reference_duplicates"]))


def sampled_diagnostics(laws: ReferenceLaws, tokens: ArrayLike, clusters: ArrayLike, lengths: Sequence[int], *,
                        arm_groups: Sequence[Sequence[tuple[int, ...]]],
                        reference_groups: Sequence[Sequence[tuple[int, ...]]], kept: ArrayLike | None = None,
                        exact: bool = True, seed: int = 0, origins: ArrayLike | None = None,
                        draft: ScoreTerms | None = None, split: OutcomeSplit | None = None) -> SampledDiagnostics:
    """The diagnostics of one arm: ``laws`` the reference's sampling laws at its ``tokens`` [n], ``clusters`` [n] the
    prompt of each; the completions, of ``lengths``, laid end to end hold ``sum(lengths)`` tokens of which ``kept``
    [sum(lengths)] (None: all) are the n with a law; ``arm_groups`` and ``reference_groups``: each arm's replicates
    per prompt (token ids); ``exact``: the laws are the reference's own (the expected duplicate rate needs every
    token's probability: None with laws conditioned on a listed set or a token left out); ``seed`` draws the PIT's
    randomisation (the verdict's seed, so the values are the verdict's); ``origins`` [sum(lengths)]: each token's
    origin code (-1 unknown; None: no origin strata); ``draft``: the draft log-ratio's terms at the n tokens, where
    measured (the origin strata then show its Z and one-step lambda too); ``split``: the accepted / recovered parts
    of both scores at the n tokens (:mod:`tais.stats.outcome_split`), where the draft's laws are known."""
    tokens = np.asarray(tokens)
    clusters = np.asarray(clusters)
    total = int(sum(lengths))
    mask = np.ones(total, dtype=bool) if kept is None else np.asarray(kept, dtype=bool)
    if mask.size != total or int(mask.sum()) != tokens.size or laws.n != tokens.size or clusters.size != tokens.size:
        raise ValueError(f"completion lengths sum to {total} with {int(mask.sum())} kept ({mask.size} flags), "
                         f"laws have {laws.n} rows, {tokens.size} tokens and {clusters.size} prompt indices: "
                         "they must agree")
    positions = np.concatenate([np.arange(n) for n in lengths])[mask] if total else np.zeros(0, dtype=np.int64)
    codes = None if origins is None else np.asarray(origins, dtype=np.int64)
    if codes is not None and codes.size != total:
        raise ValueError(f"{codes.size} token origins for completions of {total} tokens: they must agree")
    strata = _strata(laws, tokens, positions, None if codes is None else codes[mask], draft, split)
    u = randomised_pit(laws, tokens, np.random.default_rng(seed))
    expected = (expected_duplicate_rate(_probabilities(laws, tokens, clusters, lengths))
                if exact and bool(mask.all()) else None)
    return SampledDiagnostics(strata, pit_lag1(u, kept_runs(mask, lengths)), duplicate_rate(arm_groups), expected,
                              duplicate_rate(reference_groups))


def kept_runs(kept: ArrayLike, lengths: Sequence[int]) -> list[int]:
    """The lengths of the runs of consecutive kept tokens inside each completion: the pairs the lag-1 statistic may
    use (a left-out token or a completion's end breaks a run).

    >>> kept_runs([1, 1, 0, 1, 1, 1], [4, 2])
    [2, 1, 2]
    """
    kept = np.asarray(kept, dtype=bool)
    if not kept.any():
        return []
    first = np.zeros(kept.size, dtype=bool)
    first[np.cumsum([0, *lengths[:-1]])[np.asarray(lengths) > 0]] = True  # each completion's first token
    previous = np.concatenate([[False], kept[:-1]])
    starts = kept & (~previous | first)
    return [int(n) for n in np.bincount(np.cumsum(starts)[kept])[1:]]


def _strata(laws: ReferenceLaws, tokens: np.ndarray, positions: np.ndarray, origins: np.ndarray | None,
            draft: ScoreTerms | None, split: OutcomeSplit | None) -> tuple[Stratum, ...]:
    rows: list[tuple[StratumKind, str, StratumTest, int | None]] = []
    for kind, index, edges, integer in ((StratumKind.ENTROPY, entropy_strata(laws), ENTROPY_EDGES, False),
                                        (StratumKind.POSITION, position_strata(positions), POSITION_EDGES, True)):
        tests = stratified_tests(laws, tokens, index, len(edges) + 1)
        rows += [(kind, label, t, None) for label, t in zip(bin_labels(edges, integer=integer), tests)]
    if origins is not None and bool((origins != UNKNOWN_ORIGIN).any()):
        index, labels, accepted = origin_strata(origins)
        tests = stratified_tests(laws, tokens, index, len(labels))
        rows += [(StratumKind.ORIGIN, label, t, int(a)) for label, t, a in zip(labels, tests, accepted)]
        if draft is not None:
            rows += [(StratumKind.ORIGIN_DRAFT, label, scored_test(draft, index == i), int(a))
                     for i, (label, a) in enumerate(zip(labels, accepted))]
        if split is not None:
            slots = len(labels) - 2
            for kind, (a, r) in ((StratumKind.OUTCOME, (split.surprisal_accepted, split.surprisal_recovered)),
                                 (StratumKind.OUTCOME_DRAFT, (split.ratio_accepted, split.ratio_recovered))):
                rows += [(kind, f"accepted@{j}", scored_test(a, index == j), None) for j in range(1, slots + 1)]
                rows.append((kind, "recovered", scored_test(r, (index >= 1) & (index <= slots)), None))
    adjusted = holm_adjusted([t.p_value for _, _, t, _ in rows])
    return tuple(Stratum(kind, label, t.n_tokens, t.theta, t.z, t.p_value, float(p), t.mean_varentropy, a)
                 for (kind, label, t, a), p in zip(rows, adjusted))


def _probabilities(laws: ReferenceLaws, tokens: np.ndarray, clusters: np.ndarray,
                   lengths: Sequence[int]) -> list[list[float]]:
    """Per prompt, each completion's probability under the laws (every token kept; unlisted tokens: 0)."""
    _, q = laws.observed(tokens)
    with np.errstate(divide="ignore"):
        log_q = np.log(q)
    probabilities: dict[int, list[float]] = defaultdict(list)
    start = 0
    for n in lengths:
        if n:
            probabilities[int(clusters[start])].append(float(np.exp(log_q[start:start + n].sum())))
        start += n
    return [probabilities[k] for k in sorted(probabilities)]


def arm_diagnostics(laws: ReferenceLaws, tokens: ArrayLike, clusters: ArrayLike,
                    completions: Mapping[CompletionKey, Completion], reference: Mapping[CompletionKey, Completion], *,
                    kept: ArrayLike | None = None, exact: bool = True, seed: int = 0,
                    draft: ScoreTerms | None = None, split: OutcomeSplit | None = None) -> SampledDiagnostics:
    """:func:`sampled_diagnostics` of an arm whose ``completions`` gave ``laws``, ``tokens``, ``clusters`` and the
    ``kept`` mask (:class:`tais.pipeline.sampled.ArmLaws`, laid out as :func:`completion_lengths` says), beside the
    ``reference`` arm's completions; ``seed``: the verdict's PIT seed (:func:`tais.screen.sampled.token_level`);
    ``draft``: the draft log-ratio's terms and ``split`` its and the surprisal's accepted / recovered parts where
    measured."""
    return sampled_diagnostics(laws, tokens, clusters, completion_lengths(completions),
                               arm_groups=replicate_groups(completions), reference_groups=replicate_groups(reference),
                               kept=kept, exact=exact, seed=seed, origins=completion_origins(completions),
                               draft=draft, split=split)


def completion_origins(completions: Mapping[CompletionKey, Completion]) -> np.ndarray | None:
    """Each token's origin code laid out as :func:`completion_lengths` says (-1 for a completion that records none);
    None when no completion records any.

    >>> from tais.types import CompletionKey
    >>> a = Completion("a", "", token_ids=(1, 2), origins=(0, 5))
    >>> b = Completion("b", "", token_ids=(3,))
    >>> completion_origins({CompletionKey("a", 0, "r"): a, CompletionKey("b", 0, "r"): b}).tolist()
    [0, 5, -1]
    """
    rows = [(c.token_ids, c.origins) for _, c in sorted(completions.items()) if c.token_ids]
    if not any(origins is not None for _, origins in rows):
        return None
    return np.concatenate([np.asarray(origins if origins is not None and len(origins) == len(ids)
                                      else [UNKNOWN_ORIGIN] * len(ids), dtype=np.int64) for ids, origins in rows])


def completion_lengths(completions: Mapping[CompletionKey, Completion]) -> list[int]:
    """The token counts of an arm's completions in the order :func:`tais.pipeline.sampled.arm_laws` lays out their
    laws (sorted keys, completions with token ids only)."""
    return [len(c.token_ids) for _, c in sorted(completions.items()) if c.token_ids]


def replicate_groups(completions: Mapping[CompletionKey, Completion]) -> list[list[tuple[int, ...]]]:
    """Per item (sorted), the token ids of each of its replicates that has any."""
    groups: dict[str, list[tuple[int, ...]]] = defaultdict(list)
    for key, c in sorted(completions.items()):
        if c.token_ids:
            groups[key.item_id].append(tuple(c.token_ids))
    return [groups[k] for k in sorted(groups)]
