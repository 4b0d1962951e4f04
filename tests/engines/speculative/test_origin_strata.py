"""Origin strata of a speculative sampler (draft slot j of its round, bonus, target-only), simulated with the engine's
own rejection rule (``rejection_sample``, lossless and with the planted bug ``resample_from_target``) on small known
laws, and checked against an independent computation.

Theory (worked out before the code; q the target's law at a position, p the draft's, beta = sum min(p, q)):

- A lossless round emits at slot j the token ``x`` with P(accepted, x) = min(p, q)(x), P(recovered, x) =
  max(0, q - p)(x): summed, ``q``. Whether a position is the j-th of its round is fixed before its token is drawn
  (by the round's earlier acceptances), so "slot j" is a predictable selection and its surprisal Z is N(0, 1) under
  H0. "Accepted" or "recovered" alone is not: the accepted tokens follow min(p, q) / beta, and their centred surprisal
  has mean Cov_q(min(1, p/q), -log q) / beta, not 0 (positive for a flatter draft), the recovered ones the opposite.
- ``resample_from_target`` recovers from q: at slot j the law is min(p, q) + (1 - beta) q, an excess of centred
  surprisal of sum (min(p, q) - beta q)(-log q) = Cov_q(min(1, p/q), -log q) per token, >= 0 when p/q falls as q
  rises (a flatter draft, p ~ q^a, a < 1: the sampler runs hot), <= 0 for a sharper one; all of it in the slot
  strata (the joint law of the accepted tokens is the lossless one); bonus and target-only tokens come from q: no
  excess.
- The draft log-ratio h = log p - log q has under the bug the excess sum (min(p, q) - beta q) log(p / q) =
  Cov_q(min(1, p/q), log(p/q)) >= 0 per slot token (both non-decreasing in p/q), whatever the draft's shape (a
  merely noisy draft included), again all in the slot strata.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from tais.engines.speculative.planted import PlantedBug
from tais.engines.speculative.rejection import rejection_sample
from tais.screen.sampled_diagnostics import StratumKind, sampled_diagnostics
from tais.stats.outcome_split import OutcomeSplit, split_terms
from tais.stats.predictable import ReferenceLaws, log_ratio_scores
from tais.stats.strata import ScoreTerms, origin_strata, scored_test, stratified_tests
from tais.types import TARGET_ORIGIN, OriginKind, TokenOrigin, round_origins

VOCAB, K, LENGTH = 12, 3, 20


def position_laws(rng: np.random.Generator, flatten: float,
                  noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The target's law q [LENGTH, VOCAB] at each output position (a function of the position alone, so every
    selection by position or round is predictable) and the draft's, p proportional to q**flatten exp(noise N(0, 1))."""
    logits = rng.normal(size=(LENGTH, VOCAB)) * rng.uniform(1.0, 3.0, size=(LENGTH, 1))
    q = np.exp(logits - logits.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    p = q ** flatten * np.exp(noise * rng.normal(size=q.shape))
    return q, p / p.sum(1, keepdims=True)


def simulate(q: np.ndarray, p: np.ndarray, rows: int, seed: int,
             bug: PlantedBug | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` completions of LENGTH tokens by speculative sampling with k = K through ``rejection_sample``: the
    tokens [rows, LENGTH] and their origin codes (the decoders' ``round_origins``), the first token target-only."""
    gen = torch.Generator().manual_seed(seed)
    qt, pt = torch.tensor(q, dtype=torch.float64), torch.tensor(p, dtype=torch.float64)
    tokens = np.zeros((rows, LENGTH), dtype=np.int64)
    origins = np.zeros((rows, LENGTH), dtype=np.int64)
    tokens[:, 0] = torch.multinomial(qt[0].expand(rows, -1), 1, generator=gen)[:, 0].numpy()
    origins[:, 0] = TARGET_ORIGIN
    filled = np.ones(rows, dtype=np.int64)
    while (filled < LENGTH).any():
        at = torch.tensor(np.minimum(filled[:, None] + np.arange(K + 1), LENGTH - 1))  # [rows, K+1] positions
        draft_probs = pt[at[:, :K]]  # [rows, K, VOCAB]
        drafts = torch.multinomial(draft_probs.reshape(-1, VOCAB), 1, generator=gen).reshape(rows, K)
        accept_u = torch.rand(rows, K, generator=gen, dtype=torch.float64)
        sample_u = torch.rand(rows, K + 1, generator=gen, dtype=torch.float64)
        counts, last = rejection_sample(qt[at], draft_probs, drafts, torch.full((rows,), K), accept_u, sample_u,
                                        bug=bug)
        for i in np.flatnonzero(filled < LENGTH):
            a = int(counts[i])
            emitted = [*drafts[i, :a].tolist(), int(last[i])]
            for token, code in zip(emitted, round_origins(a, K)):
                if filled[i] < LENGTH:
                    tokens[i, filled[i]], origins[i, filled[i]] = token, code
                    filled[i] += 1
    return tokens, origins


def by_hand(q: np.ndarray, tokens: np.ndarray, mask: np.ndarray) -> float:
    """The surprisal Z of the tokens where ``mask`` holds, summed in plain numpy (no clip reached: q >= 1e-4)."""
    law = q[np.broadcast_to(np.arange(LENGTH), tokens.shape)[mask]]  # [n, VOCAB]
    h = -np.log(law)
    mean = (law * h).sum(1)
    var = (law * h * h).sum(1) - mean ** 2
    observed = h[np.arange(mask.sum()), tokens[mask]]
    return float((observed - mean).sum() / np.sqrt(var.sum()))


def origin_z(q: np.ndarray, tokens: np.ndarray, origins: np.ndarray) -> dict[str, float]:
    laws = ReferenceLaws.full(np.tile(q, (len(tokens), 1)))
    index, labels, _ = origin_strata(origins.ravel())
    tests = stratified_tests(laws, tokens.ravel(), index, len(labels))
    return {label: t.z for label, t in zip(labels, tests)}


def excess(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The planted bug's expected centred surprisal per token at each position [LENGTH]: sum (min(p, q) - beta q)
    (-log q)."""
    m = np.minimum(p, q)
    return ((m - m.sum(1, keepdims=True) * q) * -np.log(q)).sum(1)


def test_origin_strata_z_matches_a_hand_computation_and_the_origins_a_round_records():
    rng = np.random.default_rng(1)
    q, p = position_laws(rng, 0.5)
    q = np.maximum(q, 1e-4)
    q /= q.sum(1, keepdims=True)
    tokens, origins = simulate(q, p, rows=40, seed=2)
    kinds, slots = origins % 4, origins // 4
    for row_kinds, row_slots in zip(kinds, slots):  # each round: accepted at 1 .. a, then recovered or bonus
        assert row_kinds[0] == OriginKind.TARGET and (row_kinds[1:] != OriginKind.TARGET).all()
        for t in range(1, LENGTH):
            expected = 1 if row_kinds[t - 1] != OriginKind.ACCEPTED else row_slots[t - 1] + 1
            assert row_slots[t] == expected
            assert row_kinds[t] != OriginKind.BONUS or row_slots[t] == K + 1
            assert row_kinds[t] not in (OriginKind.ACCEPTED, OriginKind.RECOVERED) or row_slots[t] <= K
    z = origin_z(q, tokens, origins)
    assert list(z) == ["target-only", "slot 1", "slot 2", "slot 3", "bonus"]
    for label, mask in [("target-only", kinds == OriginKind.TARGET), ("bonus", kinds == OriginKind.BONUS),
                        *((f"slot {j}", (slots == j) & (kinds != OriginKind.BONUS)) for j in range(1, K + 1))]:
        assert mask.sum() > 10
        assert z[label] == pytest.approx(by_hand(q, tokens, mask), rel=1e-9, abs=1e-12)


def test_lossless_slot_strata_are_standard_normal_and_accepted_alone_is_not():
    """(c) Under H0 each origin stratum's Z is N(0, 1) (KS over 60 trials); the positive control: the accepted
    tokens alone, not a predictable selection, are biased hot for a flatter draft, as the theory says."""
    rng = np.random.default_rng(5)
    collected: dict[str, list[float]] = {}
    accepted_alone = []
    for trial in range(60):
        q, p = position_laws(rng, 0.5)
        tokens, origins = simulate(q, p, rows=30, seed=100 + trial)
        for label, z in origin_z(q, tokens, origins).items():
            collected.setdefault(label, []).append(z)
        accepted = (origins % 4 == OriginKind.ACCEPTED)
        accepted_alone.append(by_hand(q, tokens, accepted))
    for label, zs in collected.items():
        assert stats.kstest(zs, "norm").pvalue > 0.01, (label, np.mean(zs), np.std(zs))
        assert abs(np.mean(zs)) < 0.45 and 0.7 < np.std(zs) < 1.35, label
    means = {k: round(float(np.mean(v)), 2) for k, v in collected.items()}
    print(f"\nlossless, 60 trials: mean Z per stratum {means}; accepted alone {np.mean(accepted_alone):+.2f}")
    assert np.mean(accepted_alone) > 1.5 and stats.kstest(accepted_alone, "norm").pvalue < 1e-6


@pytest.mark.parametrize("flatten, sign", [(0.5, +1), (1.6, -1)])
def test_resample_from_target_shows_in_the_slot_strata_only(flatten, sign):
    """(b) The planted bug's surprisal excess sits in the draft-slot strata, with the sign the theory gives (hot for a
    flatter draft, cold for a sharper one) and about its expected size; the bonus and target-only strata stay
    N(0, 1)-sized; the lossless rule with the same draft and noise shows nothing (negative control)."""
    rng = np.random.default_rng(7)
    q, p = position_laws(rng, flatten)
    expected = excess(q, p)
    assert np.sign(expected.mean()) == sign and (np.sign(expected) != -sign).all()
    tokens, origins = simulate(q, p, rows=400, seed=3, bug=PlantedBug.RESAMPLE_FROM_TARGET)
    z = origin_z(q, tokens, origins)
    clean = origin_z(q, *simulate(q, p, rows=400, seed=3))
    print(f"\nflatten {flatten}: planted {({k: round(v, 1) for k, v in z.items()})}, "
          f"lossless {({k: round(v, 1) for k, v in clean.items()})}")
    for j in range(1, K + 1):
        mask = (origins // 4 == j) & (origins % 4 != OriginKind.BONUS)
        law = q[np.broadcast_to(np.arange(LENGTH), tokens.shape)[mask]]
        mean = (law * -np.log(law)).sum(1)
        sd = np.sqrt(((law * np.log(law) ** 2).sum(1) - mean ** 2).sum())
        predicted = expected[np.broadcast_to(np.arange(LENGTH), tokens.shape)[mask]].sum() / sd
        assert sign * z[f"slot {j}"] > 3 and z[f"slot {j}"] == pytest.approx(predicted, abs=3.0), (j, predicted)
    assert abs(z["bonus"]) < 3.5 and abs(z["target-only"]) < 3.5
    assert all(abs(v) < 3.5 for v in clean.values())


@pytest.mark.parametrize("flatten, noise", [(0.5, 0.0), (1.6, 0.0), (1.0, 1.0)])
def test_resample_from_target_shows_in_the_draft_log_ratio_of_the_slot_strata(flatten, noise):
    """The draft log-ratio per origin stratum: the planted bug's excess is positive in every slot stratum for a
    flatter, a sharper and a merely noisy draft (about its predicted size), nothing in bonus and target-only; the
    lossless rule shows nothing."""
    rng = np.random.default_rng(8)
    q, p = position_laws(rng, flatten, noise)
    m = np.minimum(p, q)
    predicted_excess = ((m - m.sum(1, keepdims=True) * q) * np.log(p / q)).sum(1)  # [LENGTH], each >= 0
    assert (predicted_excess >= 0).all()
    at = np.broadcast_to(np.arange(LENGTH), (400, LENGTH))
    for bug in (PlantedBug.RESAMPLE_FROM_TARGET, None):
        tokens, origins = simulate(q, p, rows=400, seed=9, bug=bug)
        terms = ScoreTerms(*log_ratio_scores(q[at.ravel()], p[at.ravel()], tokens.ravel()))
        index, labels, _ = origin_strata(origins.ravel())
        z = {label: scored_test(terms, index == i).z for i, label in enumerate(labels)}
        print(f"\nflatten {flatten}, noise {noise}, {bug}: {({k: round(v, 1) for k, v in z.items()})}")
        if bug is None:
            assert all(abs(v) < 3.5 for v in z.values())
            continue
        for j in range(1, K + 1):
            mask = index == j
            predicted = predicted_excess[at.ravel()[mask]].sum() / np.sqrt(np.asarray(terms.variance)[mask].sum())
            assert z[f"slot {j}"] > 3 and z[f"slot {j}"] == pytest.approx(predicted, abs=3.0), (j, predicted)
        assert abs(z["bonus"]) < 3.5 and abs(z["target-only"]) < 3.5


def split_z(q, p, tokens, origins, score):
    """Z of the accepted part at each slot and of the recovered part over the slots (:mod:`tais.stats.outcome_split`),
    and the recovered part's predicted Z under the planted bug."""
    at = np.broadcast_to(np.arange(LENGTH), tokens.shape)[tokens >= 0]
    codes = origins.ravel()
    slot = np.where(codes % 4 == 3, 0, codes // 4)  # 0: not a drafted slot (target-only, bonus)
    drafted = slot > 0
    h = score(q)[at[drafted]]  # [n, VOCAB]
    accepted, recovered = split_terms(q[at[drafted]], p[at[drafted]], h, tokens.ravel()[drafted],
                                      codes[drafted] % 4 == OriginKind.ACCEPTED)
    z = {f"accepted@{j}": scored_test(accepted, slot[drafted] == j).z for j in range(1, K + 1)}
    z["recovered"] = scored_test(recovered).z
    m = np.minimum(p, q)
    per_token = ((m - m.sum(1, keepdims=True) * q) * score(q)).sum(1)  # the bug's excess [LENGTH]
    predicted = per_token[at[drafted]].sum() / np.sqrt(np.asarray(recovered.variance).sum())
    return z, predicted


def surprisal(q):
    return -np.log(q)


def log_ratio(p):
    """The draft log-ratio log p - log q as a score of q."""
    return lambda q: np.log(p / q)


@pytest.mark.parametrize("flatten, noise", [(0.5, 0.0), (1.0, 1.0)])
def test_the_split_puts_the_planted_bug_in_the_recovered_part_and_is_standard_normal_when_lossless(flatten, noise):
    """(b) Centred on min(p, q) and max(0, q - p), the accepted parts stay N(0, 1)-sized under resample_from_target and
    the recovered part carries its excess (the size predicted); (c) lossless: every part's Z is N(0, 1) over trials
    (KS), for the surprisal and the draft log-ratio."""
    rng = np.random.default_rng(12)
    q, p = position_laws(rng, flatten, noise)
    tokens, origins = simulate(q, p, rows=400, seed=21, bug=PlantedBug.RESAMPLE_FROM_TARGET)
    for name, score in (("surprisal", surprisal), ("log-ratio", log_ratio(p))):
        z, predicted = split_z(q, p, tokens, origins, score)
        print(f"\nflatten {flatten}, noise {noise}, planted, {name}: {({k: round(v, 1) for k, v in z.items()})}, "
              f"recovered predicted {predicted:+.1f}")
        assert all(abs(z[f"accepted@{j}"]) < 3.5 for j in range(1, K + 1))
        assert abs(z["recovered"]) > 4 and z["recovered"] == pytest.approx(predicted, abs=3.0)
    collected: dict[str, list[float]] = {}
    for trial in range(40):
        q, p = position_laws(rng, flatten, noise)
        tokens, origins = simulate(q, p, rows=30, seed=300 + trial)
        for name, score in (("surprisal", surprisal), ("log-ratio", log_ratio(p))):
            for label, v in split_z(q, p, tokens, origins, score)[0].items():
                collected.setdefault(f"{name} {label}", []).append(v)
    for label, zs in collected.items():
        assert stats.kstest(zs, "norm").pvalue > 0.01, (label, np.mean(zs), np.std(zs))


def test_diagnostics_rows_of_an_arm_with_origins():
    """The origin rows join the diagnostics (Holm over every row) with their accepted counts; an arm without origins
    has none."""
    rng = np.random.default_rng(11)
    q, p = position_laws(rng, 0.5)
    tokens, origins = simulate(q, p, rows=20, seed=4)
    laws = ReferenceLaws.full(np.tile(q, (20, 1)))
    common = dict(arm_groups=[[tuple(r)] for r in tokens], reference_groups=[[(0,)]] * 20)
    d = sampled_diagnostics(laws, tokens.ravel(), np.repeat(np.arange(20), LENGTH), [LENGTH] * 20,
                            origins=origins.ravel(), **common)
    rows = [s for s in d.strata if s.kind is StratumKind.ORIGIN]
    assert [s.label for s in rows] == ["target-only", "slot 1", "slot 2", "slot 3", "bonus"]
    assert sum(s.n_tokens for s in rows) == tokens.size and rows[0].n_tokens == 20
    for s in rows[1:4]:
        j = int(s.label.split()[1])
        assert s.accepted == int((origins == TokenOrigin(OriginKind.ACCEPTED, j).code).sum())
    assert len(d.strata) == 8 + 5
    p_values = sorted(s.p_value for s in d.strata)  # Holm over the 13, by hand: max over i of (m - i) p_(i), capped
    holm = np.minimum(1, np.maximum.accumulate([(13 - i) * v for i, v in enumerate(p_values)]))
    assert sorted(s.p_holm for s in d.strata) == pytest.approx(holm.tolist())
    plain = sampled_diagnostics(laws, tokens.ravel(), np.repeat(np.arange(20), LENGTH), [LENGTH] * 20, **common)
    assert len(plain.strata) == 8 and all(s.accepted is None for s in plain.strata)
    at = np.tile(np.arange(LENGTH), 20)
    terms = ScoreTerms(*log_ratio_scores(q[at], p[at], tokens.ravel()))
    with_draft = sampled_diagnostics(laws, tokens.ravel(), np.repeat(np.arange(20), LENGTH), [LENGTH] * 20,
                                     origins=origins.ravel(), draft=terms, **common)
    draft_rows = [s for s in with_draft.strata if s.kind is StratumKind.ORIGIN_DRAFT]
    assert [(s.label, s.n_tokens, s.accepted) for s in draft_rows] == [(s.label, s.n_tokens, s.accepted) for s in rows]
    slot2 = (origins.ravel() // 4 == 2) & (origins.ravel() % 4 != OriginKind.BONUS)
    h, mean, var = (np.asarray(a)[slot2] for a in terms)
    assert draft_rows[2].z == pytest.approx((h - mean).sum() / np.sqrt(var.sum()), rel=1e-12)
    assert draft_rows[2].theta == pytest.approx((h - mean).sum() / var.sum(), rel=1e-12)
    assert len(with_draft.strata) == 8 + 5 + 5
    codes = origins.ravel()
    drafted = (codes % 4 == OriginKind.ACCEPTED) | (codes % 4 == OriginKind.RECOVERED)
    parts = [*split_terms(q[at], p[at], -np.log(q[at]), tokens.ravel(), codes % 4 == OriginKind.ACCEPTED),
             *split_terms(q[at], p[at], np.log(p[at] / q[at]), tokens.ravel(), codes % 4 == OriginKind.ACCEPTED)]
    split = OutcomeSplit(*(ScoreTerms(*(np.where(drafted, x, 0.0) for x in t)) for t in parts))
    full = sampled_diagnostics(laws, tokens.ravel(), np.repeat(np.arange(20), LENGTH), [LENGTH] * 20,
                               origins=codes, draft=terms, split=split, **common)
    outcome = {(s.kind, s.label): s for s in full.strata if s.kind in (StratumKind.OUTCOME, StratumKind.OUTCOME_DRAFT)}
    assert [label for kind, label in outcome if kind is StratumKind.OUTCOME] == [
        "accepted@1", "accepted@2", "accepted@3", "recovered"]
    assert len(full.strata) == 8 + 5 + 5 + 4 + 4
    h, mean, var = (np.asarray(a)[drafted] for a in parts[1])  # the surprisal's recovered part, by hand
    assert outcome[(StratumKind.OUTCOME, "recovered")].z == pytest.approx((h - mean).sum() / np.sqrt(var.sum()))
    assert outcome[(StratumKind.OUTCOME, "recovered")].n_tokens == int(drafted.sum())
