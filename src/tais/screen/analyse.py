"""The screen: from the battery, the arms, their completions and scores to a :class:`ScreenResult`.

Contrasts: each candidate arm against the reference, then each null (A/A) arm against the reference. For every
contrast and task, the completions are paired by ``(item_id, replicate)`` (:mod:`tais.screen.pairing`), each
non-identical pair gets its first divergence (:mod:`tais.screen.forensics`, classed against the near-tie threshold of
:mod:`tais.screen.precision`: tau, widened when the reference's logits are 16-bit), and the cell gets its statistics and
verdict (:mod:`tais.screen.cells`). The screen's verdict comes from the candidate cells only
(:func:`tais.screen.verdict.decide_screen`); null cells are reported as the noise floor.

Deterministic: the same inputs give the same result, field for field (no clock, no randomness, sorted iteration).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tais.screen.cells import CellInput, build_cells
from tais.screen.forensics import DivergenceInfo, first_divergence
from tais.screen.pairing import Pair, pair_arm, reference_keys
from tais.screen.precision import near_tie_threshold
from tais.screen.result import (
    ArmInfo,
    CellResult,
    CellRobustness,
    Divergence,
    PooledOdds,
    ScreenResult,
    contrast_name,
)
from tais.screen.robustness import check_robustness
from tais.screen.speed import arm_speeds
from tais.screen.verdict import decide_screen
from tais.stats import mantel_haenszel_paired
from tais.types import Battery, Completion, CompletionKey, Role, Score, Thresholds, TokenOrigin


def analyse(
    *,
    battery: Battery,
    arms: Sequence[ArmInfo],
    completions: Mapping[str, Mapping[CompletionKey, Completion]],
    scores: Mapping[str, Mapping[CompletionKey, Score]],
    thresholds: Thresholds,
    manifest: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    robustness_scorer: str | None = None,
) -> ScreenResult:
    """Screen every candidate and null arm against the reference arm.

    ``completions`` and ``scores`` map an arm name to ``{CompletionKey: ...}``; two arms' completions pair under
    the same key. Raises ValueError when the
    arms do not hold exactly one reference and at least one candidate, when names repeat, when the reference lacks
    every completion of a battery item, or when another arm lacks a completion or score the reference has.
    ``robustness_scorer`` (``auto``, ``none``, a scorer name; None = not checked) re-scores the cells with a second
    scorer (:mod:`tais.screen.robustness`)."""
    reference = check_arms(arms)
    ref_completions = completions.get(reference.name, {})
    ref_scores = scores.get(reference.name, {})
    ordered = [a for a in arms if a.role is Role.CANDIDATE] + [a for a in arms if a.role is Role.NULL]
    tau = near_tie_threshold(thresholds.tau, reference.spec.get("dtype"))
    inputs: list[CellInput] = []
    divergences: list[Divergence] = []
    for task in battery.tasks:
        item_ids = [item.id for item in task.items]
        keys = reference_keys(item_ids, ref_completions)
        present = {k.item_id for k in keys}
        absent = [i for i in item_ids if i not in present]
        if absent:
            raise ValueError(
                f"reference arm {reference.name!r} has no completion for {len(absent)} of {len(item_ids)} items of "
                f"task {task.name!r}, first {absent[0]!r}"
            )
        for arm in ordered:
            contrast = contrast_name(arm.name, reference.name)
            pairs = pair_arm(
                arm=arm.name,
                keys=keys,
                reference_completions=ref_completions,
                reference_scores=ref_scores,
                completions=completions.get(arm.name, {}),
                scores=scores.get(arm.name, {}),
            )
            infos = [first_divergence(p.reference, p.candidate, tau) for p in pairs]
            inputs.append(CellInput(contrast, arm.name, reference.name, task.name, arm.role, pairs, infos))
            divergences += [divergence_record(contrast, task.name, pair, info, arm.role)
                            for pair, info in zip(pairs, infos) if info is not None]
    cells = build_cells(inputs, thresholds)
    robustness: tuple[CellRobustness, ...] = ()
    if robustness_scorer is not None:
        cells, robustness = check_robustness(inputs, cells, battery, thresholds, robustness_scorer)
    order = {contrast_name(a.name, reference.name): i for i, a in enumerate(ordered)}
    cells.sort(key=lambda c: order[c.contrast])
    divergences.sort(key=lambda d: order[d.contrast])
    pooled = pooled_odds(cells, [contrast_name(a.name, reference.name) for a in ordered])
    task_of = {item.id: task.name for task in battery.tasks for item in task.items}
    return ScreenResult(
        verdict=decide_screen([c.verdict for c in cells if c.role is Role.CANDIDATE]),
        cells=tuple(cells),
        divergences=tuple(divergences),
        arms=tuple(arms),
        speed=tuple(arm_speeds(arms, completions, task_of)),
        thresholds=thresholds,
        pooled=pooled,
        manifest=dict(manifest or {}),
        meta=dict(meta or {}),
        near_tie_tau=tau,
        robustness=robustness,
    )


def pooled_odds(cells: Sequence[CellResult], contrasts: Sequence[str]) -> dict[str, PooledOdds]:
    """The Mantel-Haenszel pooled odds ratio of each contrast over its cells with decided pairs."""
    pooled = {}
    for name in contrasts:
        own = [c for c in cells if c.contrast == name and c.n > 0]
        if own:
            mh = mantel_haenszel_paired([c.b for c in own], [c.c for c in own])
            pooled[name] = PooledOdds(name, float(mh.odds_ratio), float(mh.ci_low), float(mh.ci_high))
    return pooled


def divergence_record(contrast: str, task: str, pair: Pair, info: DivergenceInfo, role: Role) -> Divergence:
    """The :class:`Divergence` of one non-identical pair: where and why it diverges, and each side's text from there."""
    cut = info.char_offset
    return Divergence(
        contrast=contrast,
        task=task,
        item_id=pair.item_id,
        replicate=pair.replicate,
        position=info.position,
        cls=info.cls,
        gap=info.gap,
        reference_token=info.reference_token,
        candidate_token=info.candidate_token,
        reference_top=info.reference_top,
        prefix_text=pair.reference.text[:cut],
        reference_text=pair.reference.text[cut:],
        candidate_text=pair.candidate.text[cut:],
        outcome_reference=pair.outcome_reference,
        outcome_candidate=pair.outcome_candidate,
        basis=info.basis,
        role=role,
        candidate_origin=None if info.basis == "text" else token_origin(pair.candidate, info.position),
    )


def token_origin(completion: Completion, position: int) -> TokenOrigin | None:
    """Where ``completion``'s token at ``position`` came from, when its decoder recorded origins.

    >>> token_origin(Completion("t/1", "abc", token_ids=(1, 2, 3), origins=(5, 10, 0)), 1).label
    'recovered@2'
    >>> token_origin(Completion("t/1", "abc", token_ids=(1, 2, 3)), 1) is None
    True
    """
    origins = completion.origins
    if origins is None or not 0 <= position < len(origins):
        return None
    return TokenOrigin.of(origins[position])


def check_arms(arms: Sequence[ArmInfo]) -> ArmInfo:
    names = [a.name for a in arms]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"arm names repeat: {', '.join(repeated)}")
    references = [a for a in arms if a.role is Role.REFERENCE]
    if len(references) != 1:
        raise ValueError(f"a screen needs exactly one reference arm, got {len(references)}")
    if not any(a.role is Role.CANDIDATE for a in arms):
        raise ValueError("a screen needs at least one candidate arm")
    return references[0]

