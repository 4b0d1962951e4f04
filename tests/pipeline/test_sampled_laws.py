"""The reference's sampling law at an emitted token, from full log-probability rows (``exact_law``) and from a top-k
list (``listed_law``), and the hard / soft leak rules, on hand-made rows whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tais.pipeline.config import SampledModel
from tais.pipeline.sampled import PositionLaws, exact_law, listed_law
from tais.types import PositionScore, SamplingParams, TokenScores

# one position, five tokens with probabilities 0.5, 0.3, 0.15, 0.04, 0.01 (token id = column)
ROW = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.04, 0.01]]))


def test_temperature_one_without_cuts_is_the_row_itself_and_nothing_leaks():
    ids, probs, hard, soft, kept, bound = exact_law(ROW, [4], SamplingParams(temperature=1.0), SampledModel(top=5))
    assert ids[0].tolist() == [0, 1, 2, 3, 4]
    assert probs[0] == pytest.approx([0.5, 0.3, 0.15, 0.04, 0.01], abs=1e-6)
    assert not hard.any() and not soft.any() and kept.all() and not bound.any()  # an exact law lists every token


def test_top_p_soft_and_hard_leaks():
    # top_p 0.8: mass before token 2 is 0.8 >= p -> cut; the law is (0.5, 0.3)/0.8
    sampling = SamplingParams(temperature=1.0, top_p=0.8)
    settings = SampledModel(top=5, tau_p=0.1)
    _, probs, hard, soft, _, _ = exact_law(ROW.expand(3, 5), [1, 2, 3], sampling, settings)
    assert probs[0][:2] == pytest.approx([0.625, 0.375], abs=1e-6)
    assert soft.tolist() == [False, True, True]
    # token 2: mass before it 0.8 < p + tau = 0.9 -> soft only; token 3: 0.95 >= 0.9 -> hard
    assert hard.tolist() == [False, False, True]


def test_top_k_hard_leak_counts_scaled_logit_steps():
    sampling = SamplingParams(temperature=0.5, top_k=2)
    # scaled logits log(p) / 0.5: token 2 is 2 * log(0.3 / 0.15) = 1.386 below the 2nd, token 3 is 4.0 below
    _, _, hard, soft, _, _ = exact_law(ROW.expand(2, 5), [2, 3], sampling, SampledModel(top=5, tau_logit=2.0))
    assert soft.tolist() == [True, True] and hard.tolist() == [False, True]


def _position(token: int, top: tuple[tuple[int, float], ...]) -> PositionScore:
    return PositionScore(logprob=dict(top).get(token, -30.0), top1_id=top[0][0], top1_logprob=top[0][1], top=top,
                         entropy=None, exact=False)


def test_listed_law_is_the_tempered_law_conditioned_on_the_listed_tokens():
    top = ((0, math.log(0.5)), (1, math.log(0.3)), (2, math.log(0.15)))
    scores = TokenScores("q", 0, (1, 4), (_position(1, top), _position(4, top)))
    ids, probs, hard, soft, kept, bound = listed_law(scores, SamplingParams(temperature=0.5), SampledModel(top=3))
    # at T = 0.5 weights 0.25, 0.09, 0.0225, renormalised over the listed three (the unlisted 0.05 plays no part)
    assert ids[0].tolist() == [0, 1, 2]
    assert probs[0] == pytest.approx(np.array([0.25, 0.09, 0.0225]) / 0.3625, rel=1e-9)
    assert kept.tolist() == [True, False]  # token 4 is not listed: left out
    assert not hard.any() and not soft.any()
    # the unlisted mass is at most 0.05 x 0.15 (each unlisted token at most the last listed one's 0.15, tempered)
    assert bound == pytest.approx([0.0075 / (0.3625 + 0.0075)] * 2, rel=1e-9)


def test_listed_law_top_k_below_the_list_makes_the_cut_tokens_soft_leaks():
    top = ((0, math.log(0.5)), (1, math.log(0.3)), (2, math.log(0.15)))
    scores = TokenScores("q", 0, (2,), (_position(2, top),))
    _, probs, _, soft, kept, bound = listed_law(scores, SamplingParams(temperature=1.0, top_k=2), SampledModel(top=3))
    assert probs[0] == pytest.approx([0.625, 0.375, 0.0]) and soft.tolist() == [True] and kept.tolist() == [True]
    assert bound.tolist() == [0.0]  # top-k cut inside the list: no unlisted token is possible


def _listed_trial(rng: np.random.Generator, logits: np.ndarray, temperature: float, sampler_temperature: float,
                  listed: int) -> tuple[np.ndarray, ...]:
    """One trial: a sampler at ``sampler_temperature`` draws one token per position from full laws over a long-tailed
    vocabulary; the reference reports only its ``listed`` most likely raw log-probabilities, as vLLM's top-k does."""
    from tais.stats.predictable import ReferenceLaws

    raw = logits - np.log(np.exp(logits).sum(1, keepdims=True))  # [n, vocab] raw log-probabilities
    law = np.exp(raw / sampler_temperature)
    law /= law.sum(1, keepdims=True)
    tokens = (law.cumsum(1) > rng.uniform(size=(len(law), 1))).argmax(1)
    order = np.argsort(-raw, axis=1)[:, :listed]
    parts = [listed_law(TokenScores("q", 0, (int(x),), (_position(int(x), tuple(
        (int(i), float(raw[j, i])) for i in order[j])),)), SamplingParams(temperature=temperature),
        SampledModel(top=listed)) for j, x in enumerate(tokens)]
    ids, probs, _, _, kept, bound = PositionLaws.concatenated(parts)
    clusters = np.arange(len(tokens)) // 20
    return ReferenceLaws.top(ids[kept], probs[kept]), tokens[kept], clusters[kept], kept, bound


def test_listed_laws_keep_the_tests_calibrated_and_see_a_hotter_sampler():
    """Simulation: a vocabulary of 400 with a long tail (about 10% of the mass beyond the top 20 at T = 0.8), laws
    from the top 20 only. A sampler at the reference's temperature: the Holm battery rejects at about its 5% (the
    tail bound used before gave theta -0.3 and rejected a correct vLLM sampler); positive control: a sampler at
    T = 0.96 (20% hotter) is rejected with theta > 0 in nearly every trial. The count of tokens outside the list
    (tais.stats.tail_count) never rejects the correct sampler (its bound is conservative) and sees the hotter one."""
    from scipy.stats import binom

    from tais.stats.sampling_law import sampling_law_test
    from tais.stats.tail_count import tail_count_test

    rng = np.random.default_rng(5)
    trials, n = 60, 400
    rejected, thetas, hot_rejected, unlisted, tail_aa, tail_hot = 0, [], 0, 0, 0, 0
    for _ in range(trials):
        logits = rng.normal(size=(n, 400)) * 1.5 + np.linspace(20.0, 0.0, 400)
        laws, tokens, clusters, kept, bound = _listed_trial(rng, logits, 0.8, 0.8, 20)
        tail_aa += tail_count_test(~kept, bound).p_value < 0.05
        result = sampling_law_test(laws, tokens, clusters, margin=0.05, seed=int(rng.integers(1 << 30)))
        rejected += result.combined.reject
        thetas.append(result.tempering.theta)
        unlisted += int((~kept).sum())
        laws, tokens, clusters, kept, bound = _listed_trial(rng, logits, 0.8, 0.96, 20)
        tail_hot += tail_count_test(~kept, bound).p_value < 0.05
        hot = sampling_law_test(laws, tokens, clusters, margin=0.05, seed=int(rng.integers(1 << 30)))
        hot_rejected += hot.combined.reject and hot.tempering.theta > 0
    share = unlisted / (trials * n)
    print(f"\nlisted laws: {rejected}/{trials} A/A rejected, mean theta {np.mean(thetas):+.4f}, "
          f"unlisted share {share:.3f}; hotter sampler rejected {hot_rejected}/{trials}; tail count rejects "
          f"{tail_aa}/{trials} A/A, {tail_hot}/{trials} hotter")
    assert 0.03 < share < 0.3  # the tail is really there
    assert rejected <= binom.ppf(0.99, trials, 0.05)
    assert abs(np.mean(thetas)) < 3 * np.std(thetas) / np.sqrt(trials)
    assert hot_rejected >= 0.9 * trials
    assert tail_aa <= binom.ppf(0.99, trials, 0.05) and tail_hot > tail_aa


def test_stored_token_figures_round_trip_through_the_store(tmp_path):
    """What the phase stores is what a re-screen (or `tais verify`) reads back, field for field."""
    from tais.pipeline.sampled import StoredTokens, load_stored, meta_key
    from tais.screen.sampled import TokenLevel
    from tais.store import RunStore

    level = TokenLevel(n_tokens=10, n_prompts=2, theta=-0.25, theta_se=0.1, theta_low=-0.4, theta_high=-0.1,
                       theta_tost_p=0.9, theta_equivalent=False, surprisal_z=-3.0, top1_z=2.0, pit_a2=4.0,
                       p_holm=(0.01, 0.02, 0.03), rejects=True, mean_varentropy=1.2, hard_leaks=1, soft_leaks=2,
                       pit_histogram=(1, 2, 3, 4, 0, 0, 0, 0, 0, 0))
    stored = StoredTokens(0.8, 0.9, 40, 0.02, 0.02, 1.0, True, {"cand": level})
    with RunStore(tmp_path / "s.sqlite") as store:
        assert load_stored(store, 7) is None
        store.put_meta(meta_key(7), stored.to_json())
        assert load_stored(store, 7) == stored


def test_listed_law_leaves_out_a_position_whose_top_p_cut_depends_on_the_unlisted_mass():
    # listed 0.5, 0.3 (rest 0.2, each unlisted token at most 0.3). T = 1, top-p 0.6: without the rest the mass before
    # token 1 is 0.5 / 0.8 = 0.625 >= 0.6 (cut); with the rest at its bound, 0.5 / 1.0 = 0.5 < 0.6 (kept): ambiguous
    top = ((0, math.log(0.5)), (1, math.log(0.3)))
    scores = TokenScores("q", 0, (0,), (_position(0, top),))
    *_, kept, bound = listed_law(scores, SamplingParams(temperature=1.0, top_p=0.6), SampledModel(top=2))
    assert kept.tolist() == [False] and np.isnan(bound[0])  # ambiguous: out of the tail count too
    # top-p 0.4: token 1 is cut either way (0.5 / 1.0 >= 0.4), so the position is judged, token 1 a soft leak
    scores = TokenScores("q", 0, (1,), (_position(1, top),))
    _, probs, _, soft, kept, bound = listed_law(scores, SamplingParams(temperature=1.0, top_p=0.4), SampledModel(top=2))
    assert kept.tolist() == [True] and soft.tolist() == [True] and probs[0].tolist() == [1.0, 0.0]
    assert bound.tolist() == [0.0]  # the nucleus ends inside the list
