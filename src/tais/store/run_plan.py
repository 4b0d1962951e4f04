"""The run plan: which rows of the store make up one finished run, as a frozen, typed record.

A :class:`RunPlan` names the battery (each task by the sha256 its content is stored under, with its scorer), the arms
(each with its :class:`~tais.types.Role` and the fingerprint its completions are stored under), the replicates, the
configured :class:`~tais.types.Thresholds`, and the request sha256 of every (item, replicate): so it names every
:class:`~tais.types.CompletionKey` of the run, in battery order.

Who builds it: :func:`tais.pipeline.run.run_config`, once per run, after generating (the fingerprints come from the
engines). Who holds it: the store's run record (``runs.plan_json``, :meth:`tais.store.RunStore.add_run`). Who reads
it: :func:`tais.pipeline.analysis.read_run` (``tais run``, ``tais screen``, ``tais report``), ``tais verify``, and a
resumed ``tais run`` (which reuses the newest run when its plan is equal).

It round-trips exactly through JSON (:meth:`RunPlan.to_dict` / :meth:`RunPlan.from_dict`); ``plan_version`` says
which layout a stored dict has. Version 1 is the untyped dict that tais wrote before the RunPlan existed (no
``plan_version`` key; the request hashes in one mapping of item id -> hashes): :meth:`RunPlan.from_legacy` converts
it, given the item order of each stored task. A version newer than this code reads is refused with one line naming
both versions.

Worked example::

    >>> plan = RunPlan(
    ...     name="demo", replicates=1, thresholds=Thresholds(),
    ...     tasks=(PlannedTask("t", "c" * 64, "refusal-rules", "refusal-rules@1", (PlannedItem("t/1", ("r1",)),)),),
    ...     arms=(PlannedArm("ref", Role.REFERENCE, "f" * 64), PlannedArm("spec", Role.CANDIDATE, "e" * 64)))
    >>> RunPlan.from_dict(plan.to_dict()) == plan
    True
    >>> plan.keys("t")
    (CompletionKey(item_id='t/1', replicate=0, request_sha256='r1'),)
    >>> plan.reference.name
    'ref'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tais.errors import SchemaVersionError
from tais.types import CompletionKey, Role, Thresholds

PLAN_VERSION = 2
"""The layout :meth:`RunPlan.to_dict` writes. 1: the untyped dict of tais before the RunPlan (read via
:meth:`RunPlan.from_legacy`)."""
LEGACY_PLAN_VERSION = 1


@dataclass(frozen=True)
class PlannedItem:
    """One item of the run and the request sha256 of each of its replicates (index = replicate)."""

    item_id: str
    request_sha256: tuple[str, ...]

    def keys(self) -> tuple[CompletionKey, ...]:
        return tuple(CompletionKey(self.item_id, r, sha) for r, sha in enumerate(self.request_sha256))


@dataclass(frozen=True)
class PlannedTask:
    """One task of the run: its name, the sha256 its content is stored under, the scorer named in the config
    (``scorer``) and the id of the scorer that scored it (``scorer_id``, ``NAME@VERSION``), and its items in order."""

    name: str
    content_sha256: str
    scorer: str
    scorer_id: str
    items: tuple[PlannedItem, ...]

    def keys(self) -> tuple[CompletionKey, ...]:
        """Every completion key of the task: item by item, replicate by replicate."""
        return tuple(key for item in self.items for key in item.keys())


@dataclass(frozen=True)
class PlannedArm:
    """One arm of the run: its name, its role and the fingerprint its completions are stored under."""

    name: str
    role: Role
    fingerprint: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))


@dataclass(frozen=True)
class ScoringArm:
    """One scoring engine: the arm it stands for, its fingerprint (None when it could not be built or cannot
    teacher-force) and why not."""

    arm: str
    fingerprint: str | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"arm": self.arm, "fingerprint": self.fingerprint, "reason": self.reason}


@dataclass(frozen=True)
class RescoringRecord:
    """What the re-scoring phase (:mod:`tais.pipeline.rescoring`) did: the reference's scoring arm, each candidate's
    target scoring arm, and how many scorings
    it committed now. Goes into the run plan (:attr:`RunPlan.rescoring`) so
    :func:`tais.pipeline.rescoring.token_evidence` can find the scorings; ``scored_now`` is not part of it."""

    reference: ScoringArm
    targets: Mapping[str, ScoringArm]
    scored_now: int = field(default=0, compare=False)
    dtypes: Mapping[str, str] = field(default_factory=dict)
    exact_kl: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """candidate -> task -> exact KL summary (:meth:`DivergenceSummary.to_dict`), where both arms run in-process
    and expose full distributions (``log_prob_rows``: the hf engine)."""

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference.to_dict(),
                "targets": {name: arm.to_dict() for name, arm in self.targets.items()},
                "dtypes": dict(self.dtypes), "exact_kl": {c: dict(t) for c, t in self.exact_kl.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RescoringRecord:
        return cls(reference=ScoringArm(**d["reference"]),
                   targets={name: ScoringArm(**a) for name, a in d["targets"].items()}, dtypes=d.get("dtypes", {}),
                   exact_kl=d.get("exact_kl", {}))


@dataclass(frozen=True)
class RunPlan:
    """Which rows of the store make up one run; see the module docstring."""

    name: str
    replicates: int
    thresholds: Thresholds
    tasks: tuple[PlannedTask, ...]
    arms: tuple[PlannedArm, ...]
    #: the verdict-robustness check's second scorer (``auto``, ``none``, a scorer name); None for runs recorded
    #: before the check existed, whose evidence has no ``robustness`` section
    robustness_scorer: str | None = None
    #: where the token evidence's teacher-forced scorings are (the re-scoring phase's record); None for runs with
    #: ``token_evidence: off`` and runs recorded before the phase existed (their plan dict has no ``rescoring`` key)
    rescoring: RescoringRecord | None = None

    def task(self, name: str) -> PlannedTask:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    def keys(self, task: str) -> tuple[CompletionKey, ...]:
        """Every completion key of one task, in item then replicate order."""
        return self.task(task).keys()

    @property
    def reference(self) -> PlannedArm:
        return next(a for a in self.arms if a.role is Role.REFERENCE)

    # -- JSON --------------------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan_version": PLAN_VERSION,
            "name": self.name,
            "replicates": self.replicates,
            "thresholds": self.thresholds.to_dict(),
            "tasks": [
                {"name": t.name, "content_sha256": t.content_sha256, "scorer": t.scorer, "scorer_id": t.scorer_id,
                 "items": [{"item_id": i.item_id, "request_sha256": list(i.request_sha256)} for i in t.items]}
                for t in self.tasks
            ],
            "arms": [{"name": a.name, "role": a.role.value, "fingerprint": a.fingerprint} for a in self.arms],
        } | ({"robustness_scorer": self.robustness_scorer} if self.robustness_scorer is not None else {}) \
            | ({"rescoring": self.rescoring.to_dict()} if self.rescoring is not None else {})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunPlan:
        """A plan written by :meth:`to_dict`. A dict of another ``plan_version`` raises :class:`SchemaVersionError`."""
        version = plan_version(d)
        if version != PLAN_VERSION:
            raise SchemaVersionError(f"run plan version {version}: this tais reads run plan version {PLAN_VERSION} "
                             f"(and converts version {LEGACY_PLAN_VERSION}, through RunPlan.from_legacy)")
        return cls(
            name=d["name"],
            replicates=int(d["replicates"]),
            thresholds=Thresholds.from_dict(d["thresholds"]),
            tasks=tuple(
                PlannedTask(t["name"], t["content_sha256"], t["scorer"], t["scorer_id"],
                            tuple(PlannedItem(i["item_id"], tuple(i["request_sha256"])) for i in t["items"]))
                for t in d["tasks"]
            ),
            arms=tuple(PlannedArm(a["name"], Role(a["role"]), a["fingerprint"]) for a in d["arms"]),
            robustness_scorer=d.get("robustness_scorer"),
            rescoring=RescoringRecord.from_dict(d["rescoring"]) if d.get("rescoring") is not None else None,
        )

    @classmethod
    def from_legacy(cls, d: Mapping[str, Any], item_ids: Mapping[str, Sequence[str]]) -> RunPlan:
        """A version-1 plan (the untyped dict of tais before the RunPlan). ``item_ids`` maps each task's content
        sha256 to its item ids in stored order (the old dict keeps request hashes in one mapping by item id).

        >>> old = {"name": "demo", "replicates": 1, "thresholds": {"margin": 0.05},
        ...        "tasks": [{"name": "t", "content_sha256": "c", "scorer": "s", "scorer_id": "s@1"}],
        ...        "arms": [{"name": "ref", "role": "reference", "fingerprint": "f"}],
        ...        "requests": {"t/1": ["r"]}}
        >>> plan = RunPlan.from_legacy(old, {"c": ["t/1"]})
        >>> plan.thresholds.margin, plan.keys("t")[0].request_sha256, plan.arms[0].role
        (0.05, 'r', <Role.REFERENCE: 'reference'>)
        """
        requests = d["requests"]
        return cls(
            name=d["name"],
            replicates=int(d["replicates"]),
            thresholds=Thresholds.from_dict(d["thresholds"]),
            tasks=tuple(
                PlannedTask(t["name"], t["content_sha256"], t["scorer"], t["scorer_id"],
                            tuple(PlannedItem(i, tuple(requests[i])) for i in item_ids[t["content_sha256"]]))
                for t in d["tasks"]
            ),
            arms=tuple(PlannedArm(a["name"], Role(a["role"]), a["fingerprint"]) for a in d["arms"]),
        )


def plan_version(d: Mapping[str, Any]) -> int:
    """The layout version of a stored plan dict (1 when it has no ``plan_version`` key)."""
    version = d.get("plan_version", LEGACY_PLAN_VERSION)
    return version if isinstance(version, int) else -1
