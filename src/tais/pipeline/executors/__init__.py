"""Executors: where the arms of a run are generated. ``local`` (the default) builds every arm's engine in this process
and runs the arms one after the other; ``ray`` (:mod:`tais.pipeline.executors.ray`) runs each arm on a worker of a
Ray cluster that builds the arm's engine there and streams its completions back.

Either way the driver (:func:`tais.pipeline.run.run_config`) is the one writer: it computes every fingerprint from the
engine's ``describe()``, asks the store what is missing and commits each completion as it arrives, so the store, the
keys and the fingerprints are the same whichever executor ran the arms. The hook in ``run_config`` is two calls::

    executor.check(config, out)                  # before anything is written
    results = executor.generate_arms(job)        # arm name -> (fingerprint, completions generated now)

Choosing one::

    >>> from tais.pipeline.config import ExecutorModel
    >>> executor_settings(ExecutorModel(), None, None).kind
    'local'
    >>> executor_settings(ExecutorModel(), "ray", "10.0.0.1:6379").ray.address
    '10.0.0.1:6379'
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tais.errors import InputError
from tais.pipeline.config import ExecutorModel, RayModel, ScreenConfig
from tais.store import PlannedTask, RunStore
from tais.types import Battery

if TYPE_CHECKING:
    from tais.pipeline.run import ProgressCallback

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class GenerateJob:
    """What the executor generates: every arm of ``config`` over the planned tasks, committed to ``store``."""

    config: ScreenConfig
    store: RunStore
    battery: Battery
    tasks: Sequence[PlannedTask]
    out: Path
    progress: ProgressCallback | None = None


@dataclass(frozen=True)
class ArmGenerated:
    """One arm after generation: the fingerprint its completions are stored under and how many were generated now."""

    fingerprint: str
    generated: int


class Executor(abc.ABC):
    """Runs the arms of a run; see the module docstring."""

    kind: str = "executor"

    def check(self, config: ScreenConfig, out: Path) -> None:  # noqa: B027  -- an optional hook: no check by default
        """Fail early (before the run directory is written) on what can be checked here."""

    @abc.abstractmethod
    def generate_arms(self, job: GenerateJob) -> dict[str, ArmGenerated]:
        """Generate the missing completions of every arm; arm name -> its outcome, in config order."""

    def close(self) -> None:  # noqa: B027  -- an optional hook: a no-op unless the executor holds something
        """Release what the executor holds (engines, a cluster it started). Idempotent."""


def executor_settings(configured: ExecutorModel, kind: str | None, address: str | None) -> ExecutorModel:
    """The config's ``executor:`` with the command line's ``--executor`` / ``--ray-address`` applied."""
    if kind is not None and kind not in EXECUTORS:
        raise InputError(f"unknown executor {kind!r}; known: {', '.join(EXECUTORS)}", key="--executor")
    if kind == "local":
        return ExecutorModel()
    ray = configured.ray
    if kind == "ray" or (kind is None and address is not None and ray is not None):
        ray = ray or RayModel()
        if address is not None:
            ray = ray.model_copy(update={"address": address})
        return ExecutorModel(ray=ray)
    if address is not None:
        raise InputError("needs the ray executor (--executor ray, or executor: {ray: ...} in the config)",
                         key="--ray-address")
    return configured


def make_executor(settings: ExecutorModel) -> Executor:
    """The executor the settings name (Ray is imported only for ``ray``)."""
    if settings.ray is None:
        from tais.pipeline.executors.local import LocalExecutor

        return LocalExecutor()
    from tais.pipeline.executors.ray import RayExecutor

    return RayExecutor(settings.ray)
