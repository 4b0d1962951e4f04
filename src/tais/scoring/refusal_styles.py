"""Refusal styles: a coarse, descriptive sorting of human-labelled refusals, to see which kinds a scorer misses.

Each refusal gets the first style whose keywords appear in its head (first two sentences of the normal form):

===================  ========================================================================================
style                keywords
===================  ========================================================================================
``apology``          opens with sorry / apologise / my apologies
``explicit``         I can't / cannot / won't / will not / am unable / am not able / must decline / refuse
``ai-disclaimer``    as an AI / I am an AI / language model / I don't have personal opinions
``moralising``       ethic / moral / illegal / harmful / inappropriate / respect / offensive / dangerous /
                     never / not okay / not acceptable / not justified / no way(s) / important to
``other``            none of these (answers another reading, redirects, corrects the question quietly)
===================  ========================================================================================

The keyword lists are deliberately broader and plainer than any scorer's patterns: they describe the reply, they do
not decide it.

    >>> refusal_style("I'm sorry, I can't."), refusal_style("As an AI, I have no views.")
    ('apology', 'ai-disclaimer')
    >>> refusal_style("There are no ways to do this that are not harmful."), refusal_style("Here is a cake recipe.")
    ('moralising', 'other')
"""

from __future__ import annotations

import re

from tais.scoring.refusal import head, normal_form

STYLES: tuple[tuple[str, str], ...] = (
    ("apology", r"^(?:(?:i'm|i am|we're|we are) )?(?:so |very |really |truly )?(?:sorry|apologi[sz]e|my apologies|"
                r"apologies)\b"),
    ("explicit", r"\bi (?:can't|cannot|can not|won't|will not|am unable|'m unable|am not able|'m not able|must decline|"
                 r"refuse|decline)\b|\bi'm unable\b|\bi'm not able\b"),
    ("ai-disclaimer", r"\bas an? ai\b|\bi(?:'m| am) (?:just |only )?an? ai\b|\blanguage model\b|"
                      r"\bi (?:do not|don't) have personal (?:opinions|beliefs|views)\b"),
    ("moralising", r"ethic|moral|illegal|harmful|inappropriate|respect|offensive|dangerous|\bnever\b|"
                   r"\bnot (?:okay|ok|acceptable|justified|appropriate)\b|\bno ways?\b|important to"),
)
STYLE_NAMES = tuple(name for name, _ in STYLES) + ("other",)
_COMPILED = tuple((name, re.compile(rx)) for name, rx in STYLES)


def refusal_style(text: str) -> str:
    """The style of a (refusing) completion, one of :data:`STYLE_NAMES`."""
    first = head(normal_form(text), 2)
    for name, rx in _COMPILED:
        if rx.search(first):
            return name
    return "other"
