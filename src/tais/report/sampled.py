"""The report's temperature > 0 section (:class:`tais.screen.sampled.SampledScreen`): theta per contrast with its
interval (the null arm's beside each candidate) and the draft tilt lambda where measured, the outcome rates per task,
the leak table and the PIT histogram of each contrast as inline SVG with the band a uniform PIT stays in (95% per
bin, binomial).

>>> pit_band(1000)
(82, 119)
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from scipy.stats import binom

from tais.screen.sampled import SampledContrast, SampledScreen
from tais.types import Role

BINS = 10


def pit_band(n: int, bins: int = BINS) -> tuple[int, int]:
    """The 2.5% and 97.5% points of one bin's count when ``n`` PIT values are uniform."""
    return int(binom.ppf(0.025, n, 1 / bins)), int(binom.ppf(0.975, n, 1 / bins))


def pit_svg(contrast: SampledContrast) -> str:
    """Bars of the PIT histogram with the uniform band shaded (too hot: mass piles on the right; too cold: left)."""
    counts = list(contrast.tokens.pit_histogram) or [0] * BINS
    n = sum(counts)
    low, high = pit_band(n, len(counts))
    width, height, left, bottom = 260, 120, 30, 20
    top_count = max(counts + [high, 1]) * 1.1
    bar = (width - left - 10) / len(counts)

    def y(v: float) -> float:
        return height - bottom - (height - bottom - 10) * v / top_count

    body = [(f"<rect x='{left}' y='{y(high):.1f}' width='{width - left - 10}' height='{y(low) - y(high):.1f}' "
             "fill='#d0d7de' opacity='0.7'/>")]
    for i, c in enumerate(counts):
        colour = "#0969da" if low <= c <= high else "#cf222e"
        body.append(f"<rect x='{left + i * bar + 1:.1f}' y='{y(c):.1f}' width='{bar - 2:.1f}' "
                    f"height='{y(0) - y(c):.1f}' fill='{colour}'/>")
    body.append(f"<text x='{left}' y='{height - 4}' fill='#57606a'>0</text>"
                f"<text x='{width - 10}' y='{height - 4}' text-anchor='end' fill='#57606a'>1</text>")
    title = f"PIT histogram of {contrast.arm} ({n} tokens; band: uniform 95%)"
    return (f"<svg xmlns='http://www.w3.org/2000/svg' data-plot='pit-{escape(contrast.arm)}' role='img' "
            f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' font-size='11'>"
            f"<title>{escape(title)}</title>{''.join(body)}</svg>")


def _theta(c: SampledContrast) -> str:
    t = c.tokens
    return f"{t.theta:+.3f} [{t.theta_low:+.3f}, {t.theta_high:+.3f}]"


def _tilt(c: SampledContrast) -> str:
    d = c.tokens.draft
    if d is None:
        return c.tokens.draft_skipped or "–"
    return f"{d.tilt:+.3f} [{d.low:+.3f}, {d.high:+.3f}] ({d.draft})"


def _nulls(section: SampledScreen) -> list[SampledContrast]:
    return [c for c in section.contrasts if c.role is Role.NULL]


def theta_rows(section: SampledScreen) -> list[list[str]]:
    """One row per contrast: arm, role, tokens, theta with interval, the null arms' theta, Holm p-values, verdict."""
    null = "; ".join(f"{c.arm} {_theta(c)}" for c in _nulls(section)) or "–"
    rows = []
    for c in section.contrasts:
        t = c.tokens
        rows.append([c.arm, c.role.value, f"{t.n_tokens} ({t.n_prompts} prompts)", _theta(c),
                     null if c.role is Role.CANDIDATE else "–", _tilt(c),
                     ", ".join(f"{p:.2g}" for p in t.p_holm), c.verdict.value, "; ".join(c.reasons)
                     + (f" (needs ~{c.tokens_needed} tokens)" if c.tokens_needed else "")
                     + (f" (needs ~{c.prompts_needed} prompts)" if c.prompts_needed else "")])
    return rows


def outcome_rows(section: SampledScreen) -> list[list[str]]:
    return [[c.arm, o.task, f"{o.rates.n_prompts} x {o.replicates}", f"{o.rates.rate_reference:.3f}",
             f"{o.rates.rate_candidate:.3f}", f"{o.rates.diff:+.3f} [{o.rates.ci_low:+.3f}, {o.rates.ci_high:+.3f}]",
             f"{o.rates.tost_p:.2g}", f"{o.rates.cohens_h:+.3f}"]
            for c in section.contrasts for o in c.outcomes]


def leak_rows(section: SampledScreen) -> list[list[str]]:
    return [[c.arm, c.role.value, str(c.tokens.hard_leaks), str(c.tokens.soft_leaks),
             f"{c.tokens.soft_leak_rate:.4f}", str(c.tokens.left_out)] for c in section.contrasts]


THETA_HEADER = ["arm", "role", "tokens", "theta [1-2α interval]", "null arm's theta", "draft tilt λ [1-2α interval]",
                "Holm p (surprisal, top-1, PIT[, draft])", "verdict", "reasons"]
OUTCOME_HEADER = ["arm", "task", "prompts x replicates", "reference rate", "arm rate", "mean paired diff [interval]",
                  "TOST p", "Cohen's h"]
LEAK_HEADER = ["arm", "role", "hard leaks", "soft leaks", "soft-leak rate", "left out (unlisted)"]


LISTED = "laws from the top tokens, conditioned on the listed ones"


def intro(section: SampledScreen) -> str:
    return (f"Reference law: temperature {section.temperature}, top-p {section.top_p}, top-k {section.top_k} "
            f"({'exact teacher-forced laws' if section.exact_laws else LISTED}); "
            f"theta margin ±{section.theta_margin}; draft tilt margin ±{section.draft_margin}; "
            f"hard leak beyond top-p + {section.tau_p} or {section.tau_logit} "
            f"below the k-th scaled logit. Verdict at T > 0: **{section.verdict.value}**.")


def markdown(section: SampledScreen, table) -> str:
    """The Markdown section; ``table(header, rows)`` renders a table (the report's own helper)."""
    parts = ["## Temperature > 0: sampling law and outcome rates\n", intro(section) + "\n",
             table(THETA_HEADER, theta_rows(section)) + "\n",
             table(OUTCOME_HEADER, outcome_rows(section)) + "\n",
             table(LEAK_HEADER, leak_rows(section)) + "\n"]
    parts += [f"PIT histogram of {c.arm}: {list(c.tokens.pit_histogram)} (uniform band per bin "
              f"{pit_band(sum(c.tokens.pit_histogram))})\n" for c in section.contrasts]
    return "\n".join(parts)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html(section: SampledScreen) -> str:
    """The HTML section, PIT histograms inline."""
    return "".join([
        "<h2 id='sampled'>Temperature &gt; 0: sampling law and outcome rates</h2>",
        f"<p>{escape(intro(section)).replace('**', '')}</p>",
        _html_table(THETA_HEADER, theta_rows(section)), "<h3>Outcome rates</h3>",
        _html_table(OUTCOME_HEADER, outcome_rows(section)), "<h3>Leaks</h3>",
        _html_table(LEAK_HEADER, leak_rows(section)), "<h3>PIT histograms</h3><div>",
        *(f"<figure style='display:inline-block'>{pit_svg(c)}<figcaption>{escape(c.arm)}</figcaption></figure>"
          for c in section.contrasts),
        "</div>"])
