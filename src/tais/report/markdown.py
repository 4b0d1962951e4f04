"""``report.md``: the screen as Markdown, in reading order: verdict, one table per contrast, A/A null contrasts,
speed, plots (SVG files beside the report), every divergence with the reference's top-k, then the manifest.

Safety of model text: every string that is not ours (model text, tokens, item ids, task and arm names) goes into a
table cell or heading through :func:`md_escape` (each Markdown-special ASCII character backslash-escaped, line
breaks shown as ``⏎``), and long texts into fenced blocks whose fence is longer than any run of the fence character
inside (:func:`fenced`), so no model output can open HTML, a link or a table column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from tais.report import formatting as f
from tais.report import sampled as sampled_report
from tais.report import svg, sweep
from tais.report import tokens as token_report
from tais.screen.result import CellResult, Divergence, ScreenResult
from tais.screen.verdict import decide_screen
from tais.types import DivergenceClass, Role

MAX_DIVERGENCES = 200
PREFIX_CHARS = 160
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def md_escape(text: object) -> str:
    """Text made inert for a Markdown table cell or heading: ``md_escape("a|<b>") == "a\\\\|\\\\<b\\\\>"``."""
    s = _SPECIAL.sub(r"\\\1", str(text))
    return s.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " ⏎ ")


def fenced(text: str, info: str = "text") -> str:
    """``text`` in a fenced code block whose tilde fence is longer than any tilde run inside it."""
    longest = max((len(m) for m in re.findall(r"~+", text)), default=0)
    fence = "~" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}{info}\n{body}{fence}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _cell_rows(cells: Sequence[CellResult], level: float) -> str:
    header = ["task", "pairs", "undecided", "identical", "divergences", "table a/b/c/d", "p ref", "p cand",
              f"diff [{level:.0%} CI]", "TOST p", "McNemar p (Holm)", "Cohen's h", "verdict", "reasons"]  # fmt: skip
    rows = []
    for c in cells:
        rows.append([
            md_escape(c.task), str(c.pairs), str(c.undecided), md_escape(f.identity(c)),
            md_escape(f.divergence_counts(c)), f"{c.a}/{c.b}/{c.c}/{c.d}", md_escape(f.rate(c.p_reference)),
            md_escape(f.rate(c.p_candidate)), md_escape(f"{f.signed(c.diff)} {f.interval(c.ci_low, c.ci_high)}"),
            md_escape(f.pvalue(c.tost_p)), md_escape(f"{f.pvalue(c.mcnemar_p)} ({f.pvalue(c.mcnemar_p_holm)})"),
            md_escape(f.effect(c)), f"**{c.verdict.value}**", md_escape(" ".join(c.reasons)),
        ])  # fmt: skip
    return _table(header, rows)


def _contrast_sections(result: ScreenResult, role: Role) -> list[str]:
    out = []
    for contrast in result.contrasts:
        cells = [c for c in result.cells if c.contrast == contrast and c.role is role]
        if not cells:
            continue
        worst = decide_screen(c.verdict for c in cells).value
        out.append(f"### {md_escape(contrast)}: {worst}\n")
        out.append(_cell_rows(cells, 1 - 2 * result.thresholds.alpha) + "\n")
        pooled = result.pooled.get(contrast)
        if pooled is not None:
            out.append(
                f"Pooled Mantel-Haenszel paired odds ratio (reference-only wins / candidate-only wins): "
                f"{pooled.odds_ratio:.3f}, 95% CI [{pooled.ci_low:.3f}, {pooled.ci_high:.3f}].\n"
            )
    return out


def _divergence(d: Divergence, index: int) -> str:
    absent = d.gap is None and d.cls is DivergenceClass.LEAK
    gap = "absent from the reference's top-k" if absent else f"gap {f.number(d.gap)} nats"
    unit = "character" if d.basis == "text" else "token"
    head = (
        f"#### {index}. {md_escape(d.contrast)} · {md_escape(d.task)} · item {md_escape(d.item_id)} "
        f"(replicate {d.replicate}): {d.cls.value} at {unit} {d.position}\n\n"
        f"Reference token {md_escape(f.show_token(d.reference_token))}, candidate token "
        f"{md_escape(f.show_token(d.candidate_token))}; {md_escape(gap)}; outcomes reference "
        f"{md_escape(d.outcome_reference)}, candidate {md_escape(d.outcome_candidate)}.\n"
    )
    if d.candidate_origin is not None:
        head += f"\nThe candidate's token there was {md_escape(f.origin_words(d.candidate_origin))}.\n"
    parts = [head]
    if d.reference_top:
        rows = [[md_escape(f.show_token(t)), f"{lp:.4f}"] for t, lp in d.reference_top]
        parts.append(_table(["reference top-k token", "logprob"], rows) + "\n")
    prefix = d.prefix_text if len(d.prefix_text) <= PREFIX_CHARS else "…" + d.prefix_text[-PREFIX_CHARS:]
    parts.append("Common text before the divergence:\n\n" + fenced(prefix) + "\n")
    parts.append("Reference from the divergence:\n\n" + fenced(d.reference_text) + "\n")
    parts.append("Candidate from the divergence:\n\n" + fenced(d.candidate_text) + "\n")
    return "\n".join(parts)


def render_markdown(result: ScreenResult) -> str:
    """The whole Markdown report as one string (plots are referenced as ``plots/<name>.svg``)."""
    out = [
        f"# tais screen: **{result.verdict.value}**\n",
        f"{f.VERDICT_WORDS[result.verdict].capitalize()}. {f.summary(result)}. Exit code {result.verdict.exit_code}.\n",
        f"Thresholds: {f.thresholds_line(result)}.\n",
        "## Candidate contrasts\n",
        f"{md_escape(f.legend(result))}\n",
        *_contrast_sections(result, Role.CANDIDATE),
    ]
    if result.null_cells:
        out += ["## A/A null contrasts (noise floor; not part of the verdict)\n",
                *_contrast_sections(result, Role.NULL)]
    if result.robustness:
        out.append("## Scorer robustness\n")
        out.append("Each cell's discordant and divergent pairs re-scored with a second scorer "
                   "(the verdict under it; a flip means the verdict depends on the scorer).\n")
        rows = [[md_escape(r.contrast), md_escape(r.task), md_escape(r.alt_scorer), str(r.rescored),
                 f"{r.b}/{r.c} → {r.b_alt}/{r.c_alt}", f"{r.verdict} → {r.verdict_alt}",
                 "**flips**" if r.flips else "holds"] for r in result.robustness]
        out.append(_table(["contrast", "task", "second scorer", "re-scored pairs", "b/c", "verdict", "robust"],
                          rows) + "\n")
    if result.sampled is not None:
        out.append(sampled_report.markdown(result.sampled, _table))
    out.append("## Speed\n")
    speed_rows = [
        [md_escape(s.arm), s.role.value, str(s.output_tokens), f"{s.wall_s:.1f}", f.number(s.tokens_per_s, 1),
         f.rate(s.acceptance), md_escape(f.acceptance_by_task(s)), "–" if s.speedup is None else f"{s.speedup:.2f}×",
         "–" if s.null_speedup is None else f"{s.null_speedup:.2f}×"]
        for s in result.speed
    ]  # fmt: skip
    header = ["arm", "role", "output tokens", "wall s", "tokens/s", "acceptance", "acceptance by task", "speedup",
              "null arm's speedup (noise floor)"]
    out.append(_table(header, speed_rows) + "\n")
    if result.sweep:
        out.append(sweep.sweep_markdown(result, md_escape))
    out.append("## Plots\n")
    out += [f"![{caption}](plots/{stem}.svg)\n" for stem, caption in svg.CAPTIONS.items()]
    out += token_report.section_markdown(result, _table, md_escape)
    out.append(f"## Divergences ({result.divergence_count})\n")
    if not result.divergence_count:
        out.append("Every pair is identical.\n")
    for i, d in enumerate(result.divergences[:MAX_DIVERGENCES], 1):
        out.append(_divergence(d, i))
    listed = min(MAX_DIVERGENCES, len(result.divergences))
    if result.divergence_count > listed:
        out.append(f"{result.divergence_count - listed} more divergences are listed in evidence.json.\n")
    out.append("## Arms\n")
    out.append(_table(["arm", "role", "fingerprint", "generation wall s"],
                      [[md_escape(a.name), a.role.value, md_escape(a.fingerprint), f"{a.generation_wall_s:.1f}"]
                       for a in result.arms]) + "\n")  # fmt: skip
    return "\n".join(out)
