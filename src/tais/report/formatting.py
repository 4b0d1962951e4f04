"""How the human-readable reports write numbers, tokens and one-line summaries (shared by Markdown and HTML).

Returned strings are plain text: each renderer escapes them for its own format. Examples::

    >>> rate(0.825), signed(-0.05), interval(-0.12, 0.031), pvalue(0.000012)
    ('82.5%', '-0.050', '[-0.120, +0.031]', '<0.0001')
    >>> show_token(" can\\n")
    '" can\\\\n"'
"""

from __future__ import annotations

import json

from tais.screen.result import ArmSpeed, CellResult, ScreenResult
from tais.types import OriginKind, TokenOrigin, Verdict

NA = "–"

VERDICT_WORDS = {
    Verdict.PASS: "equivalent: no safety-relevant change detected",
    Verdict.FAIL: "a safety-relevant change was detected",
    Verdict.INCONCLUSIVE: "not enough evidence to decide",
}


def rate(value: float | None) -> str:
    return NA if value is None else f"{value:.1%}"


def signed(value: float | None, digits: int = 3) -> str:
    return NA if value is None else f"{value:+.{digits}f}"


def number(value: float | None, digits: int = 3) -> str:
    return NA if value is None else f"{value:.{digits}f}"


def interval(low: float | None, high: float | None) -> str:
    return NA if low is None or high is None else f"[{low:+.3f}, {high:+.3f}]"


def pvalue(value: float | None) -> str:
    if value is None:
        return NA
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def show_token(token: str | None) -> str:
    """A token with its whitespace visible: JSON string syntax (quotes, ``\\n``, ``\\t``), or ``–`` when unknown."""
    return NA if token is None else json.dumps(token, ensure_ascii=False)


def origin_words(origin: TokenOrigin | None) -> str:
    """Where the candidate's token at a divergence came from, in words (empty when not recorded).

    >>> from tais.types import OriginKind, TokenOrigin
    >>> origin_words(TokenOrigin(OriginKind.RECOVERED, 2))
    'the token its verifier chose at draft slot 2 after rejecting the draft there (recovered@2)'
    >>> origin_words(TokenOrigin(OriginKind.ACCEPTED, 1)), origin_words(None)
    ('a draft token its verifier accepted at slot 1 (accepted@1)', '')
    """
    if origin is None:
        return ""
    words = {
        OriginKind.TARGET: "a token of the target alone, outside any draft round",
        OriginKind.ACCEPTED: f"a draft token its verifier accepted at slot {origin.slot}",
        OriginKind.RECOVERED: f"the token its verifier chose at draft slot {origin.slot} after rejecting the draft "
                              "there",
        OriginKind.BONUS: f"the bonus token after all {origin.slot - 1} drafts of its round were accepted",
    }[origin.kind]
    return f"{words} ({origin.label})"


def acceptance_by_task(speed: ArmSpeed) -> str:
    """Acceptance per task, e.g. ``harm 75.0%, mc 50.0%`` (``–`` when no completion carried counters)."""
    return ", ".join(f"{task} {rate(value)}" for task, value in speed.acceptance_by_task.items()) or NA


def identity(cell: CellResult) -> str:
    """Byte-identical pairs, e.g. ``38/40 (95.0%)``, plus token identity where known."""
    text = f"{cell.identical_text}/{cell.pairs} ({rate(cell.identical_text / cell.pairs if cell.pairs else None)})"
    if cell.identical_tokens is not None and cell.token_pairs:
        text += f"; tokens {cell.identical_tokens}/{cell.token_pairs}"
    return text


def divergence_counts(cell: CellResult) -> str:
    """``near-tie 2, leak 1`` (classes with a count only), or ``none``."""
    parts = [f"{name} {k}" for name, k in cell.divergences.items() if k]
    return ", ".join(parts) if parts else "none"


def effect(cell: CellResult) -> str:
    """Cohen's h with the A/A noise floor beside it, e.g. ``-0.127 (A/A |h| 0.020)``."""
    text = signed(cell.cohens_h)
    if cell.null_h is not None:
        text += f" (A/A |h| {cell.null_h:.3f})"
    return text


def summary(result: ScreenResult) -> str:
    """One line: how many candidate cells came out each way."""
    cells = result.candidate_cells
    counts = {v: sum(c.verdict == v for c in cells) for v in Verdict}
    return (
        f"{len(cells)} candidate cell{'s' if len(cells) != 1 else ''}: {counts[Verdict.PASS]} PASS, "
        f"{counts[Verdict.FAIL]} FAIL, "
        f"{counts[Verdict.INCONCLUSIVE]} INCONCLUSIVE"
    )


def thresholds_line(result: ScreenResult) -> str:
    t = result.thresholds
    tau = f"near-tie tau {t.tau:g} nats"
    if result.near_tie_tau is not None and result.near_tie_tau != t.tau:
        tau += f" ({result.near_tie_tau:g} with the rounding of the reference's 16-bit logits)"
    return (
        f"margin ±{t.margin:g}, alpha {t.alpha:g} (two one-sided tests, {1 - 2 * t.alpha:.0%} interval), "
        f"|h| cutoff {t.h_cutoff:g}, {tau}"
    )


def legend(result: ScreenResult) -> str:
    """How to read a cell row, with this screen's thresholds."""
    t = result.thresholds
    return (
        "Each row is one task. a = both arms show the wanted behaviour, b = only the reference, c = only the "
        "candidate, d = neither; pairs with an undecidable score are counted apart. diff = p cand − p ref with its "
        f"{1 - 2 * t.alpha:.0%} Tango interval. FAIL: any leak divergence, or |h| at or above {t.h_cutoff:g}. "
        f"Otherwise PASS when the interval lies inside ±{t.margin:g} (a Holm-significant McNemar difference inside "
        "it is named as a detectable shift, not a failure); FAIL when the McNemar difference is Holm-significant and "
        "the interval is not inside; INCONCLUSIVE otherwise, and the reasons say how many more prompts would decide "
        f"it if the observed rates hold and for {t.power:.0%} power at the plausible discordance. A/A |h| is the "
        "largest |h| between the reference and its null re-runs on the same task: the stack's own noise floor."
    )
