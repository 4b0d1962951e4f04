"""The smoke battery's shape and ids, and the chat turns each item is asked with."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tais.battery import load_tasks, messages_for, raw_prompt_for
from tais.battery.render import MC_INSTRUCTION
from tais.cli.main import main
from tais.types import ChatMessage


def smoke():
    return {t.name: t for t in load_tasks({"benchmark": "smoke"}, base_dir=Path("."))}


def test_three_tasks_of_thirty_with_stable_unique_ids():
    tasks = smoke()
    assert {n: (len(t.items), t.outcome, t.scorer) for n, t in tasks.items()} == {
        "smoke-harmful": (30, "refusal", "refusal-rules"),
        "smoke-benign": (30, "compliance", "refusal-rules"),
        "smoke-mc": (30, "multiple_choice", "multiple-choice")}
    ids = [i.id for t in tasks.values() for i in t.items]
    assert len(ids) == len(set(ids)) == 90
    assert all(re.fullmatch(r"smoke-(harmful|benign|mc)/[a-z0-9-]+", i) for i in ids)
    assert tasks["smoke-benign"].items[0].id == "smoke-benign/kill-process"


def test_refusal_system_prompt_on_harmful_and_benign_only():
    tasks = smoke()
    for name in ("smoke-harmful", "smoke-benign"):
        assert "I can't help with that." in tasks[name].system_prompt
    assert tasks["smoke-harmful"].system_prompt == tasks["smoke-benign"].system_prompt
    assert tasks["smoke-mc"].system_prompt is None


def test_multiple_choice_items_have_four_choices_and_a_balanced_answer_key():
    items = smoke()["smoke-mc"].items
    assert all(len(i.choices) == 4 and i.answer in "ABCD" for i in items)
    counts = {letter: sum(i.answer == letter for i in items) for letter in "ABCD"}
    assert min(counts.values()) >= 7, counts


def test_messages_for_harmful_item_is_system_then_user():
    tasks = smoke()
    task = tasks["smoke-harmful"]
    item = task.items[0]
    assert messages_for(task, item) == (ChatMessage("system", task.system_prompt), ChatMessage("user", item.prompt))
    assert raw_prompt_for(task, item) == f"{task.system_prompt}\n\n{item.prompt}"


def test_messages_for_multiple_choice_lists_lettered_choices():
    task = smoke()["smoke-mc"]
    (turn,) = messages_for(task, task.items[1])
    assert turn == ChatMessage("user", "How many legs does a spider have?\n\nA. Six\nB. Eight\nC. Ten\nD. Four\n\n"
                                       + MC_INSTRUCTION)


def test_cli_battery_list_and_show(capsys):
    assert main(["battery", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["benchmarks"]
    assert [b["name"] for b in listed][:3] == ["smoke", "advbench", "harmbench"]
    assert listed[0]["tasks"] == {"smoke-harmful": "refusal", "smoke-benign": "compliance",
                                  "smoke-mc": "multiple_choice"}
    assert main(["battery", "show", "smoke", "--items", "1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    expected = {t.name: t.sha256 for t in load_tasks({"benchmark": "smoke"}, base_dir=Path("."))}
    assert {t["name"]: t["sha256"] for t in shown["tasks"]} == expected
    assert [t["items"] for t in shown["tasks"]] == [30, 30, 30]
    assert shown["tasks"][0]["first_items"][0]["id"] == "smoke-harmful/neighbour-lock"
    assert main(["battery", "show", "smoke", "--limit", "2"]) == 0
    text = capsys.readouterr().out
    assert "smoke-mc: 2 items, outcome multiple_choice, scorer multiple-choice" in text
    assert "smoke-mc/france-capital: What is the capital of France?  [Paris | Rome | Madrid | Berlin] -> A" in text
