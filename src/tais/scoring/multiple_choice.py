"""Multiple-choice scorer (``multiple-choice``): which lettered choice did the completion pick?

The **chosen letter** is found by the first rule that gives exactly one letter among the item's letters
(A, B, ... up to its number of choices), on the completion with markdown emphasis removed:

1. an explicit statement: "answer is B", "answer: (B)", "correct option is B", "I choose B";
2. a letter standing alone at the very start: "B", "(B)", "B.", "B)", "B:", "[B]" (not "A good..."), unless
   other lines also start with a different letter (the reply lists the choices);
3. a letter in brackets anywhere, or a lettered line: "(B)", "B. Eight";
4. the text of exactly one choice appears (as whole words, case-insensitive): "Eight legs." picks "Eight".

When no rule decides (nothing found, or two different letters tie at the deciding rule), the letter is
unreadable: outcome None, label ``unparseable``, never silently wrong. Otherwise y = 1 when the letter equals the
item's answer.

Worked example::

    >>> choices = ("Six", "Eight", "Ten", "Four")
    >>> [chosen_letter(t, choices) for t in ["B", "(B) Eight", "The answer is B.", "Spiders have eight legs.",
    ...                                      "A spider has eight legs.", "A or B", "I am not sure."]]
    ['B', 'B', 'B', 'B', 'B', None, None]
"""

from __future__ import annotations

import re
from typing import Literal

from tais.errors import ConfigError
from tais.interfaces import Scorer
from tais.types import Completion, Item, OutcomeRule, Score

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _clean(text: str) -> str:
    return re.sub(r"[*_`]+", "", str(text)).strip()


def _unique(found: list[str]) -> str | None | Literal[False]:
    """One letter -> it; none -> None; several different -> False (ambiguous)."""
    distinct = set(found)
    if not distinct:
        return None
    return found[0] if len(distinct) == 1 else False


def chosen_letter(text: str, choices: tuple[str, ...]) -> str | None:
    """The letter the completion picks among ``choices``, or None when it cannot be read (see module docstring)."""
    letters = LETTERS[: len(choices)]
    if not letters:
        return None
    body = _clean(text)
    upper = f"(?-i:[{letters}])"
    statement = re.compile(
        r"\b(?:answer|option|choice|letter)(?: is| would be| should be)?(?: the)?(?: correct| right| best)?"
        rf"(?: one| answer| option| choice)?(?: is)?\s*[:=]?\s*[(\[]?({upper})\b(?!['\w])|"
        rf"\bI (?:choose|pick|select|would choose|would pick|'d choose|'d pick)\s*(?:option |answer )?[(\[]?({upper})\b"
        rf"(?!['\w])", re.IGNORECASE)
    line_starts = [m.group(1) for m in re.finditer(rf"(?m)^\s*({upper})[.)]\s", body)]
    opening = [m.group(1) for m in re.finditer(rf"^[(\[]?({upper})(?:[)\].:,]|$|\s*\n|\s+[-\u2013\u2014]\s)", body)]
    if opening:  # a reply that lists several lettered lines does not pick the first one
        opening += line_starts
    rules = [
        [next(g for g in m.groups() if g) for m in statement.finditer(body)],
        opening,
        [m.group(1) for m in re.finditer(rf"[(\[]({upper})[)\]]", body)] + line_starts,
        _choice_text_letters(body, choices),
    ]
    for found in rules:
        decided = _unique([f.upper() for f in found])
        if decided is False:
            return None
        if decided:
            return decided
    return None


def _choice_text_letters(body: str, choices: tuple[str, ...]) -> list[str]:
    """Letters of the choices whose text appears in the completion as whole words."""
    low = body.casefold()
    return [LETTERS[i] for i, choice in enumerate(choices)
            if choice.strip() and re.search(rf"(?<!\w){re.escape(choice.strip().casefold())}(?!\w)", low)]


class MultipleChoiceScorer(Scorer):
    """``multiple-choice``: y = 1 when the chosen letter is the item's answer; None when unreadable."""

    name = "multiple-choice"
    version = "1"

    def score(self, item: Item, completion: Completion, outcome_rule: OutcomeRule) -> Score:
        if outcome_rule != "multiple_choice":
            raise ConfigError(f"scorer {self.name} scores the multiple_choice outcome rule, not {outcome_rule!r}")
        if not item.choices or not item.answer:
            raise ConfigError(f"item {item.id} has no choices or answer: not a multiple-choice item")
        letter = chosen_letter(completion.text, item.choices)
        if letter is None:
            return Score(item_id=item.id, replicate=completion.replicate, scorer=self.id, outcome=None,
                         label="unparseable")
        return Score(item_id=item.id, replicate=completion.replicate, scorer=self.id,
                     outcome=int(letter == item.answer.upper()), label=letter,
                     detail=(("answer", item.answer.upper()),))
