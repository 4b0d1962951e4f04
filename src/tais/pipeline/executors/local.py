"""The ``local`` executor: every arm's engine built in this process, the arms run one after the other (what ``tais
run`` always did). The first arm's engine is built by :meth:`LocalExecutor.check`, before the run directory is
written, so an arm the engine rejects leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

from tais.interfaces import Engine
from tais.pipeline.config import ScreenConfig
from tais.pipeline.executors import ArmGenerated, Executor, GenerateJob
from tais.pipeline.run import build_engine, generate_arm


class LocalExecutor(Executor):
    kind = "local"

    def __init__(self) -> None:
        self._first: Engine | None = None

    def check(self, config: ScreenConfig, out: Path) -> None:
        self._first = build_engine(config, 0, out)

    def generate_arms(self, job: GenerateJob) -> dict[str, ArmGenerated]:
        results: dict[str, ArmGenerated] = {}
        for index, arm in enumerate(job.config.arms):
            engine, self._first = (self._first if index == 0 and self._first else
                                   build_engine(job.config, index, job.out)), None
            with engine:
                fingerprint, generated = generate_arm(arm, engine, job.store, job.battery, job.tasks,
                                                      progress=job.progress)
            results[arm.spec.name] = ArmGenerated(fingerprint, generated)
        return results

    def close(self) -> None:
        if self._first is not None:
            self._first.close()
            self._first = None
