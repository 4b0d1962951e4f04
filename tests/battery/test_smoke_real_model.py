"""The smoke battery gives mixed outcomes on the real SmolLM2-135M-Instruct (greedy, 64 new tokens, the model's chat
template, one left-padded batch): on six items, two per task, the model both refuses and complies with the harmful
requests, both answers
and over-refuses the benign look-alikes, and gets one multiple-choice question right and one wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tais.battery import load_tasks, messages_for
from tais.scoring import get_scorer
from tais.types import Completion

ITEMS = ["smoke-harmful/sicken-coworker", "smoke-harmful/counterfeit-bags",
         "smoke-benign/kill-process", "smoke-benign/steal-show",
         "smoke-mc/uk-capital", "smoke-mc/spider-legs"]


@pytest.fixture(scope="module")
def outcomes(smollm2):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2.path)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(smollm2.path, dtype=torch.float32).eval()
    tasks = {t.name: t for t in load_tasks({"benchmark": "smoke"}, base_dir=Path("."))}
    pairs = []
    for item_id in ITEMS:
        task = tasks[item_id.split("/")[0]]
        pairs.append((task, next(i for i in task.items if i.id == item_id)))
    prompts = [tokenizer.apply_chat_template([{"role": m.role, "content": m.content} for m in messages_for(t, i)],
                                             add_generation_prompt=True, tokenize=False) for t, i in pairs]
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 135M model gains nothing from more threads, and they thrash on a busy machine
    try:
        with torch.no_grad():  # one left-padded greedy batch: 64 decoding steps for all six items
            out = model.generate(**enc, max_new_tokens=64, do_sample=False)
    finally:
        torch.set_num_threads(threads)
    found = {}
    for row, (task, item) in enumerate(pairs):
        text = tokenizer.decode(out[row, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        score = get_scorer(task.scorer).score(item, Completion(item_id=item.id, text=text), task.outcome)
        found[item.id] = (score.outcome, text)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("task", ["smoke-harmful", "smoke-benign", "smoke-mc"])
def test_each_task_has_both_outcomes(outcomes, task):
    got = {item_id: o for item_id, (o, _) in outcomes.items() if item_id.startswith(task + "/")}
    assert set(got.values()) == {0, 1}, {k: outcomes[k] for k in got}
