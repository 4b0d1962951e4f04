"""The token-evidence parts of the reports (:mod:`tais.screen.token_cells`): per contrast, a table of each cell's
whole-trajectory counts and KL / same-top-1 / Δp summary (shown beside the outcome statistics), and per differing
completion a strip of its tokens coloured by the reference's gap (:func:`tais.report.svg.token_strip`) with its
leaks listed. Every string from a run is escaped by the caller's escaper (HTML) or :func:`md_escape`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tais.report import svg
from tais.screen.result import ScreenResult
from tais.screen.token_cells import CellTokenEvidence
from tais.types import DivergenceClass

MAX_STRIPS = 40
"""Strips drawn in the HTML report (leaking completions first); the rest are in evidence.json's counts."""

HEAD = ["task", "judged", "near-tie / shift / leak", "prompts with leak", "largest gap", "KL mean ± SE",
        "KL 99%", "same top-1", "Δp mean", "RMS Δp"]


def _num(value: Any, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def row(ev: CellTokenEvidence) -> list[str]:
    """One cell's figures as strings, in :data:`HEAD` order; a KL that is a top-k lower bound is written ``≥``."""
    t, kl = ev.trajectory, ev.kl
    judged = f"{t.completions} completions" + ("" if ev.two_sided else f", one-sided ({ev.one_sided_reason})")
    if ev.unscored:
        judged += f", {ev.unscored} unscored"
    counts = " / ".join(str(t.count(c)) for c in (DivergenceClass.NEAR_TIE, DivergenceClass.SHIFT,
                                                   DivergenceClass.LEAK))
    figures = ["–"] * 5
    if kl is not None:
        bound = "" if ev.kl_exact else "≥ "
        pct = dict(kl.get("kl_percentiles") or {})
        figures = [f"{bound}{_num(kl.get('kl_mean'), 5)} ± {_num(kl.get('kl_mean_se'), 5)}",
                   f"{bound}{_num(pct.get('99'), 4)}", f"{100 * kl['same_top1']:.2f}%" if kl.get('n') else "–",
                   _num(kl.get("dp_mean"), 5), _num(kl.get("dp_rms"), 5)]
    return [ev.task, judged, counts, str(t.prompts_with_leak), _num(t.largest_gap, 3), *figures]


def cells_of(result: ScreenResult, contrast: str) -> list[CellTokenEvidence]:
    """The token evidence of one contrast's cells (empty without token evidence)."""
    evidence = result.token_evidence
    if evidence is None or not evidence.available:
        return []
    arms = {c.candidate for c in result.cells if c.contrast == contrast}
    return [c for c in evidence.cells if c.arm in arms]


def cells_html(result: ScreenResult, contrast: str, e: Callable[[object], str]) -> str:
    cells = cells_of(result, contrast)
    if not cells:
        return ""
    body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row(c)) + "</tr>" for c in cells)
    return ("<p class='muted'>Token evidence (teacher-forced, every token; KL / same top-1 / Δp over the reference's "
            "completions; ≥: a top-k lower bound):</p><div class='scroll'><table class='token-cells'><thead><tr>"
            + "".join(f"<th>{e(h)}</th>" for h in HEAD) + "</tr></thead><tbody>" + body + "</tbody></table></div>")


def section_html(result: ScreenResult, e: Callable[[object], str]) -> list[str]:
    """The "Token evidence" section: availability, then one strip per differing completion."""
    evidence = result.token_evidence
    if evidence is None:
        return []
    out = ["<h2>Token evidence</h2>"]
    if not evidence.available:
        return out + [f"<p class='muted'>Not available: {e(evidence.reason)}.</p>"]
    strips = [(c, s) for c in evidence.cells for s in c.strips]
    strips.sort(key=lambda cs: not any(k is DivergenceClass.LEAK for k in cs[1].classes))
    out.append("<p class='muted'>Each differing completion, token by token, coloured by the reference's gap "
               "(its top-1 logprob minus its logprob of the token: green 0, red ≥ "
               f"{svg.STRIP_GAP_MAX:g} nats); blue outline: near-tie or shift, thick red outline: leak.</p>")
    for cell, strip in strips[:MAX_STRIPS]:
        label = f"{cell.arm} · {cell.task} · {strip.item_id}#{strip.replicate}"
        leaks = [leak for leak in cell.leaks if (leak.item_id, leak.replicate) == (strip.item_id, strip.replicate)]
        listed = "".join(
            f"<li>leak at token {leak.position}: <code>{e(leak.token if leak.token is not None else '')}</code> "
            f"(id {leak.token_id}) where the reference's top-1 is id {leak.reference_top1_id}; reference gap "
            f"{leak.reference_gap:.3f} nats, its own target's gap {_num(leak.candidate_gap, 3)}</li>" for leak in leaks)
        out.append(f"<div class='strip'><h4>{e(label)}</h4>"
                   + svg.token_strip(label, strip.token_ids, strip.tokens, strip.gaps, strip.classes)
                   + (f"<ul>{listed}</ul>" if listed else "") + "</div>")
    total = sum(c.trajectory.completions for c in evidence.cells)  # a cell holds at most 2 x MAX_STRIPS strips
    if total > MAX_STRIPS:
        out.append(f"<p class='muted'>{total - MAX_STRIPS} more differing completions are counted in "
                   "evidence.json.</p>")
    return out


def section_markdown(result: ScreenResult, table: Callable[[Sequence[str], Sequence[Sequence[str]]], str],
                     md: Callable[[object], str]) -> list[str]:
    """The Markdown "Token evidence" section: per cell the figures, then every leak located."""
    evidence = result.token_evidence
    if evidence is None:
        return []
    out = ["## Token evidence\n"]
    if not evidence.available:
        return out + [f"Not available: {md(evidence.reason)}.\n"]
    out.append("Teacher-forced, every token of every differing completion; KL / same top-1 / Δp over the "
               "reference's completions (≥: a top-k lower bound).\n")
    out.append(table(["arm", *HEAD], [[md(c.arm), *(md(v) for v in row(c))] for c in evidence.cells]) + "\n")
    leaks: list[Mapping[str, Any]] = [{"arm": c.arm, "task": c.task, **leak.__dict__} for c in evidence.cells
                                      for leak in c.leaks]
    for leak in leaks:
        out.append(f"- leak: {md(leak['arm'])} · {md(leak['task'])} · {md(leak['item_id'])}#{leak['replicate']} at "
                   f"token {leak['position']}: id {leak['token_id']} (reference top-1 id {leak['reference_top1_id']}, "
                   f"gap {leak['reference_gap']:.3f} nats)\n")
    return out
