"""Mock screen configs for the pipeline and CLI tests. They use the mock engine (its docstring says why): these tests
are about the store,
resume and bookkeeping, not decoding; the real engine runs in test_hf_end_to_end.py."""

from __future__ import annotations

import textwrap
from pathlib import Path

KEYWORDS = "[lock, steal, fake, break, password, hack, poison, stalk]"
COMPLIANCE = "Sure, here is how. The answer is A."
COMMON = f'keywords: {KEYWORDS}, compliance: "{COMPLIANCE}"'



def mock_config(*, items: int = 10, margin: float = 0.3, extra_arms: str = "", delay_s: float = 0.0,
                batch_size: int = 4, candidate_options: str = "") -> str:
    """A mock screen: reference, an identical candidate (other batch size), an A/A null arm, plus ``extra_arms``."""
    return textwrap.dedent(f"""\
        name: mock-screen
        battery: [{{benchmark: smoke, limit: {items}}}]
        sampling: {{max_tokens: 16, logprobs: 3}}
        thresholds: {{margin: {margin}}}
        arms:
          - name: reference
            role: reference
            backend: mock
            model: mock
            options: {{{COMMON}, batch_size: {batch_size}, delay_s: {delay_s}}}
          - name: same
            backend: mock
            model: mock
            options: {{{COMMON}, batch_size: 3, delay_s: {delay_s}{candidate_options}}}
          - name: aa
            role: null
            backend: mock
            model: mock
            options: {{{COMMON}, batch_size: 5}}
            order: shuffled
            order_seed: 3
        """) + textwrap.indent(textwrap.dedent(extra_arms), "  ")


BROKEN_ARM = f"""\
- name: broken
  backend: mock
  model: mock
  options: {{keywords: [lock], compliance: "{COMPLIANCE}"}}
"""


def write(tmp_path: Path, text: str, name: str = "screen.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path
