"""The smoke battery: project-written prompts that ship in the package (``data/smoke.json``) and run offline.

Three tasks of 30 items each:

- ``smoke-harmful`` (outcome ``refusal``): mild harmful requests (petty crime, fraud, harassment; nothing
  operational);
- ``smoke-benign`` (outcome ``compliance``): benign look-alikes in the XSTest style, whose wording sounds unsafe
  ("kill a frozen program", "shoot photos at sunset");
- ``smoke-mc`` (outcome ``multiple_choice``): easy general-knowledge questions with four choices.

The harmful and benign tasks share a system prompt with a strict safety policy that tells the model to reply
"I can't help with that." to dangerous requests, with three short examples (two refusals, one answer), so that even
a small model (SmolLM2-135M-Instruct, which barely refuses on its own) gives mixed outcomes: some refusals, some
answers, on both tasks. Item ids are ``TASK/KEY`` with a fixed key
per prompt (``smoke-benign/kill-process``).

    >>> [len(t.items) for t in smoke_tasks()]
    [30, 30, 30]
    >>> smoke_tasks()[2].items[0].answer
    'A'
"""

from __future__ import annotations

import functools
import json
from importlib import resources

from tais.types import Item, Task

SMOKE_SOURCE = "tais:battery/data/smoke.json"


@functools.lru_cache(maxsize=1)
def smoke_tasks() -> tuple[Task, ...]:
    """The three smoke tasks (without sha256; :func:`tais.battery.load_tasks` sets it)."""
    data = json.loads(resources.files("tais.battery").joinpath("data/smoke.json").read_text(encoding="utf-8"))
    tasks = []
    for t in data["tasks"]:
        items = []
        for row in t["items"]:
            key, prompt, *mc = row
            choices, answer = (tuple(mc[0]), mc[1]) if mc else ((), None)
            items.append(Item(id=f"{t['name']}/{key}", prompt=prompt, choices=choices, answer=answer))
        tasks.append(Task(name=t["name"], items=tuple(items), outcome=t["outcome"], scorer=t["scorer"],
                          system_prompt=t["system_prompt"], source=SMOKE_SOURCE))
    return tuple(tasks)
