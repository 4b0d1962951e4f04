"""The report's temperature > 0 section (:class:`tais.screen.sampled.SampledScreen`): theta per contrast with its
interval (the null arm's beside each candidate) and the draft tilt lambda where measured, the outcome rates per task
with the prompts whose rate differs, the leak table, the stratified theta table (the null arms' strata beside each
candidate's) with the RNG-reuse diagnostics (:mod:`tais.screen.sampled_diagnostics`), and the PIT histogram of each
contrast as inline SVG with the band a uniform PIT stays in (95% per bin, binomial).

>>> pit_band(1000)
(82, 119)
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from scipy.stats import binom

from tais.screen.sampled import OutcomeLevel, SampledContrast, SampledScreen
from tais.screen.sampled_diagnostics import Stratum
from tais.stats.rng_reuse import DuplicateRate
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
    if t.mean_varentropy == 0:
        return "– (no informative token)"
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
             f"{o.rates.tost_p:.2g}", f"{o.rates.cohens_h:+.3f}", prompts_cell(o)]
            for c in section.contrasts for o in c.outcomes]


def leak_rows(section: SampledScreen) -> list[list[str]]:
    return [[c.arm, c.role.value, str(c.tokens.hard_leaks), str(c.tokens.soft_leaks),
             f"{c.tokens.soft_leak_rate:.4f}", _excess_text(c), str(c.tokens.left_out), _tail_text(c)]
            for c in section.contrasts]


def _excess_text(c: SampledContrast) -> str:
    s = c.soft_excess
    return "–" if s is None else f"{s.null_leaks} in {s.null_tokens} (p {s.p_value:.2g})"


def _tail_text(c: SampledContrast) -> str:
    t = c.tokens.tail
    if t is None:
        return "–"
    return f"{t.unlisted} of {t.positions} (law allows ≤ {t.expected_max:.1f}; p {t.p_value:.2g})"


def _stratum_text(s: Stratum | None) -> str:
    if s is None or not s.n_tokens:
        return "–"
    theta = "–" if s.theta is None else f"{s.theta:+.3f}"
    return f"{_tokens(s)}, {theta}, {s.z:+.2f}"


def _tokens(s: Stratum) -> str:
    """A stratum's token count, with its accepted drafts in a draft-slot stratum."""
    if s.accepted is None or not s.label.startswith("slot"):
        return str(s.n_tokens)
    return f"{s.n_tokens} ({s.accepted} accepted)"


def strata_rows(section: SampledScreen) -> list[list[str]]:
    """Per contrast with diagnostics and per stratum holding tokens in it or its null arms: arm, stratum, tokens,
    theta, Z, Holm p (over the strata), and on candidate rows the null arms' (tokens, theta, Z)."""
    nulls = [c for c in _nulls(section) if c.tokens.diagnostics is not None]
    rows = []
    for c in section.contrasts:
        diagnostics = c.tokens.diagnostics
        if diagnostics is None:
            continue
        for s in diagnostics.strata:
            beside = [(n.arm, _same(n, s)) for n in nulls if c.role is Role.CANDIDATE]
            if not s.n_tokens and not any(b is not None and b.n_tokens for _, b in beside):
                continue
            null = "; ".join(f"{name}: {_stratum_text(b)}" for name, b in beside) or "–"
            theta = "–" if s.theta is None or not s.n_tokens else f"{s.theta:+.3f}"
            rows.append([c.arm, f"{s.kind.value} {s.label}", _tokens(s), theta,
                         f"{s.z:+.2f}" if s.n_tokens else "–", f"{s.p_holm:.2g}" if s.n_tokens else "–", null])
    return rows


def _same(null: SampledContrast, s: Stratum) -> Stratum | None:
    """The null arm's stratum of the same kind and label (None where it has none: a target-only null records no
    draft slots)."""
    d = null.tokens.diagnostics
    return None if d is None else next((n for n in d.strata if (n.kind, n.label) == (s.kind, s.label)), None)


def rng_rows(section: SampledScreen) -> list[list[str]]:
    """Per contrast with diagnostics: the PIT's lag-1 autocorrelation (null se 1/sqrt(pairs)), and the duplicate
    rates of replicate pairs: the arm's, the one H0 expects for it, the reference arm's."""
    rows = []
    for c in section.contrasts:
        d = c.tokens.diagnostics
        if d is None:
            continue
        lag = d.pit_lag1
        expected = "–" if d.expected_duplicate_rate is None else f"{d.expected_duplicate_rate:.3f}"
        rows.append([c.arm, c.role.value, f"{lag.r:+.3f} ± {lag.se:.3f}", f"{lag.z:+.2f} (p {lag.p_value:.2g})",
                     str(lag.n_pairs), _duplicates(d.duplicates), expected, _duplicates(d.reference_duplicates)])
    return rows


def _duplicates(d: DuplicateRate) -> str:
    return f"{d.rate:.3f} ({d.identical}/{d.pairs})" if d.pairs else "–"


def prompts_cell(o: OutcomeLevel, shown: int = 3) -> str:
    """How many prompts' rates differ between the arms, and the ``shown`` largest differences (item: reference rate
    -> arm rate)."""
    differ = sorted((p for p in o.prompts if p.arm != p.reference), key=lambda p: (-abs(p.arm - p.reference), p.item))
    largest = ", ".join(f"{p.item}: {p.reference:.2f} → {p.arm:.2f}" for p in differ[:shown])
    return (f"{len(differ)} of {len(o.prompts)}" + (f": {largest}" if largest else "")
            + (" …" if len(differ) > shown else ""))


THETA_HEADER = ["arm", "role", "tokens", "theta [1-2α interval]", "null arm's theta", "draft tilt λ [1-2α interval]",
                "Holm p (surprisal, top-1, PIT[, draft])", "verdict", "reasons"]
OUTCOME_HEADER = ["arm", "task", "prompts x replicates", "reference rate", "arm rate", "mean paired diff [interval]",
                  "TOST p", "Cohen's h", "prompts whose rate differs (reference → arm)"]
LEAK_HEADER = ["arm", "role", "hard leaks", "soft leaks", "soft-leak rate", "null arms' soft leaks",
               "left out (unlisted)", "outside the listed top tokens"]
STRATA_HEADER = ["arm", "stratum", "tokens", "theta (one step)", "Z", "Holm p", "null arm's (tokens, theta, Z)"]
RNG_HEADER = ["arm", "role", "PIT lag-1 r ± null se", "Z", "pairs", "duplicate replicates", "expected under H0",
              "reference arm's duplicates"]
STRATA_NOTE = ("Diagnostics, not gates: theta and the surprisal Z per entropy bin of the reference's law (nats), "
               "per output position and, where the arm records token origins, per origin (target-only, draft slot j "
               "of its round: accepted or recovered there, bonus; origin-draft: the draft log-ratio's Z and one-step "
               "lambda on those strata; outcome / outcome-draft: both scores split into the accepted part at slot j "
               "and the recovered part, each centred on its own law under the lossless rule, over the slot's "
               "positions); PIT lag-1 autocorrelation within completions and identical replicate pairs (RNG reuse).")


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
    strata, rng = strata_rows(section), rng_rows(section)
    if strata:
        parts += [STRATA_NOTE + "\n", table(STRATA_HEADER, strata) + "\n", table(RNG_HEADER, rng) + "\n"]
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
        _html_table(LEAK_HEADER, leak_rows(section)), *_html_diagnostics(section), "<h3>PIT histograms</h3><div>",
        *(f"<figure style='display:inline-block'>{pit_svg(c)}<figcaption>{escape(c.arm)}</figcaption></figure>"
          for c in section.contrasts),
        "</div>"])


def _html_diagnostics(section: SampledScreen) -> list[str]:
    strata = strata_rows(section)
    if not strata:
        return []
    return ["<h3 id='sampled-strata'>Strata and RNG reuse</h3>", f"<p>{escape(STRATA_NOTE)}</p>",
            _html_table(STRATA_HEADER, strata), _html_table(RNG_HEADER, rng_rows(section))]
