"""Inputs for the report tests: the synthetic screen of :mod:`helpers.screen_scenario`, plain and with
hostile model text planted in completions, tokens, top-k entries and names."""

from __future__ import annotations

from dataclasses import replace

from helpers import screen_scenario as scenario
from tais.screen.analyse import analyse
from tais.types import Thresholds

MARKER = "PWNED"
PAYLOADS = (
    f"<script>document.title='{MARKER}'</script>",
    f"<img src=x onerror=\"document.title='{MARKER}'\">",
    f"</pre></details><script>window.{MARKER}=1;document.title='{MARKER}'</script>",
    f"\"'><svg onload=\"document.title='{MARKER}'\"></svg>",
    "| fake | cell | ~~~ ``` [link](javascript:alert(1)) *bold* &amp; \r\nsecond line",
)
HOSTILE_TEXT = " ".join(PAYLOADS)


def analysed(texts=None):
    battery, arms, completions, scores = scenario.build(texts=texts)
    return analyse(battery=battery, arms=arms, completions=completions, scores=scores, thresholds=Thresholds(),
                   manifest={"config_sha256": "c0ffee", "completions": {"ref": "aa11"}},
                   meta={"tais_version": "0.1.0"})  # fmt: skip


def screen_result():
    """The synthetic screen, analysed."""
    return analysed()


def hostile_result():
    """The lossy arm's first diverging completions carry script / img-onerror / markup payloads; one divergence
    also has payloads as its tokens and in the reference's top-k; a cell's task and contrast and an arm's name and
    fingerprint are payloads too."""
    result = analysed(texts={"harm/0": HOSTILE_TEXT, "harm/300": PAYLOADS[1], "mc/0": PAYLOADS[0]})
    divergences = list(result.divergences)
    i = next(k for k, d in enumerate(divergences) if d.item_id == "harm/1" and d.contrast == "lossy vs ref")
    divergences[i] = replace(
        divergences[i],
        reference_token=PAYLOADS[0],
        candidate_token=PAYLOADS[1],
        reference_top=((PAYLOADS[0], -0.05), (PAYLOADS[3], -0.5), (PAYLOADS[1], -3.0)),
        prefix_text=PAYLOADS[2],
    )
    cells = list(result.cells)
    cells[0] = replace(cells[0], task=PAYLOADS[1], contrast=PAYLOADS[3])
    arms = list(result.arms)
    arms[1] = replace(arms[1], name=PAYLOADS[0], fingerprint=PAYLOADS[2])
    return replace(result, divergences=tuple(divergences), cells=tuple(cells), arms=tuple(arms))
