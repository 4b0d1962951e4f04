"""The reference's sampling law at an emitted token, from full log-probability rows (``exact_law``) and from a top-k
list (``listed_law``), and the hard / soft leak rules, on hand-made rows whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tais.pipeline.config import SampledModel
from tais.pipeline.sampled import exact_law, listed_law
from tais.types import PositionScore, SamplingParams, TokenScores

# one position, five tokens with probabilities 0.5, 0.3, 0.15, 0.04, 0.01 (token id = column)
ROW = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.04, 0.01]]))


def test_temperature_one_without_cuts_is_the_row_itself_and_nothing_leaks():
    ids, probs, hard, soft = exact_law(ROW, [4], SamplingParams(temperature=1.0), SampledModel(top=5))
    assert ids[0].tolist() == [0, 1, 2, 3, 4]
    assert probs[0] == pytest.approx([0.5, 0.3, 0.15, 0.04, 0.01], abs=1e-6)
    assert not hard.any() and not soft.any()


def test_top_p_soft_and_hard_leaks():
    # top_p 0.8: mass before token 2 is 0.8 >= p -> cut; the law is (0.5, 0.3)/0.8
    sampling = SamplingParams(temperature=1.0, top_p=0.8)
    settings = SampledModel(top=5, tau_p=0.1)
    _, probs, hard, soft = exact_law(ROW.expand(3, 5), [1, 2, 3], sampling, settings)
    assert probs[0][:2] == pytest.approx([0.625, 0.375], abs=1e-6)
    assert soft.tolist() == [False, True, True]
    # token 2: mass before it 0.8 < p + tau = 0.9 -> soft only; token 3: 0.95 >= 0.9 -> hard
    assert hard.tolist() == [False, False, True]


def test_top_k_hard_leak_counts_scaled_logit_steps():
    sampling = SamplingParams(temperature=0.5, top_k=2)
    # scaled logits log(p) / 0.5: token 2 is 2 * log(0.3 / 0.15) = 1.386 below the 2nd, token 3 is 4.0 below
    _, _, hard, soft = exact_law(ROW.expand(2, 5), [2, 3], sampling, SampledModel(top=5, tau_logit=2.0))
    assert soft.tolist() == [True, True] and hard.tolist() == [False, True]


def test_listed_law_tempers_the_top_tokens_and_bounds_the_tail():
    top = ((0, math.log(0.5)), (1, math.log(0.3)), (2, math.log(0.15)))
    scores = TokenScores("q", 0, (1,), (PositionScore(logprob=math.log(0.3), top1_id=0, top1_logprob=math.log(0.5),
                                                      top=top, entropy=None, exact=True),))
    ids, probs, hard, soft = listed_law(scores, SamplingParams(temperature=0.5), SampledModel(top=3))
    # at T = 0.5 weights 0.25, 0.09, 0.0225 and the rest 0.05 bounded by 0.05 * 0.15 = 0.0075
    total = 0.25 + 0.09 + 0.0225 + 0.0075
    assert ids[0].tolist() == [0, 1, 2]
    assert probs[0] == pytest.approx(np.array([0.25, 0.09, 0.0225]) / total, rel=1e-9)
    assert not hard.any() and not soft.any()


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
