"""``report.html``: one self-contained page (inline CSS and SVG; no script, no network), in reading order: verdict,
one table per contrast, A/A null contrasts, speed, plots, every divergence side by side with the reference's top-k,
then the arms.

Safety of model text: every string that is not a literal of this module passes through :func:`html.escape`
(quotes included) before it reaches the page, and the page declares a Content-Security-Policy that allows no script
and no remote resource at all, so a completion such as ``<img src=x onerror=alert(1)>`` shows as text and nothing
runs even if a string were ever missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from tais.report import formatting as f
from tais.report import sampled as sampled_report
from tais.report import svg, sweep
from tais.report import tokens as token_report
from tais.screen.result import CellResult, Divergence, ScreenResult
from tais.screen.verdict import decide_screen
from tais.types import DivergenceClass, Role, Verdict

MAX_DIVERGENCES = 200
OPEN_LEAKS = 20
"""Divergences shown expanded: the first three, and the first OPEN_LEAKS leaks (the ones that fail a cell)."""
PREFIX_CHARS = 240
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
:root { --fg:#1f2328; --muted:#57606a; --line:#d0d7de; --soft:#f6f8fa; --pass:#1a7f37; --fail:#cf222e;
        --inc:#9a6700; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
       font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 28px 32px 64px; }
h1 { font-size: 22px; margin: 0 0 4px; font-weight: 600; }
h2 { font-size: 18px; margin: 36px 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 22px 0 8px; }
.muted { color: var(--muted); }
.legend { font-size: 12.5px; max-width: 1000px; }
.banner { display: flex; align-items: center; gap: 20px; padding: 18px 22px; border-radius: 10px;
          border: 1px solid var(--line); background: var(--soft); margin: 16px 0 8px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-weight: 600; font-size: 12px;
         color: #fff; letter-spacing: .02em; }
.banner .badge { font-size: 22px; padding: 6px 18px; }
.PASS { background: var(--pass); } .FAIL { background: var(--fail); } .INCONCLUSIVE { background: var(--inc); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13px; }
.scroll { overflow-x: auto; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.reasons td { font-size: 12px; color: var(--muted); border-top: none; padding-top: 0; }
tr.cell td { border-bottom: none; }
.plots { display: grid; grid-template-columns: 1fr; gap: 18px; }
figure { margin: 0; padding: 12px; border: 1px solid var(--line); border-radius: 8px; overflow-x: auto; }
figcaption { font-weight: 600; margin-bottom: 6px; }
details.div { border: 1px solid var(--line); border-radius: 8px; margin: 8px 0; }
details.div > summary { padding: 8px 12px; cursor: pointer; background: var(--soft); border-radius: 8px; }
details.div[open] > summary { border-bottom: 1px solid var(--line); border-radius: 8px 8px 0 0; }
.divbody { padding: 10px 12px; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
pre { margin: 0; padding: 8px 10px; background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
      white-space: pre-wrap; word-break: break-word; font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, monospace; }
.prefix { color: var(--muted); }
mark.tok { background: #fff8c5; border-bottom: 2px solid #d4a72c; padding: 0 1px; }
svg.token-strip { display: block; max-width: 100%; height: auto; }
mark.tok.leak { background: #ffebe9; border-bottom-color: var(--fail); }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; background: var(--soft); padding: 0 3px;
       border-radius: 4px; }
tr.ref-token td { font-weight: 600; } tr.cand-token td { background: #fff8c5; }
.cls-leak { color: var(--fail); font-weight: 600; } .cls-near-tie { color: #0969da; font-weight: 600; }
.cls-unexplained { color: var(--muted); font-weight: 600; }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _badge(verdict: Verdict) -> str:
    return f"<span class='badge {verdict.value}'>{verdict.value}</span>"


def _cells_table(cells: Sequence[CellResult], level: float) -> str:
    head = ["task", "pairs", "undecided", "identical", "divergences", "a / b / c / d", "p ref", "p cand",
            f"diff<br>{level:.0%} CI", "TOST p", "McNemar p<br>(Holm)", "Cohen's h<br>(A/A |h|)",
            "verdict"]  # fmt: skip
    rows = []
    for c in cells:
        floor = "" if c.null_h is None else f"<br><span class='muted'>({c.null_h:.3f})</span>"
        rows.append(
            "<tr class='cell'>"
            f"<td>{_e(c.task)}</td><td class='num'>{c.pairs}</td><td class='num'>{c.undecided}</td>"
            f"<td class='num'>{_e(f.identity(c)).replace('; ', '<br>')}</td><td>{_e(f.divergence_counts(c))}</td>"
            f"<td class='num'>{c.a} / {c.b} / {c.c} / {c.d}</td><td class='num'>{_e(f.rate(c.p_reference))}</td>"
            f"<td class='num'>{_e(f.rate(c.p_candidate))}</td>"
            f"<td class='num'>{_e(f.signed(c.diff))}<br>{_e(f.interval(c.ci_low, c.ci_high))}</td>"
            f"<td class='num'>{_e(f.pvalue(c.tost_p))}</td>"
            f"<td class='num'>{_e(f.pvalue(c.mcnemar_p))}<br>({_e(f.pvalue(c.mcnemar_p_holm))})</td>"
            f"<td class='num'>{_e(f.signed(c.cohens_h))}{floor}</td><td>{_badge(c.verdict)}</td>"
            "</tr>"
            f"<tr class='reasons'><td></td><td colspan='{len(head) - 1}'>{' '.join(_e(r) for r in c.reasons)}</td></tr>"
        )
    return ("<div class='scroll'><table class='cells'><thead><tr>" + "".join(f"<th>{h}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")  # fmt: skip


def _contrasts(result: ScreenResult, role: Role) -> str:
    out = []
    for contrast in result.contrasts:
        cells = [c for c in result.cells if c.contrast == contrast and c.role is role]
        if not cells:
            continue
        worst = decide_screen(c.verdict for c in cells)
        table = _cells_table(cells, 1 - 2 * result.thresholds.alpha)
        out.append(f"<section class='contrast'><h3>{_e(contrast)} {_badge(worst)}</h3>{table}"
                   + token_report.cells_html(result, contrast, _e))
        pooled = result.pooled.get(contrast)
        if pooled is not None:
            out.append(
                f"<p class='muted'>Pooled Mantel-Haenszel paired odds ratio (reference-only / candidate-only wins): "
                f"{pooled.odds_ratio:.3f}, 95% CI [{pooled.ci_low:.3f}, {pooled.ci_high:.3f}].</p>"
            )
        out.append("</section>")
    return "".join(out)


def _speed(result: ScreenResult) -> str:
    rows = "".join(
        f"<tr><td>{_e(s.arm)}</td><td>{_e(s.role.value)}</td><td class='num'>{s.output_tokens}</td>"
        f"<td class='num'>{s.wall_s:.1f}</td><td class='num'>{_e(f.number(s.tokens_per_s, 1))}</td>"
        f"<td class='num'>{_e(f.rate(s.acceptance))}</td><td>{_e(f.acceptance_by_task(s))}</td>"
        f"<td class='num'>{'–' if s.speedup is None else f'{s.speedup:.2f}×'}</td>"
        f"<td class='num'>{'–' if s.null_speedup is None else f'{s.null_speedup:.2f}×'}</td></tr>"
        for s in result.speed
    )
    columns = ("arm", "role", "output tokens", "wall s", "tokens/s", "acceptance", "acceptance by task", "speedup",
               "null arm's speedup (noise floor)")
    head = "".join(f"<th>{h}</th>" for h in columns)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _robustness(result: ScreenResult) -> str:
    """One row per checked cell: its verdict under the second scorer and whether it holds."""
    rows = "".join(
        f"<tr><td>{_e(r.contrast)}</td><td>{_e(r.task)}</td><td>{_e(r.alt_scorer)}</td>"
        f"<td class='num'>{r.rescored}</td><td class='num'>{r.b}/{r.c} → {r.b_alt}/{r.c_alt}</td>"
        f"<td>{_e(r.verdict)} → {_e(r.verdict_alt)}</td><td>{'<b>flips</b>' if r.flips else 'holds'}</td></tr>"
        for r in result.robustness
    )
    columns = ("contrast", "task", "second scorer", "re-scored pairs", "b/c", "verdict", "robust")
    head = "".join(f"<th>{h}</th>" for h in columns)
    return (f"<p class='muted'>Each cell's discordant and divergent pairs re-scored with a second scorer; a flip "
            f"means the verdict depends on the scorer.</p><table><thead><tr>{head}</tr></thead><tbody>{rows}"
            f"</tbody></table>")


def _plots(result: ScreenResult) -> str:
    return "<div class='plots'>" + "".join(
        f"<figure><figcaption>{_e(svg.CAPTIONS[name])}</figcaption>{plot}</figure>"
        for name, plot in svg.report_plots(result).items()
    ) + "</div>"


def _side(prefix: str, token: str | None, rest: str, cls: str) -> str:
    shown_prefix = prefix if len(prefix) <= PREFIX_CHARS else "…" + prefix[-PREFIX_CHARS:]
    head, tail = (rest[: len(token)], rest[len(token):]) if token and rest.startswith(token) else ("", rest)
    marked = f"<mark class='tok {cls}'>{_e(head)}</mark>" if head else ""
    end = "" if rest else "<span class='muted'>(ends here)</span>"
    return f"<pre><span class='prefix'>{_e(shown_prefix)}</span>{marked}{_e(tail)}{end}</pre>"


def _divergence(d: Divergence, index: int, open_: bool) -> str:
    unit = "character" if d.basis == "text" else "token"
    if d.gap is not None:
        gap = f"gap {d.gap:.3f} nats"
    elif d.cls is DivergenceClass.LEAK:
        gap = "candidate token absent from the reference's top-k"
    else:
        gap = "no reference logprobs at this step"
    summary = (
        f"<summary><b>{index}.</b> {_e(d.contrast)} · {_e(d.task)} · <code>{_e(d.item_id)}</code>"
        f"{'' if d.replicate == 0 else f' (replicate {d.replicate})'} — "
        f"<span class='cls-{_e(d.cls.value)}'>{_e(d.cls.value)}"
        f"</span> at {unit} {d.position}, {_e(gap)}; outcome {_e(d.outcome_reference)} → "
        f"{_e(d.outcome_candidate)}</summary>"
    )
    top = ""
    if d.reference_top:
        rows = []
        for token, logprob in d.reference_top:
            mark = " class='ref-token'" if token == d.reference_token else ""
            mark = " class='cand-token'" if token == d.candidate_token else mark
            role = "reference" if token == d.reference_token else ("candidate" if token == d.candidate_token else "")
            rows.append(f"<tr{mark}><td><code>{_e(f.show_token(token))}</code></td><td class='num'>{logprob:.4f}"
                        f"</td><td>{role}</td></tr>")  # fmt: skip
        top = ("<table style='width:auto'><thead><tr><th>reference top-k token</th><th>logprob</th><th></th></tr>"
               "</thead><tbody>" + "".join(rows) + "</tbody></table>")  # fmt: skip
    tokens = (f"<p>Reference token <code>{_e(f.show_token(d.reference_token))}</code>, candidate token "
              f"<code>{_e(f.show_token(d.candidate_token))}</code>"
              + (f", {_e(f.origin_words(d.candidate_origin))}" if d.candidate_origin is not None else "")
              + ".</p>")  # fmt: skip
    mark_cls = "leak" if d.cls is DivergenceClass.LEAK else ""
    sides = (
        "<div class='sides'><div><h4>reference</h4>"
        + _side(d.prefix_text, d.reference_token, d.reference_text, "")
        + "</div><div><h4>candidate</h4>"
        + _side(d.prefix_text, d.candidate_token, d.candidate_text, mark_cls)
        + "</div></div>"
    )
    return f"<details class='div'{' open' if open_ else ''}>{summary}<div class='divbody'>{tokens}{top}{sides}" \
           "</div></details>"


def _arms(result: ScreenResult) -> str:
    rows = "".join(
        f"<tr><td>{_e(a.name)}</td><td>{_e(a.role.value)}</td><td><code>{_e(a.fingerprint)}</code></td>"
        f"<td class='num'>{a.generation_wall_s:.1f}</td></tr>"
        for a in result.arms
    )
    return ("<table><thead><tr><th>arm</th><th>role</th><th>fingerprint</th><th>generation wall s</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")  # fmt: skip


def render_html(result: ScreenResult) -> str:
    """The whole HTML report as one string."""
    divergences = result.divergences[:MAX_DIVERGENCES]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>tais screen: {result.verdict.value}</title><style>{CSS}</style></head><body><main>",
        "<h1>tais screen report</h1>",
        f"<div class='banner' id='verdict'>{_badge(result.verdict)}<div><div><b>"
        f"{_e(f.VERDICT_WORDS[result.verdict].capitalize())}.</b> {_e(f.summary(result))}. "
        f"Exit code {result.verdict.exit_code}.</div><div class='muted'>Thresholds: {_e(f.thresholds_line(result))}."
        "</div></div></div>",
        "<h2>Candidate contrasts</h2>",
        f"<p class='muted legend'>{_e(f.legend(result))}</p>",
        _contrasts(result, Role.CANDIDATE),
    ]
    if result.null_cells:
        parts += ["<h2>A/A null contrasts <span class='muted'>(noise floor; not part of the verdict)</span></h2>",
                  _contrasts(result, Role.NULL)]  # fmt: skip
    if result.robustness:
        parts += ["<h2>Scorer robustness</h2>", _robustness(result)]
    if result.sampled is not None:
        parts.append(sampled_report.html(result.sampled))
    parts += ["<h2>Speed</h2>", _speed(result), sweep.sweep_html(result), "<h2>Plots</h2>", _plots(result)]
    parts += token_report.section_html(result, _e)
    parts.append(f"<h2>Divergences ({result.divergence_count})</h2>")
    if not result.divergence_count:
        parts.append("<p class='muted'>Every pair is identical.</p>")
    leaks = [d for d in divergences if d.cls is DivergenceClass.LEAK][:OPEN_LEAKS]
    shown_open = {id(d) for d in leaks} | {id(d) for d in divergences[:3]}
    parts += [_divergence(d, i, id(d) in shown_open) for i, d in enumerate(divergences, 1)]
    if result.divergence_count > len(divergences):
        parts.append(f"<p class='muted'>{result.divergence_count - len(divergences)} more divergences are listed "
                     "in evidence.json.</p>")  # fmt: skip
    parts += ["<h2>Arms</h2>", _arms(result), "</main></body></html>\n"]
    return "".join(parts)
