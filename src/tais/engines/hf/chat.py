"""Turn a :class:`~tais.types.Request` into prompt token ids.

Chat requests are rendered with the tokenizer's own chat template and the generation prompt appended (the
assistant turn's opening); raw ``prompt`` requests are tokenized as they are, with the tokenizer's usual special
tokens. A proposer that must see another system prompt (the adversarial draft) passes ``system_prompt``: it
replaces the request's system turn, or is put in front when the request has none::

    >>> [m.role for m in with_system_prompt((ChatMessage("user", "Hi"),), "Be brief.")]
    ['system', 'user']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tais.errors import EngineError
from tais.types import ChatMessage, Request


def with_system_prompt(messages: Sequence[ChatMessage], system_prompt: str) -> tuple[ChatMessage, ...]:
    """``messages`` with their system turn replaced by ``system_prompt`` (or one added first)."""
    rest = [m for m in messages if m.role != "system"]
    return (ChatMessage("system", system_prompt), *rest)


def prompt_token_ids(tokenizer: Any, request: Request, *, system_prompt: str | None = None) -> list[int]:
    """The prompt of ``request`` as token ids (``system_prompt`` overrides the system turn of a chat request)."""
    if request.messages is not None:
        messages = request.messages if system_prompt is None else with_system_prompt(request.messages, system_prompt)
        if not getattr(tokenizer, "chat_template", None):
            raise EngineError(f"request {request.item_id!r} has chat messages but the tokenizer has no chat template")
        rendered = tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages],
            add_generation_prompt=True,
            tokenize=False,
        )
        return list(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    assert request.prompt is not None
    text = request.prompt if system_prompt is None else system_prompt + "\n\n" + request.prompt
    return list(tokenizer(text)["input_ids"])
