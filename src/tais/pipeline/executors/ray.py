"""The ``ray`` executor: each arm on a worker of a Ray cluster, its completions streamed back to the one writer.

Per arm, the driver starts one :class:`ArmWorker` actor with the arm's ``resources:`` as its Ray resource request
(``gpus`` -> ``num_gpus``, ``cpus`` -> ``num_cpus``, ``custom`` -> ``resources``), so an arm that needs a GPU waits
until one is free; the arms run concurrently as far as the cluster allows. The worker builds the arm's engine there
(:func:`tais.engines.create_engine`, as the local executor does) and returns its ``describe()`` once; the driver
computes the fingerprint from it exactly as the local executor does, asks the store which keys are missing, and sends
them in shards of ``shard_size`` requests. The worker answers a shard as a Ray streaming generator, one completion per
yield, then the engine's telemetry; the driver commits each completion to the SQLite store as it arrives (same keys,
same fingerprints; the store never leaves the driver).

A worker that dies (node lost, out of memory, ``kill -9``) is restarted by Ray (``max_restarts = max_retries``), on
any node with the resources; the driver asks the store again what is missing and sends only that, so a completion
already committed is neither generated again nor counted twice. After ``max_retries`` losses of one arm the run stops
with one line; running it again resumes it. A driver that dies takes its workers with it (they are its actors); the
rerun resumes from the store as with the local executor.

Where each arm ran (node id, hostname, worker restarts) and the cluster's resources are recorded per generation
session (:mod:`tais.pipeline.placement`) and reach the evidence's ``cluster`` object.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from tais.errors import ConfigError, EngineError, InputError, TaisError, require
from tais.pipeline.analysis import summed_telemetry
from tais.pipeline.config import ArmSetup, RayModel, ScreenConfig
from tais.pipeline.executors import ArmGenerated, Executor, GenerateJob
from tais.pipeline.fingerprint import arm_fingerprint
from tais.pipeline.placement import ArmPlacement
from tais.pipeline.run import KeyedRequest, ProgressEvent, build_requests
from tais.types import ArmSpec, Completion, Request

ACTOR_PREFIX = "tais-arm-"
"""Each arm's actor is named ``tais-arm-<arm>-<random>`` (``ray list actors`` shows which arm a worker serves)."""


@dataclass(frozen=True)
class WorkerInfo:
    """What a started worker reports: its engine's ``describe()`` and where it runs."""

    describe: dict[str, Any]
    node_id: str
    hostname: str
    pid: int


@dataclass(frozen=True)
class ShardDone:
    """The last item of a shard's stream: the engine's telemetry for the shard."""

    telemetry: dict[str, Any] = field(default_factory=dict)


class ArmWorker:
    """The Ray actor of one arm: builds the arm's engine on first use (again after a restart) and generates shards."""

    def __init__(self, spec: ArmSpec, workdir: str) -> None:
        self.spec = spec
        self.workdir = Path(workdir)
        self.engine: Any = None

    def _engine(self) -> Any:
        if self.engine is None:
            from tais.engines import create_engine

            self.engine = create_engine(self.spec, workdir=self.workdir)
        return self.engine

    def start(self) -> WorkerInfo:
        """Build the engine (if not yet) and say what it is and where it runs."""
        import ray

        engine = self._engine()
        return WorkerInfo(describe=engine.describe(), node_id=ray.get_runtime_context().get_node_id(),
                          hostname=socket.gethostname(), pid=os.getpid())

    def generate(self, requests: Sequence[Request]):  # streaming generator: Completion..., then ShardDone
        engine = self._engine()
        stream = engine.generate(requests)
        loop = asyncio.new_event_loop()
        try:
            while True:
                try:
                    completion = loop.run_until_complete(stream.__anext__())
                except StopAsyncIteration:
                    break
                yield completion
            yield ShardDone(dict(engine.telemetry()))
        finally:
            loop.run_until_complete(stream.aclose())
            loop.close()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None


@dataclass
class _ArmRun:
    """The driver's state of one arm while it generates."""

    arm: ArmSetup
    index: int
    fingerprint: str = ""
    describe: dict[str, Any] | None = None
    planned: list[KeyedRequest] = field(default_factory=list)
    cached: int = 0
    generated: int = 0
    tokens: int = 0
    started: float = 0.0
    last: float = 0.0
    telemetry: list[dict[str, Any]] = field(default_factory=list)
    restarts: int = 0
    losses: int = 0
    sent: int = 0
    where: WorkerInfo | None = None


class RayExecutor(Executor):
    kind = "ray"

    def __init__(self, settings: RayModel) -> None:
        self.settings = settings
        self._ray: Any = None
        self._started_here = False
        self._worker_class: Any = None

    # -- the cluster -----------------------------------------------------------------------------------------------

    def check(self, config: ScreenConfig, out: Path) -> None:
        ray = self._connect()
        totals = ray.cluster_resources()
        for index, arm in enumerate(config.arms):
            wanted = _resource_request(arm)
            for name, amount in [("GPU", wanted["num_gpus"]), ("CPU", wanted["num_cpus"]),
                                 *wanted["resources"].items()]:
                if amount > totals.get(name, 0.0):
                    key = {"GPU": "gpus", "CPU": "cpus"}.get(name, f"custom.{name}")
                    raise ConfigError(f"asks for {amount:g} {name} but the Ray cluster has {totals.get(name, 0.0):g}",
                                      path=str(config.path), key=f"arms[{index}].resources.{key}")

    def _connect(self) -> Any:
        if self._ray is not None:
            return self._ray
        ray = require("ray", "ray")
        if not ray.is_initialized():
            address = self.settings.address
            _check_reachable(address)
            try:
                if address == "local":
                    ray.init(include_dashboard=False, log_to_driver=False)
                else:
                    ray.init(address=address, log_to_driver=False)
            except Exception as exc:  # ray raises ConnectionError, RuntimeError or ValueError
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise InputError(f"cannot reach the Ray cluster at {address!r}: {first}",
                                 key="executor.ray.address") from None
            self._started_here = True
        self._ray = ray
        self._worker_class = ray.remote(ArmWorker)
        return ray

    def close(self) -> None:
        if self._started_here and self._ray is not None:
            self._ray.shutdown()
        self._ray, self._started_here = None, False

    # -- the arms --------------------------------------------------------------------------------------------------

    def generate_arms(self, job: GenerateJob) -> dict[str, ArmGenerated]:
        self._connect()
        return asyncio.run(self._all(job))

    async def _all(self, job: GenerateJob) -> dict[str, ArmGenerated]:
        runs = [_ArmRun(arm, index) for index, arm in enumerate(job.config.arms)]
        await asyncio.gather(*(self._arm(run, job) for run in runs))
        return {run.arm.spec.name: ArmGenerated(run.fingerprint, run.generated) for run in runs}

    async def _arm(self, run: _ArmRun, job: GenerateJob) -> None:
        ray = self._ray
        lost = _lost_worker_errors(ray)
        unavailable = getattr(ray.exceptions, "ActorUnavailableError", ())
        name = run.arm.spec.name
        actor = self._worker_class.options(
            name=f"{ACTOR_PREFIX}{name}-{uuid.uuid4().hex[:8]}",  # one call at a time: the engine on the main thread
            max_restarts=self.settings.max_retries, max_task_retries=0, **_resource_request(run.arm),
        ).remote(run.arm.spec, str(job.out / "engines" / name))
        try:
            while True:
                try:
                    await self._attempt(actor, run, job)
                    break
                except unavailable:  # restarting, or its node briefly unreachable: ask again, not a new loss
                    await asyncio.sleep(0.5)
                except lost as exc:
                    run.losses += 1
                    if run.losses > self.settings.max_retries:
                        raise EngineError(f"arm {name}: its Ray worker was lost {run.losses} times (last: "
                                          f"{type(exc).__name__}: {_why(exc)}); run again to resume") from None
                except ray.exceptions.RayTaskError as exc:
                    raise _cause(exc, job.config, run.index) from None
        finally:
            ray.kill(actor)
        self._finish(run, job)

    async def _attempt(self, actor: Any, run: _ArmRun, job: GenerateJob) -> None:
        """Start (or reach the restarted) worker, then send every shard's missing requests."""
        info: WorkerInfo = await actor.start.remote()
        if run.where is not None and (info.node_id, info.pid) != (run.where.node_id, run.where.pid):
            run.restarts += 1  # a new worker process took over the arm
        run.where = info
        if run.describe is None:
            self._plan(run, info.describe, job)
        elif info.describe != run.describe:
            raise EngineError(f"arm {run.arm.spec.name}: the restarted worker on {info.hostname} describes another "
                              f"engine than before (other versions installed on that node?)")
        size = self.settings.shard_size
        for start in range(0, len(run.planned), size):
            shard = run.planned[start:start + size]
            missing = set(job.store.missing(run.fingerprint, [p.key for p in shard]))
            pending = [p for p in shard if p.key in missing]
            if pending:
                await self._stream(actor, run, pending, job)

    def _plan(self, run: _ArmRun, describe: dict[str, Any], job: GenerateJob) -> None:
        """The fingerprint from the worker's describe(), as the local executor computes it, and the arm's requests."""
        arm = run.arm
        run.describe = describe
        run.fingerprint = arm_fingerprint(describe, arm.spec, order=arm.order, order_seed=arm.order_seed)
        spec = {**arm.spec.to_dict(), "order": arm.order, "order_seed": arm.order_seed}
        job.store.put_arm(run.fingerprint, arm.spec.name, spec, describe)
        run.planned = build_requests(job.battery, job.tasks, arm)
        run.cached = len(run.planned) - len(job.store.missing(run.fingerprint, [p.key for p in run.planned]))
        if job.progress:
            job.progress(ProgressEvent("generate", arm.spec.name, run.cached, len(run.planned), run.cached,
                                       host=run.where.hostname, pid=run.where.pid))
        run.started = run.last = time.perf_counter()

    async def _stream(self, actor: Any, run: _ArmRun, pending: list[KeyedRequest], job: GenerateJob) -> None:
        name = run.arm.spec.name
        by_key = {(p.key.item_id, p.key.replicate): p.key for p in pending}
        cached = run.cached
        stream = actor.generate.options(num_returns="streaming").remote([p.request for p in pending])
        run.sent += len(pending)
        async for ref in stream:
            item = await ref
            if isinstance(item, ShardDone):
                if item.telemetry:
                    run.telemetry.append(item.telemetry)
                continue
            completion: Completion = item
            key = by_key.get((completion.item_id, completion.replicate))
            if key is None:
                raise EngineError(f"arm {name}: engine returned a completion for {completion.item_id}"
                                  f"#{completion.replicate}, which was not requested")
            now = time.perf_counter()
            if job.store.add_completion(run.fingerprint, key, completion, elapsed_s=now - run.last):
                run.generated += 1
                run.tokens += completion.output_tokens
            run.last = now
            if job.progress:
                job.progress(ProgressEvent("generate", name, cached + run.generated, len(run.planned), cached,
                                           run.tokens, now - run.started, run.where.hostname, run.where.pid))

    def _finish(self, run: _ArmRun, job: GenerateJob) -> None:
        """Record the arm's telemetry and placement (when it generated anything now); check nothing is missing."""
        store, name = job.store, run.arm.spec.name
        if run.generated:
            telemetry = summed_telemetry(run.telemetry) if run.telemetry else {}
            if telemetry:
                store.add_arm_telemetry(run.fingerprint, telemetry)
            assert run.where is not None
            cluster = {k: float(v) for k, v in self._ray.cluster_resources().items()
                       if not k.startswith("node:") and k not in ("memory", "object_store_memory")}
            store.add_arm_telemetry(run.fingerprint, ArmPlacement(
                "ray", run.where.node_id, run.where.hostname, run.restarts, run.sent, cluster).to_session())
        still = store.missing(run.fingerprint, [p.key for p in run.planned])
        if still:
            raise EngineError(f"arm {name}: the engine returned no completion for {len(still)} of "
                              f"{len(run.planned)} requests (first: {still[0].item_id}); run again to retry them")


def _resource_request(arm: ArmSetup) -> dict[str, Any]:
    """An arm's ``resources:`` as Ray actor options."""
    resources = arm.resources
    if resources is None:
        return {"num_cpus": 1.0, "num_gpus": 0.0, "resources": {}}
    return {"num_cpus": resources.cpus, "num_gpus": resources.gpus, "resources": dict(resources.custom)}


def _lost_worker_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """The Ray errors that mean the worker (or its node) is gone, not that the engine failed."""
    names = ("RayActorError", "ActorDiedError", "WorkerCrashedError", "ObjectLostError",
             "OwnerDiedError", "NodeDiedError")
    return tuple(getattr(ray.exceptions, n) for n in names if hasattr(ray.exceptions, n))


def _cause(exc: Any, config: ScreenConfig, index: int) -> BaseException:
    """The error a worker raised, as the local executor would have raised it: a tais error keeps its one line (an
    engine's config error gets the config file and the arm's key path), anything else becomes an EngineError."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, ConfigError) and cause.path is None:
        key = f"arms[{index}]" + (f".{cause.key}" if cause.key else "")
        return ConfigError(cause.message, path=str(config.path), key=key)
    if isinstance(cause, TaisError):
        return cause
    first = str(cause or exc).strip().splitlines()
    return EngineError(f"arm {config.arms[index].spec.name}: its Ray worker failed: "
                       f"{type(cause).__name__ if cause else 'error'}: {first[-1] if first else ''}")


def _why(exc: BaseException) -> str:
    """The line of a Ray error that says what happened (Ray's messages run to many lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "Error:" in line and not line.startswith(("Traceback", "File ")):
            return line[:200]
    return lines[0][:200] if lines else "no message"


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in one line, within seconds, when a ``HOST:PORT`` / ``ray://HOST:PORT`` address does not accept a TCP
    connection (Ray itself would retry for minutes). ``auto`` and ``local`` are left to Ray."""
    if address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"not a Ray address: {address!r} (auto, local, HOST:PORT or ray://HOST:PORT)",
                         key="executor.ray.address")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise InputError(f"cannot reach the Ray cluster at {address!r}: {exc.strerror or exc}",
                         key="executor.ray.address") from None
