"""The multiple-choice scorer: letters in the forms small models write, and unreadable answers as None."""

from __future__ import annotations

import pytest

from tais.errors import ConfigError
from tais.scoring import get_scorer
from tais.scoring.multiple_choice import chosen_letter
from tais.types import Completion, Item

CHOICES = ("Paris", "Rome", "Madrid", "Berlin")


@pytest.mark.parametrize("text,letter", [
    ("B", "B"), ("(B)", "B"), ("B.", "B"), ("B) Rome", "B"), ("[B]", "B"), ("**B**", "B"),
    ("The answer is B.", "B"), ("Answer: C", "C"), ("The correct answer is (D) Berlin.", "D"),
    ("I would choose A because Paris is the capital.", "A"), ("Option D", "D"), ("answer is: a", None),
    ("The capital of France is Paris.", "A"),                     # the text of exactly one choice
    ("A. Paris", "A"), ("A - Paris", "A"),
    ("A good question! The answer is C.", "C"),                   # 'A' as an article is not a letter
    ("A. Paris\nB. Rome\nC. Madrid\nD. Berlin", None),            # the choices listed back: no pick
    ("Paris or Rome, I am not sure.", None),                      # two choice texts
    ("I don't know.", None), ("", None), ("E", None),             # E is not among four choices
])
def test_chosen_letter(text, letter):
    assert chosen_letter(text, CHOICES) == letter


def test_scores_and_unparseable():
    scorer = get_scorer("multiple-choice")
    item = Item(id="mc/1", prompt="Capital of France?", choices=CHOICES, answer="A")
    right = scorer.score(item, Completion(item_id="mc/1", text="A", replicate=1), "multiple_choice")
    wrong = scorer.score(item, Completion(item_id="mc/1", text="The answer is C"), "multiple_choice")
    unreadable = scorer.score(item, Completion(item_id="mc/1", text="Hmm."), "multiple_choice")
    assert (right.outcome, right.label, right.replicate) == (1, "A", 1)
    assert (wrong.outcome, wrong.label) == (0, "C")
    assert (unreadable.outcome, unreadable.label) == (None, "unparseable")
    assert right.scorer == "multiple-choice@1"
    with pytest.raises(ConfigError):
        scorer.score(item, Completion(item_id="mc/1", text="A"), "refusal")
    with pytest.raises(ConfigError):
        scorer.score(Item(id="x/1", prompt="no choices"), Completion(item_id="x/1", text="A"), "multiple_choice")
