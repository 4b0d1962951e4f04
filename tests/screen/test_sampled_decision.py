"""The T > 0 decision pieces: the per-prompt rate difference against scipy's one-sample t test and a hand-computed
TOST, and each rule of the equivalence-first verdict (tais.screen.sampled), with and without the draft log-ratio, and
figures stored before it existed (loaded with its defaults, decided as before)."""

from __future__ import annotations

import json
from dataclasses import fields, replace

import numpy as np
import pytest
from scipy import stats

from tais.pipeline.sampled import StoredTokens
from tais.screen.sampled import BATTERY, DraftLevel, OutcomeLevel, TokenLevel, contrast, decide, overall
from tais.stats.prompt_rates import prompt_rate_difference, prompts_needed
from tais.types import Role, Verdict


def test_prompt_rate_difference_matches_scipy():
    rng = np.random.default_rng(4)
    ref, cand = rng.uniform(size=30), rng.uniform(size=30)
    r = prompt_rate_difference(ref, cand, margin=0.2, alpha=0.05)
    d = cand - ref
    assert r.p_value == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue, rel=1e-10)
    low, high = stats.t.interval(0.90, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert (r.ci_low, r.ci_high) == (pytest.approx(low), pytest.approx(high))
    upper = stats.ttest_1samp(d, 0.2, alternative="less").pvalue
    lower = stats.ttest_1samp(d, -0.2, alternative="greater").pvalue
    assert r.tost_p == pytest.approx(max(upper, lower), rel=1e-10)
    assert r.cohens_h == pytest.approx(2 * np.arcsin(np.sqrt(cand.mean())) - 2 * np.arcsin(np.sqrt(ref.mean())))


def test_prompts_needed_shrinks_the_interval_inside_the_margin():
    r = prompt_rate_difference([1, .5, .5, 0, 1, 0], [1, .5, 0, 0, 1, .5], margin=0.15, alpha=0.05)
    need = prompts_needed(r)
    assert need is not None and need > r.n_prompts
    # at the needed size, with the same mean and spread, the interval fits inside the margin
    half = stats.t.ppf(0.95, need - 1) * r.se * np.sqrt(r.n_prompts / need)
    assert abs(r.diff) + half < r.margin * 1.05


TOK = TokenLevel(n_tokens=2000, n_prompts=40, theta=0.001, theta_se=0.008, theta_low=-0.012, theta_high=0.014,
                 theta_tost_p=0.001, theta_equivalent=True, surprisal_z=0.1, top1_z=-0.2, pit_a2=0.5,
                 p_holm=(0.9, 0.9, 0.9), rejects=False, mean_varentropy=1.5, hard_leaks=0, soft_leaks=0)


def outcome(diff, low, high, p, equivalent):
    r = prompt_rate_difference([0.5, 0.5], [0.5, 0.5], margin=0.05)
    return OutcomeLevel("t", 4, replace(r, diff=diff, ci_low=low, ci_high=high, p_value=p, equivalent=equivalent))


EQUIVALENT = outcome(0.0, -0.02, 0.02, 0.9, True)


def test_each_rule_of_the_verdict():
    assert decide(TOK, [EQUIVALENT], theta_margin=0.02)[0] is Verdict.PASS
    assert decide(replace(TOK, hard_leaks=1), [EQUIVALENT], theta_margin=0.02)[0] is Verdict.FAIL
    far = replace(TOK, theta=-0.25, rejects=True, theta_equivalent=False, p_holm=(1e-8, 1e-3, 1e-4))
    assert decide(far, [EQUIVALENT], theta_margin=0.02)[0] is Verdict.FAIL
    # a rejection with theta inside the margin is not a FAIL by itself (equivalence first)
    near = replace(TOK, rejects=True, p_holm=(0.01, 0.5, 0.5))
    assert decide(near, [EQUIVALENT], theta_margin=0.02)[0] is Verdict.PASS
    shifted = outcome(0.2, 0.1, 0.3, 1e-4, False)
    assert decide(TOK, [shifted], theta_margin=0.02)[0] is Verdict.FAIL
    wide = outcome(0.0, -0.2, 0.2, 0.9, False)
    verdict, reasons = decide(TOK, [wide], theta_margin=0.02)
    assert verdict is Verdict.INCONCLUSIVE and "outcome interval" in reasons[0]
    c = contrast("a", "r", Role.CANDIDATE, replace(TOK, theta_equivalent=False, theta_low=-0.03), [wide],
                 theta_margin=0.02)
    expected = 2 * (stats.norm.ppf(0.95) + stats.norm.ppf(0.9)) ** 2 / (1.5 * 0.02 ** 2)  # sizing rule, ~17/(v m^2)
    assert c.verdict is Verdict.INCONCLUSIVE and c.tokens_needed == int(np.ceil(expected)) == 28547


def test_overall_counts_candidates_only():
    c = contrast("a", "r", Role.CANDIDATE, TOK, [EQUIVALENT], theta_margin=0.02)
    bad_null = contrast("n", "r", Role.NULL, replace(TOK, hard_leaks=2), [EQUIVALENT], theta_margin=0.02)
    assert overall([c, bad_null]) is Verdict.PASS
    assert overall([bad_null]) is Verdict.INCONCLUSIVE


LEAN = DraftLevel("draft proposer: file:noisy", tilt=0.22, se=0.02, low=0.19, high=0.25, tost_p=1.0,
                  equivalent=False, z=18.0, mean_variance=0.8)
FLAT = DraftLevel("draft proposer: file:noisy", tilt=0.004, se=0.01, low=-0.012, high=0.02, tost_p=1e-4,
                  equivalent=True, z=0.4, mean_variance=0.8)


def with_draft(draft, **changes):
    return replace(TOK, draft=draft, p_holm=changes.pop("p_holm", (0.9, 0.9, 0.9, 0.9)), **changes)


def test_each_rule_with_the_draft_log_ratio():
    # leaning towards the draft: the battery rejects (by the draft test) and lambda is beyond its margin, theta inside
    lean = with_draft(LEAN, rejects=True, p_holm=(0.9, 0.9, 0.9, 1e-60))
    verdict, reasons = decide(lean, [EQUIVALENT], theta_margin=0.02, draft_margin=0.05)
    assert verdict is Verdict.FAIL and "draft test rejects" in reasons[0] and "towards its draft" in reasons[0]
    away = with_draft(replace(LEAN, tilt=-0.2, low=-0.23, high=-0.17), rejects=True, p_holm=(0.9, 0.9, 0.9, 1e-9))
    assert "away from its draft" in decide(away, [EQUIVALENT], theta_margin=0.02, draft_margin=0.05)[1][0]
    # the same lean without a Holm rejection is not a FAIL (rejection and effect size are both needed)
    assert decide(with_draft(LEAN), [EQUIVALENT], theta_margin=0.02, draft_margin=0.05)[0] is Verdict.INCONCLUSIVE
    # a rejection with lambda inside its margin (and theta inside its own) is not a FAIL: equivalence first
    small = with_draft(FLAT, rejects=True, p_holm=(0.9, 0.9, 0.9, 0.01))
    assert decide(small, [EQUIVALENT], theta_margin=0.02, draft_margin=0.05)[0] is Verdict.PASS
    # a PASS needs lambda equivalent where measured
    assert decide(with_draft(FLAT), [EQUIVALENT], theta_margin=0.02, draft_margin=0.05)[0] is Verdict.PASS
    wide = replace(FLAT, low=-0.06, high=0.07, equivalent=False, tost_p=0.2)
    verdict, reasons = decide(with_draft(wide), [EQUIVALENT], theta_margin=0.02, draft_margin=0.05)
    assert verdict is Verdict.INCONCLUSIVE and reasons == ("draft tilt lambda +0.004 [-0.060, +0.070] not inside "
                                                           "+-0.05",)
    # an outcome difference still FAILs; a hard leak still comes first
    shifted = outcome(0.2, 0.1, 0.3, 1e-4, False)
    assert decide(with_draft(FLAT), [shifted], theta_margin=0.02, draft_margin=0.05)[0] is Verdict.FAIL
    assert "hard leak" in decide(replace(lean, hard_leaks=1), [EQUIVALENT], theta_margin=0.02)[1][0]


def test_inconclusive_lambda_asks_for_the_tokens_of_its_sizing_rule():
    wide = replace(FLAT, low=-0.06, high=0.07, equivalent=False, mean_variance=0.8)
    c = contrast("a", "r", Role.CANDIDATE, with_draft(wide), [EQUIVALENT], theta_margin=0.02, draft_margin=0.05)
    expected = 2 * (stats.norm.ppf(0.95) + stats.norm.ppf(0.9)) ** 2 / (0.8 * 0.05 ** 2)  # ~17 / (v m^2)
    assert c.verdict is Verdict.INCONCLUSIVE and c.tokens_needed == int(np.ceil(expected)) == 8564
    both = contrast("a", "r", Role.CANDIDATE, replace(with_draft(wide), theta_equivalent=False), [EQUIVALENT],
                    theta_margin=0.02, draft_margin=0.05)
    assert both.tokens_needed == 28547  # theta's rule (vbar 1.5, margin 0.02) is the larger


def old_figures() -> dict:
    """A token level as stored before the draft log-ratio and the per-arm PIT seed existed."""
    d = {f.name: getattr(TOK, f.name) for f in fields(TokenLevel)}
    for new in ("draft", "draft_skipped", "pit_seed"):
        d.pop(new)
    return json.loads(json.dumps(d))


def test_figures_stored_before_the_draft_log_ratio_load_and_decide_as_before():
    old = TokenLevel.from_dict(old_figures())
    assert old.draft is None and old.battery == BATTERY and old.pit_seed == 0 and old == TOK
    rejecting = TokenLevel.from_dict({**old_figures(), "rejects": True, "theta": -0.25, "theta_equivalent": False,
                                      "p_holm": [1e-8, 1e-3, 1e-4]})
    verdict, reasons = decide(rejecting, [EQUIVALENT], theta_margin=0.02)
    assert verdict is Verdict.FAIL and reasons == ("token-level surprisal test rejects (Holm p 1e-08) with theta "
                                                   "-0.250 beyond +-0.02",)
    assert decide(old, [EQUIVALENT], theta_margin=0.02) == (Verdict.PASS, (
        "theta +0.001 [-0.012, +0.014] and every outcome interval inside their margins",))
    stored = {"temperature": 0.8, "top_p": 1.0, "top_k": 0, "theta_margin": 0.02, "tau_p": 0.02, "tau_logit": 1.0,
              "exact_laws": True, "arms": {"c": old_figures()}}
    back = StoredTokens.from_json(json.dumps(stored))
    assert back.draft_margin == 0.05 and back.arms["c"] == TOK


def test_figures_with_the_draft_log_ratio_round_trip_through_the_store_json():
    level = with_draft(LEAN, rejects=True, p_holm=(0.9, 0.9, 0.9, 1e-60), pit_seed=12345)
    stored = StoredTokens(0.8, 1.0, 0, 0.02, 0.02, 1.0, True, {"c": level}, 0.07)
    back = StoredTokens.from_json(stored.to_json())
    assert back == stored and back.arms["c"].battery == (*BATTERY, "draft")


def _h0_rejection_rate(g: int, r: int, sims: int, rng: np.random.Generator, floors: bool) -> float:
    """Share of simulated A/A screens (per-prompt rates pi_i ~ U(0, 1), the same in both arms, r replicates each)
    whose outcome difference is significant at 5%."""
    pi = rng.uniform(size=(sims, g))
    ref, cand = rng.binomial(r, pi) / r, rng.binomial(r, pi) / r
    hits = 0
    for a, b in zip(ref, cand):
        if floors:
            hits += prompt_rate_difference(a, b, margin=0.1, replicates=r).p_value < 0.05
        else:  # the bare one-sample t test, zero spread read as p 0 when the mean differs
            d = b - a
            sd = d.std(ddof=1)
            hits += (d.mean() != 0) if sd == 0 else stats.ttest_1samp(d, 0.0).pvalue < 0.05
    return hits / sims


def test_with_few_prompts_the_floors_keep_the_a_a_false_difference_rate_at_alpha():
    """Simulation: 2 prompts x 3 replicates (a small smoke screen). The bare t test calls identical per-prompt
    differences (spread 0) a certain difference and exceeds alpha (measured 0.09); with the floors the rate stays at
    or under 5% (binomial 99% bound over 3 000 A/A screens; measured 0.000, and 0.010 at 6 prompts: conservative)."""
    rng = np.random.default_rng(11)
    bare = _h0_rejection_rate(2, 3, 3000, rng, floors=False)
    floored = _h0_rejection_rate(2, 3, 3000, rng, floors=True)
    print(f"\nA/A, 2 prompts x 3 replicates: bare t test {bare:.3f}, with floors {floored:.3f}")
    assert bare > stats.binom.ppf(0.99, 3000, 0.05) / 3000  # the positive control: the flaw is real
    assert floored <= stats.binom.ppf(0.99, 3000, 0.05) / 3000


def test_zero_spread_needs_enough_prompts_for_equivalence_and_a_real_shift_is_still_found():
    # two prompts, both never refusing in either arm: not an equivalence (rule of three: +-1.5)
    assert not prompt_rate_difference([0, 0], [0, 0], margin=0.03, replicates=3).equivalent
    # 200 such prompts: +-0.015, inside a 0.03 margin
    assert prompt_rate_difference(np.zeros(200), np.zeros(200), margin=0.03, replicates=3).equivalent
    # 30 prompts x 4 replicates whose rate drops by half: still a significant difference
    rng = np.random.default_rng(2)
    pi = rng.uniform(0.4, 0.9, size=30)
    ref, cand = rng.binomial(4, pi) / 4, rng.binomial(4, pi / 2) / 4
    assert prompt_rate_difference(ref, cand, margin=0.03, replicates=4).p_value < 0.001


def test_laws_without_information_are_inconclusive_not_a_crash():
    """Every judged law deterministic (one listed token each): theta is undefined, so the arm is INCONCLUSIVE with
    the reason; a hard leak still FAILs. Positive control: the same tokens under informative laws are judged."""
    from tais.screen.sampled import token_level
    from tais.stats.predictable import ReferenceLaws

    flat = ReferenceLaws.top(np.full((40, 1), 3), np.ones((40, 1)))
    level = token_level(flat, np.full(40, 3), np.arange(40) // 10, hard_leaks=0, soft_leaks=0, theta_margin=0.02,
                        alpha=0.05, left_out=7)
    verdict, reasons = decide(level, (), theta_margin=0.02)
    assert verdict is Verdict.INCONCLUSIVE
    assert "no token carries information" in reasons[0] and "7 left out" in reasons[0]
    assert decide(replace(level, hard_leaks=1), (), theta_margin=0.02)[0] is Verdict.FAIL
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=40)
    judged = token_level(ReferenceLaws.full(p), (p.cumsum(1) > rng.uniform(size=(40, 1))).argmax(1),
                         np.arange(40) // 10, hard_leaks=0, soft_leaks=0, theta_margin=0.02, alpha=0.05)
    assert judged.mean_varentropy > 0 and "no token" not in " ".join(decide(judged, (), theta_margin=0.02)[1])
