"""The analysis half of ``benchmarks/sampled_power.py`` on synthetic replications (no model): a replication drawn from
the reference's own laws is not FAILed by the screen's rule, one drawn from the laws at T**2 (planted
``double_temperature``) is; the draft log-ratio Z is calibrated under H0 and catches a sampler that resamples from the
target; the n95 formula gives 95% power in simulation; the torch log-ratio of the benchmark equals
:func:`tais.stats.predictable.log_ratio_scores` on laws truncated independently in numpy; and a stored arm reads back
into the same figures."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from tais.pipeline.draft_ratio import ratio_scores
from tais.stats.predictable import log_ratio_scores
from tais.types import Verdict

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import sampled_power as bench  # noqa: E402  (the benchmarks folder is not a package)

VOCAB, TOP, PROMPTS, TOKENS = 60, 16, 50, 64
T = 0.8


def logits(rng: np.random.Generator, n: int) -> np.ndarray:
    """Raw logits [n, VOCAB] with a language-model-like spread (mean varentropy ~2 nats**2 at T = 0.8)."""
    return rng.standard_normal((n, VOCAB)) * 2.2


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def draw(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    u = rng.random(p.shape[0])[:, None]
    return np.minimum((p.cumsum(1) < u).sum(1), p.shape[1] - 1)


def replication(rng: np.random.Generator, sample_temperature: float, index: int = 0,
                draft: np.ndarray | None = None, resample_from_target: bool = False) -> dict[str, np.ndarray]:
    """The arrays of one replication: the reference law at T, tokens drawn at ``sample_temperature`` (or by the
    resample-from-target rule with the draft's law ``draft``), the top TOP of each law kept."""
    n = PROMPTS * TOKENS
    z = logits(rng, n)
    q = softmax(z / T)
    if resample_from_target:
        d = softmax(draft / T)
        m = np.minimum(q, d)
        law = m + (1 - m.sum(1, keepdims=True)) * q  # what the planted bug samples
    else:
        d = softmax((z + rng.standard_normal(z.shape) * 0.7) / T)  # a noisy draft
        law = softmax(z / sample_temperature)
    tokens = draw(rng, law)
    order = np.argsort(-q, 1)[:, :TOP]
    h, mean, var = log_ratio_scores(q, d, tokens)
    return {"tokens": tokens.astype(np.int32), "prompt": np.repeat(np.arange(PROMPTS), TOKENS).astype(np.int32),
            "ids": order.astype(np.int32), "probs": np.take_along_axis(q, order, 1).astype(np.float32),
            "hard": np.zeros(n, bool), "soft": np.zeros(n, bool), "ratio_h": h, "ratio_mean": mean,
            "ratio_var": var}


def rep(arrays: dict[str, np.ndarray], index: int = 0, draft: str | None = None) -> bench.Replication:
    return bench.Replication("synthetic", index, *(arrays[f] for f in bench.FIELDS), draft=draft)


def test_a_replication_from_the_reference_is_not_failed_and_one_at_t_squared_is():
    rng = np.random.default_rng(5)
    null = [rep(replication(rng, T), i) for i in range(10)]
    tempered = [rep(replication(rng, T * T), i) for i in range(3)]
    assert [bench.verdict_of(r) for r in null].count(Verdict.FAIL) <= 1  # 5% nominal, 10 draws
    assert all(bench.verdict_of(r) is Verdict.FAIL for r in tempered)
    assert all(r.figures.theta < -0.1 for r in tempered)  # sharper: the tempering theta is negative
    assert all(bench.verdict_of(r) is not Verdict.PASS for r in null)  # no outcome cells: never PASS


def test_the_draft_log_ratio_is_calibrated_and_catches_resampling_from_the_target():
    rng = np.random.default_rng(11)
    null_rejects = sum(bool(bench.rejections(rep(replication(rng, T), i)).ratio) for i in range(20))
    assert null_rejects <= 4  # binomial(20, 0.05): P(> 4) = 0.003
    draft = logits(rng, PROMPTS * TOKENS)
    buggy = rep(replication(rng, T, draft=draft, resample_from_target=True))
    assert bench.rejections(buggy).ratio
    drift = bench.drifts([buggy])["ratio"]
    assert drift.mu > 0 and drift.tokens_for() < PROMPTS * TOKENS


def test_only_arms_with_a_draft_hand_their_log_ratio_to_the_screen():
    """The adapter point: with the screen's draft-tilt test (``DraftScores``) a drafting arm's log-ratio joins the
    verdict, and resampling from the target FAILs through lambda; a target-only arm hands none. Without the test the
    adapter hands nothing and the three-test battery decides."""
    import tais.screen.sampled as screen

    rng = np.random.default_rng(11)
    draft = logits(rng, PROMPTS * TOKENS)
    arrays = replication(rng, T, draft=draft, resample_from_target=True)
    assert bench.draft_tilt_arguments(rep(arrays)) == {}
    drafting = rep(arrays, draft="noisy")
    if not hasattr(screen, "DraftScores"):
        assert bench.draft_tilt_arguments(drafting) == {}
        return
    assert set(bench.draft_tilt_arguments(drafting)) == {"draft", "draft_margin"}
    assert drafting.figures.draft.tilt > bench.SETTINGS.draft_margin
    assert bench.verdict_of(drafting) is Verdict.FAIL


def test_n95_gives_95_percent_power_in_simulation():
    mu, var = 0.05, 1.3
    n = round(bench.Drift(mu, var, 0).tokens_for(0.95))
    rng = np.random.default_rng(0)
    sums = rng.normal(mu, np.sqrt(var), size=(2000, n)).sum(1)  # per-token increments, 2000 trials
    power = float(np.mean(np.abs(sums / np.sqrt(n * var)) > norm.ppf(0.975)))
    assert 0.935 < power < 0.965, (n, power)


def test_a_stored_arm_reads_back_into_the_same_figures(tmp_path):
    rng = np.random.default_rng(2)
    reps = [replication(rng, T), replication(rng, T * T)]
    bench.save_replications(tmp_path / "plain-null.npz", reps)
    back = bench.load_replications(tmp_path / "plain-null.npz")
    assert [r.index for r in back] == [0, 1]
    assert back[1].figures == rep(reps[1], 1).figures
    report = bench.evidence_from(tmp_path)
    (summary,) = report["arms"]
    assert summary["arm"] == "plain-null" and summary["fail"][:2] == [1, 2]


@pytest.mark.parametrize("top_p,top_k", [(1.0, 0), (0.9, 0), (1.0, 5)])
def test_the_torch_log_ratio_equals_the_stats_one_on_independently_truncated_laws(top_p, top_k):
    torch = pytest.importorskip("torch")
    from tais.types import SamplingParams

    rng = np.random.default_rng(3)
    zq, zd = logits(rng, 40), logits(rng, 40)
    tokens = draw(rng, softmax(zq / T))
    sampling = SamplingParams(temperature=T, top_p=top_p, top_k=top_k)
    log_q = torch.log_softmax(torch.tensor(zq, dtype=torch.float32), -1)
    log_d = torch.log_softmax(torch.tensor(zd, dtype=torch.float32), -1)
    got = ratio_scores(log_q, log_d, list(tokens), sampling, sampling)  # what the benchmark calls
    want = log_ratio_scores(numpy_law(log_q.double().numpy(), top_p, top_k), numpy_law(log_d.double().numpy(),
                                                                                      top_p, top_k), tokens)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-5)


def numpy_law(log_p: np.ndarray, top_p: float, top_k: int) -> np.ndarray:
    """Temperature, then top-k, then the smallest most-likely set of mass >= top_p, renormalised."""
    p = softmax(log_p / T)
    order = np.argsort(-p, 1)
    keep = np.zeros_like(p, dtype=bool)
    for i, row in enumerate(order):
        mass = 0.0
        for rank, j in enumerate(row):
            if (top_k and rank >= top_k) or mass >= top_p:
                break
            keep[i, j] = True
            mass += p[i, j]
    cut = np.where(keep, p, 0.0)
    return cut / cut.sum(1, keepdims=True)


def test_soft_leaks_are_judged_against_the_same_replication_of_the_groups_null_arm():
    rng = np.random.default_rng(8)
    arrays, null_arrays = replication(rng, T), replication(rng, T, 0)
    arrays["soft"][:6] = True  # six tokens the reference's law excludes, none in the null replication
    leaking, null = rep(arrays), rep(null_arrays)
    assert bench.verdict_of(leaking, null) is Verdict.FAIL
    assert bench.verdict_of(leaking) is not Verdict.FAIL or leaking.figures.rejects  # without the null: not by leaks
    null_arrays["soft"][:6] = True  # the null arm leaks as often: no excess
    assert bench.verdict_of(leaking, rep(null_arrays)) is bench.verdict_of(leaking)
