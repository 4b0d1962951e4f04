"""The T > 0 diagnostics record (tais.screen.sampled_diagnostics): its figures against hand computations on a laid-out
set of completions, its round trip through the stored figures and evidence.json (absent for figures stored before it
existed), and the report's strata / RNG-reuse / per-prompt tables showing values computed here independently."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from tais.report import sampled as sampled_report
from tais.report.evidence import _plain
from tais.report.markdown import _table
from tais.screen.sampled import (
    OutcomeLevel,
    PromptRate,
    SampledScreen,
    TokenLevel,
    contrast,
    overall,
    token_level,
)
from tais.screen.sampled_diagnostics import (
    SampledDiagnostics,
    StratumKind,
    arm_diagnostics,
    completion_lengths,
)
from tais.stats.pit import randomised_pit
from tais.stats.predictable import ReferenceLaws
from tais.stats.prompt_rates import prompt_rate_difference
from tais.types import Completion, CompletionKey, Role


def laid_out(rng, prompts=6, replicates=3, length=40, hot=1.0, repeat_first=False):
    """(completions, laws, tokens [n], clusters [n], q [n, vocab]) with the laws aligned to the sorted layout; with
    ``repeat_first`` every replicate of a prompt copies replicate 0 (an RNG reused across replicates)."""
    keys = sorted(CompletionKey(f"item-{p}", r, f"{p:02d}{r:02d}".ljust(64, "0"))
                  for p in range(prompts) for r in range(replicates))
    completions, qs, tokens, clusters, first = {}, [], [], [], {}
    for key in keys:
        logits = rng.normal(size=(length, 30)) * rng.uniform(0.3, 5.0, size=(length, 1))
        q = np.exp(logits - logits.max(1, keepdims=True))
        q /= q.sum(1, keepdims=True)
        if repeat_first and key.item_id in first:
            q, x = first[key.item_id]
        else:
            w = q ** (1 / hot)
            w /= w.sum(1, keepdims=True)
            x = np.minimum((w.cumsum(1) < rng.uniform(size=(length, 1))).sum(1), 29)
            first[key.item_id] = (q, x)
        completions[key] = Completion(key.item_id, "text", key.replicate, tuple(int(t) for t in x))
        qs.append(q)
        tokens.append(x)
        clusters.append(np.full(length, int(key.item_id.split("-")[1])))
    q = np.concatenate(qs)
    return completions, ReferenceLaws.full(q), np.concatenate(tokens), np.concatenate(clusters), q


def test_the_record_against_hand_computations():
    rng = np.random.default_rng(7)
    completions, laws, tokens, clusters, q = laid_out(rng, repeat_first=True)
    reference = {CompletionKey("item-0", r, "f" * 64): Completion("item-0", "x", r, (1, 2) if r < 2 else (3,))
                 for r in range(3)}
    d = arm_diagnostics(laws, tokens, clusters, completions, reference)
    # duplicates: every prompt's 3 replicates are copies: 3 of 3 pairs each; the reference: 1 of 3 pairs
    assert (d.duplicates.identical, d.duplicates.pairs, d.duplicates.prompts) == (18, 18, 6)
    assert (d.reference_duplicates.identical, d.reference_duplicates.pairs) == (1, 3)
    # expected under H0: mean over a prompt's replicates of prod_t q_t(x_t); here all three equal replicate 0's
    by_hand = np.mean([np.prod(q[np.arange(i * 120, i * 120 + 40), tokens[i * 120:i * 120 + 40]]) for i in range(6)])
    assert d.expected_duplicate_rate == pytest.approx(by_hand, rel=1e-9)
    # positions: each completion is 40 long -> 8 in 0-7, 24 in 8-31, 8 in 32-127, per completion (18 completions)
    positions = {s.label: s.n_tokens for s in d.strata if s.kind is StratumKind.POSITION}
    assert positions == {"0-7": 144, "8-31": 432, "32-127": 144, "128+": 0}
    entropy = -(q * np.log(q)).sum(1)
    counts = np.histogram(entropy, bins=[0, 0.5, 1.5, 3.0, np.inf])[0]
    assert [s.n_tokens for s in d.strata if s.kind is StratumKind.ENTROPY] == counts.tolist()
    # the late-position stratum's Z by hand (clipped surprisal)
    late = np.tile(np.arange(40) >= 32, 18)
    s = np.minimum(-np.log(q[late]), 10.0)
    mean = (q[late] * s).sum(1)
    var = (q[late] * s * s).sum(1) - mean ** 2
    z = (s[np.arange(late.sum()), tokens[late]] - mean).sum() / np.sqrt(var.sum())
    assert next(s for s in d.strata if s.label == "32-127").z == pytest.approx(z, rel=1e-9)
    # the PIT pairs never straddle two completions: 39 pairs per completion
    assert d.pit_lag1.n_pairs == 18 * 39
    # the same PIT values as the verdict's (token_level draws them with seed 0)
    u = randomised_pit(laws, tokens, np.random.default_rng(0))
    level = token_level(laws, tokens, clusters, hard_leaks=0, soft_leaks=0, theta_margin=0.05, alpha=0.05)
    assert list(level.pit_histogram) == np.histogram(u, bins=10, range=(0, 1))[0].tolist()
    pairs = np.array([(u[i], u[i + 1]) for i in range(len(u) - 1) if (i + 1) % 40])
    assert d.pit_lag1.r == pytest.approx(12 * np.mean((pairs[:, 0] - 0.5) * (pairs[:, 1] - 0.5)))


def test_completion_lengths_follow_arm_laws_layout_and_mismatches_are_refused():
    c = {CompletionKey("b", 0, "1"): Completion("b", "", 0, (1, 2, 3)),
         CompletionKey("a", 1, "2"): Completion("a", "", 1, (4,)),
         CompletionKey("a", 0, "3"): Completion("a", "", 0, ()),
         CompletionKey("a", 2, "4"): Completion("a", "", 2, None)}
    assert completion_lengths(c) == [1, 3]  # a#1 then b#0; empty and token-less completions left out
    laws = ReferenceLaws.full(np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="must agree"):
        arm_diagnostics(laws, [0, 1, 0], [0, 0, 0], c, {})


def level_of(rng, **kw):
    completions, laws, tokens, clusters, _ = laid_out(rng, **kw)
    level = token_level(laws, tokens, clusters, hard_leaks=0, soft_leaks=0, theta_margin=0.05, alpha=0.05)
    return replace(level, diagnostics=arm_diagnostics(laws, tokens, clusters, completions, completions))


def test_round_trip_through_the_stored_figures_and_evidence():
    from tais.pipeline.sampled import StoredTokens

    level = level_of(np.random.default_rng(1))
    stored = StoredTokens(0.8, 1.0, 0, 0.05, 0.02, 1.0, True, {"cand": level})
    back = StoredTokens.from_json(stored.to_json())
    assert back == stored and isinstance(back.arms["cand"].diagnostics, SampledDiagnostics)
    old = json.loads(stored.to_json())
    del old["arms"]["cand"]["diagnostics"]  # figures stored before the diagnostics existed
    assert StoredTokens.from_json(json.dumps(old)).arms["cand"].diagnostics is None


def screen(rng) -> SampledScreen:
    cand = level_of(rng, hot=1.25)
    null = level_of(rng)
    rates = prompt_rate_difference([1, 0.5, 1], [0, 0.5, 1], margin=0.1)
    prompts = (PromptRate("p1", 1.0, 0.0), PromptRate("p2", 0.5, 0.5), PromptRate("p3", 1.0, 1.0))
    outcomes = [OutcomeLevel("harm", 3, rates, prompts)]
    contrasts = [contrast("hot", "ref", Role.CANDIDATE, cand, outcomes, theta_margin=0.05),
                 contrast("seed-null", "ref", Role.NULL, null, outcomes, theta_margin=0.05)]
    return SampledScreen(0.8, 1.0, 0, 0.05, 0.02, 1.0, True, tuple(contrasts), overall(contrasts))


def test_the_reports_show_the_strata_rng_and_per_prompt_tables():
    section = screen(np.random.default_rng(3))
    hot, null = section.contrasts
    assert hot.tokens.diagnostics is not None and null.tokens.diagnostics is not None
    md = sampled_report.markdown(section, _table)
    page = sampled_report.html(section)
    flat = max(hot.tokens.diagnostics.strata, key=lambda s: s.z)
    flat_null = next(s for s in null.tokens.diagnostics.strata if s.label == flat.label)
    assert flat.z > 3 and flat.kind is StratumKind.ENTROPY  # the too-hot sampler shows in an entropy stratum
    row = (f"| hot | entropy {flat.label} | {flat.n_tokens} | {flat.theta:+.3f} | {flat.z:+.2f} | {flat.p_holm:.2g} | "
           f"seed-null: {flat_null.n_tokens}, {flat_null.theta:+.3f}, {flat_null.z:+.2f} |")
    assert row in md
    assert f"<td>{flat.z:+.2f}</td>" in page and "Strata and RNG reuse" in page
    # duplicates: the simulated replicates are independent draws from flat-ish laws: none identical (0 of 18)
    lag = hot.tokens.diagnostics.pit_lag1
    assert f"| hot | candidate | {lag.r:+.3f} ± {1 / np.sqrt(6 * 3 * 39):.3f} |" in md
    assert "0.000 (0/18)" in md
    # per-prompt outcome differences: 1 of 3 prompts differs (p1: 1 -> 0)
    assert "| 1 of 3: p1: 1.00 → 0.00 |" in md and "<td>1 of 3: p1: 1.00 → 0.00</td>" in page
    # evidence: the record is serialised, and a contrast without diagnostics has no key
    plain = _plain(section)
    assert flat.z in [s["z"] for s in plain["contrasts"][0]["tokens"]["diagnostics"]["strata"]]
    from tais.report.evidence import _sampled

    older = replace(section, contrasts=(
        replace(hot, tokens=replace(hot.tokens, diagnostics=None), outcomes=(replace(hot.outcomes[0], prompts=()),)),
        null))
    evidence = _sampled(SimpleNamespace(sampled=older))  # type: ignore[arg-type]  # _sampled reads .sampled only
    assert "diagnostics" not in evidence["contrasts"][0]["tokens"]
    assert "prompts" not in evidence["contrasts"][0]["outcomes"][0]
    assert evidence["contrasts"][1]["tokens"]["diagnostics"]["duplicates"]["pairs"] == 18


def test_old_figures_render_without_the_new_tables():
    section = screen(np.random.default_rng(4))
    old = replace(section, contrasts=tuple(replace(c, tokens=replace(c.tokens, diagnostics=None))
                                           for c in section.contrasts))
    md = sampled_report.markdown(old, _table)
    assert "entropy >= 3" not in md and "PIT lag-1" not in md and "Temperature > 0" in md
    assert isinstance(TokenLevel.from_dict(_plain(old.contrasts[0].tokens)), TokenLevel)


def test_left_out_tokens_break_the_pairs_and_keep_their_positions():
    """Laws listed by a non-hf reference leave unlisted tokens out (``kept``): the lag-1 pairs skip them, the kept
    tokens keep their own output positions, and no expected duplicate rate is claimed."""
    rng = np.random.default_rng(8)
    completions, laws, tokens, clusters, q = laid_out(rng, prompts=2, replicates=2, length=40)
    kept = np.ones(160, dtype=bool)
    kept[[5, 6, 39, 100]] = False  # two in the first completion's 0-7 bin, its last, one in the third completion
    sub = ReferenceLaws.full(q[kept])
    d = arm_diagnostics(sub, tokens[kept], clusters[kept], completions, completions, kept=kept, exact=False)
    # pairs: 39 per completion, less those touching a left-out token: (4,5) (5,6) (6,7) (38,39) and (99,100) (100,101)
    assert d.pit_lag1.n_pairs == 4 * 39 - 6
    positions = {s.label: s.n_tokens for s in d.strata if s.kind is StratumKind.POSITION}
    assert positions == {"0-7": 4 * 8 - 2, "8-31": 4 * 24 - 1, "32-127": 4 * 8 - 1, "128+": 0}
    assert d.expected_duplicate_rate is None and d.duplicates.pairs == 2  # observed from the whole completions
    full = arm_diagnostics(laws, tokens, clusters, completions, completions)
    assert full.expected_duplicate_rate is not None and full.pit_lag1.n_pairs == 4 * 39


def with_origins(completions, rng, k=2):
    """The completions with origin codes of random rounds (accepted runs then a recovered or bonus token)."""
    from tais.types import TARGET_ORIGIN, round_origins

    out = {}
    for key, c in completions.items():
        codes = [TARGET_ORIGIN]
        while len(codes) < len(c.token_ids):
            a = int(rng.integers(0, k + 1))
            codes += round_origins(a, k)
        out[key] = replace(c, origins=tuple(codes[:len(c.token_ids)]))
    return out


def test_origin_strata_in_the_stored_figures_evidence_and_reports():
    """A speculative candidate's origin strata (target-only, slot j with its accepted count, bonus) beside a
    target-only null arm that has none ("–"); ``accepted`` appears in evidence.json on origin strata only."""
    from tais.pipeline.sampled import StoredTokens
    from tais.report.evidence import _sampled

    rng = np.random.default_rng(5)
    completions, laws, tokens, clusters, _ = laid_out(rng)
    completions = with_origins(completions, rng)
    level = token_level(laws, tokens, clusters, hard_leaks=0, soft_leaks=0, theta_margin=0.05, alpha=0.05)
    cand = replace(level, diagnostics=arm_diagnostics(laws, tokens, clusters, completions, completions))
    rows = [s for s in cand.diagnostics.strata if s.kind is StratumKind.ORIGIN]
    codes = np.concatenate([c.origins for _, c in sorted(completions.items())])
    assert [s.label for s in rows] == ["target-only", "slot 1", "slot 2", "bonus"]
    assert [s.n_tokens for s in rows] == [18, int(np.sum(codes // 4 == 1)), int(np.sum((codes // 4 == 2)
                                                                                         & (codes % 4 != 3))),
                                          int(np.sum(codes % 4 == 3))]
    assert rows[1].accepted == int(np.sum(codes == 5)) and rows[2].accepted == int(np.sum(codes == 9))
    null = level_of(rng)
    outcomes = [OutcomeLevel("harm", 3, prompt_rate_difference([1, 1], [1, 1], margin=0.1), ())]
    contrasts = (contrast("spec", "ref", Role.CANDIDATE, cand, outcomes, theta_margin=0.05),
                 contrast("seed-null", "ref", Role.NULL, null, outcomes, theta_margin=0.05))
    section = SampledScreen(0.8, 1.0, 0, 0.05, 0.02, 1.0, True, contrasts, overall(list(contrasts)))
    md, page = sampled_report.markdown(section, _table), sampled_report.html(section)
    s = rows[1]
    row = (f"| spec | origin slot 1 | {s.n_tokens} ({s.accepted} accepted) | {s.theta:+.3f} | {s.z:+.2f} | "
           f"{s.p_holm:.2g} | seed-null: – |")
    assert row in md and f"<td>{s.n_tokens} ({s.accepted} accepted)</td>" in page
    entropy_row = next(r for r in sampled_report.strata_rows(section) if r[1].startswith("entropy") and r[2] != "0")
    assert "seed-null: " in entropy_row[-1] and entropy_row[-1] != "seed-null: –"  # matched by kind and label
    evidence = _sampled(SimpleNamespace(sampled=section))  # type: ignore[arg-type]  # _sampled reads .sampled only
    strata = evidence["contrasts"][0]["tokens"]["diagnostics"]["strata"]
    assert [x["accepted"] for x in strata if x["kind"] == "origin"] == [r.accepted for r in rows]
    assert all("accepted" not in x for x in strata if x["kind"] != "origin")
    stored = StoredTokens(0.8, 1.0, 0, 0.05, 0.02, 1.0, True, {"spec": cand})
    assert StoredTokens.from_json(stored.to_json()) == stored


def test_completions_without_origins_keep_their_bytes():
    """A completion stored before origins existed reads back and writes the same bytes (its sha256 is unchanged);
    one with origins round-trips them."""
    import hashlib

    from tais.store import completion_sha256
    from tais.store.canonical import canonical_json

    old = {"item_id": "t/1", "replicate": 0, "text": "Hi", "token_ids": [1, 2], "logprobs": None,
           "finish_reason": "stop", "prompt_tokens": 3, "output_tokens": 2, "wall_s": 0.5, "spec": None, "seed": 7}
    c = Completion.from_dict(old)
    assert c.origins is None and canonical_json(c.to_dict()) == canonical_json(old)
    assert completion_sha256(c) == hashlib.sha256(canonical_json(old).encode()).hexdigest()
    new = replace(c, origins=(0, 6))
    assert new.to_dict()["origins"] == [0, 6] and Completion.from_dict(new.to_dict()) == new
    assert completion_sha256(new) != completion_sha256(c)
