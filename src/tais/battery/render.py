"""The chat turns an item is asked with.

``messages_for(task, item)`` gives the system prompt (when the task has one) and the user turn. A multiple-choice
item's user turn lists its choices, lettered, and ends with an answer instruction (:data:`MC_INSTRUCTION`). Engines
render these turns through the model's chat template; :func:`raw_prompt_for` gives the same content as one plain
string for arms that take a raw prompt.

Worked example::

    >>> from tais.types import Item, Task
    >>> task = Task(name="q", items=(), outcome="multiple_choice", scorer="multiple-choice")
    >>> item = Item(id="q/1", prompt="What is 2 + 2?", choices=("3", "4"), answer="B")
    >>> print(messages_for(task, item)[0].content)
    What is 2 + 2?
    <BLANKLINE>
    A. 3
    B. 4
    <BLANKLINE>
    Answer with the letter of the correct choice.
"""

from __future__ import annotations

from tais.battery.mapping import LETTERS
from tais.types import ChatMessage, Item, Task

MC_INSTRUCTION = "Answer with the letter of the correct choice."


def user_text(item: Item) -> str:
    """The user turn: the prompt, plus lettered choices and the answer instruction for multiple-choice items."""
    if not item.choices:
        return item.prompt
    lines = [f"{LETTERS[i]}. {choice}" for i, choice in enumerate(item.choices)]
    return f"{item.prompt}\n\n" + "\n".join(lines) + f"\n\n{MC_INSTRUCTION}"


def messages_for(task: Task, item: Item) -> tuple[ChatMessage, ...]:
    """System prompt (if any), then the user turn."""
    turns = []
    if task.system_prompt:
        turns.append(ChatMessage(role="system", content=task.system_prompt))
    turns.append(ChatMessage(role="user", content=user_text(item)))
    return tuple(turns)


def raw_prompt_for(task: Task, item: Item) -> str:
    """The same content as one string (system prompt, a blank line, then the user turn)."""
    text = user_text(item)
    return f"{task.system_prompt}\n\n{text}" if task.system_prompt else text
