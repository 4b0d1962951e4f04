"""The run plan: which rows of the store make up one finished run, as a frozen, typed record.

A :class:`RunPlan` names the battery (each task by the sha256 its content is stored under, with its scorer), the arms
(each with its :class:`~tais.types.Role` and the fingerprint its completions are stored under), the replicates, the
configured :class:`~tais.types.Thresholds`, and the request sha256 of every (item, replicate): so it names every
:class:`~tais.types.CompletionKey` of the run, in battery order.

Who builds it: :func:`tais.pipeline.run.run_config`, once per run, after generating (the fingerprints come from the
engines). Who holds it: the store's run record (``runs.plan_json``, :meth:`tais.store.RunStore.add_run`). Who reads
it: :func:`tais.pipeline.analysis.read_run` (``tais run``, ``tais screen``, ``tais report``), ``tais verify``, and a
resumed ``tais run`` (which reuses the newest run when its plan is equal).

The request hashes (one row per item: at 1,000,000 items about 340 MB as Python objects) are not part of the plan's
JSON: each task's :class:`PlannedItems` is a value of a few fields (the sha256 of its items and hashes, in order, and
how many items), and its rows live in the store's ``plan_items`` table, written once when the plan is built
(:meth:`tais.store.RunStore.put_plan_items`) and read back by cursor each time they are walked (resume, screen,
verify), their sha256 checked at the end of each walk. Two plans are equal when their items' sha256 are, however
each holds its rows (in memory or in a store). A plan built in memory (tests, a converted old plan) holds its rows
inline.

It round-trips exactly through JSON (:meth:`RunPlan.to_dict` / :meth:`RunPlan.from_dict`); ``plan_version`` says
which layout a stored dict has. Version 3 (this one) names each task's items by sha256 and count. Version 2 kept
every item's request hashes inline in the JSON: it is read as it is (its rows held in memory, as that tais held them).
Version 1 is the untyped dict that tais wrote before the RunPlan existed (no ``plan_version`` key; the request hashes
in one mapping of item id -> hashes): :meth:`RunPlan.from_legacy` converts it, given the item order of each stored
task. A version newer than this code reads is refused with one line naming the versions it reads.

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

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from tais.errors import SchemaVersionError
from tais.types import CompletionKey, Role, Thresholds

PLAN_VERSION = 3
"""The layout :meth:`RunPlan.to_dict` writes (each task's items by sha256 and count, their rows in the store). 2: the
request hashes inline (still read); 1: the untyped dict of tais before the RunPlan (read via
:meth:`RunPlan.from_legacy`)."""
INLINE_PLAN_VERSION = 2
LEGACY_PLAN_VERSION = 1


@dataclass(frozen=True)
class PlannedItem:
    """One item of the run and the request sha256 of each of its replicates (index = replicate)."""

    item_id: str
    request_sha256: tuple[str, ...]

    def keys(self) -> tuple[CompletionKey, ...]:
        return tuple(CompletionKey(self.item_id, r, sha) for r, sha in enumerate(self.request_sha256))


class ItemsDigest:
    r"""The sha256 that names a task's planned items: fed item by item, in order (each item's id, length-prefixed,
    and its request hashes), with how many were fed.

    >>> d = ItemsDigest(); d.add(PlannedItem("t/1", ("r1", "r2")))
    >>> d.count, d.hexdigest() == hashlib.sha256(b"tais.plan-items/1\n3:t/1r1,r2\n").hexdigest()
    (1, True)
    """

    def __init__(self) -> None:
        self._sha = hashlib.sha256(b"tais.plan-items/1\n")
        self.count = 0

    def add(self, item: PlannedItem) -> None:
        self.add_row(item.item_id, ",".join(item.request_sha256))

    def add_row(self, item_id: str, requests: str) -> None:
        """One item as the store keeps it: its id and its request hashes joined by commas."""
        raw = item_id.encode("utf-8", "surrogatepass")
        self._sha.update(b"%d:%b%b\n" % (len(raw), raw, requests.encode("utf-8", "surrogatepass")))
        self.count += 1

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


ItemReader = Callable[[str, int], Iterator[PlannedItem]]
"""Reads the items named by (sha256, count) back in order (:meth:`tais.store.RunStore.plan_items`)."""


class PlannedItems:
    """The items of one planned task, in order: named by their :class:`ItemsDigest` (``sha256``) and ``count``, and
    held either inline (a tuple) or in a store (read by cursor through ``reader`` at each walk). Equal when sha256 and
    count are; iterable, sized and indexable whichever way they are held. A value read from a plan's JSON with no
    store to read from (``reader`` None) knows only its name: walking it raises :class:`LookupError`.

    >>> items = PlannedItems.of([PlannedItem("t/1", ("r1",)), PlannedItem("t/2", ("r2",))])
    >>> len(items), items[1].item_id, PlannedItems(items.sha256, 2) == items
    (2, 't/2', True)
    """

    __slots__ = ("sha256", "count", "_inline", "_reader")

    def __init__(self, sha256: str, count: int, inline: tuple[PlannedItem, ...] | None = None,
                 reader: ItemReader | None = None) -> None:
        self.sha256, self.count, self._inline, self._reader = sha256, int(count), inline, reader

    @classmethod
    def of(cls, items: Iterable[PlannedItem]) -> PlannedItems:
        """Items held inline (their sha256 computed here)."""
        held = tuple(items)
        digest = ItemsDigest()
        for item in held:
            digest.add(item)
        return cls(digest.hexdigest(), digest.count, inline=held)

    @property
    def inline(self) -> bool:
        return self._inline is not None

    def __iter__(self) -> Iterator[PlannedItem]:
        if self._inline is not None:
            return iter(self._inline)
        if self._reader is None:
            raise LookupError(f"the plan's items {self.sha256[:12]} are kept in the run store: read the plan "
                              "through RunStore to walk them")
        return self._reader(self.sha256, self.count)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> PlannedItem:
        if self._inline is not None:
            return self._inline[index]
        position = index + self.count if index < 0 else index
        found = next(islice(iter(self), position, None), None) if 0 <= position < self.count else None
        if found is None:
            raise IndexError(index)
        return found

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlannedItems):
            return NotImplemented
        return (self.sha256, self.count) == (other.sha256, other.count)

    def __hash__(self) -> int:
        return hash((self.sha256, self.count))

    def __repr__(self) -> str:
        where = "inline" if self._inline is not None else "stored" if self._reader is not None else "unread"
        return f"PlannedItems(sha256={self.sha256[:12]!r}, count={self.count}, {where})"

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "items": self.count}


@dataclass(frozen=True)
class PlannedTask:
    """One task of the run: its name, the sha256 its content is stored under, the scorer named in the config
    (``scorer``) and the id of the scorer that scored it (``scorer_id``, ``NAME@VERSION``), and its items in order
    (:class:`PlannedItems`; a sequence of :class:`PlannedItem` given here is held inline)."""

    name: str
    content_sha256: str
    scorer: str
    scorer_id: str
    items: PlannedItems

    def __post_init__(self) -> None:
        if not isinstance(self.items, PlannedItems):
            object.__setattr__(self, "items", PlannedItems.of(self.items))

    def keys(self) -> tuple[CompletionKey, ...]:
        """Every completion key of the task: item by item, replicate by replicate."""
        return tuple(self.iter_keys())

    def iter_keys(self) -> Iterator[CompletionKey]:
        """:meth:`keys` one at a time (a stored plan's items are read by cursor)."""
        for item in self.items:
            for replicate, sha in enumerate(item.request_sha256):
                yield CompletionKey(item.item_id, replicate, sha)


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
                 "requests": t.items.to_dict()}
                for t in self.tasks
            ],
            "arms": [{"name": a.name, "role": a.role.value, "fingerprint": a.fingerprint} for a in self.arms],
        } | ({"robustness_scorer": self.robustness_scorer} if self.robustness_scorer is not None else {}) \
            | ({"rescoring": self.rescoring.to_dict()} if self.rescoring is not None else {})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], reader: ItemReader | None = None) -> RunPlan:
        """A plan written by :meth:`to_dict` (version 3: each task's items read through ``reader``, or, with None,
        named only), or by the tais before it (version 2: the items inline). A dict of another ``plan_version``
        raises :class:`SchemaVersionError`."""
        version = plan_version(d)
        if version not in (PLAN_VERSION, INLINE_PLAN_VERSION):
            raise SchemaVersionError(f"run plan version {version}: this tais reads run plan version {PLAN_VERSION} "
                                     f"(and {INLINE_PLAN_VERSION}, and converts version {LEGACY_PLAN_VERSION}, "
                                     "through RunPlan.from_legacy)")

        def items(t: Mapping[str, Any]) -> PlannedItems:
            if version == INLINE_PLAN_VERSION:
                return PlannedItems.of(PlannedItem(i["item_id"], tuple(i["request_sha256"])) for i in t["items"])
            return PlannedItems(str(t["requests"]["sha256"]), int(t["requests"]["items"]), reader=reader)

        return cls(
            name=d["name"],
            replicates=int(d["replicates"]),
            thresholds=Thresholds.from_dict(d["thresholds"]),
            tasks=tuple(PlannedTask(t["name"], t["content_sha256"], t["scorer"], t["scorer_id"], items(t))
                        for t in d["tasks"]),
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
                            PlannedItems.of(PlannedItem(i, tuple(requests[i])) for i in item_ids[t["content_sha256"]]))
                for t in d["tasks"]
            ),
            arms=tuple(PlannedArm(a["name"], Role(a["role"]), a["fingerprint"]) for a in d["arms"]),
        )


def plan_version(d: Mapping[str, Any]) -> int:
    """The layout version of a stored plan dict (1 when it has no ``plan_version`` key)."""
    version = d.get("plan_version", LEGACY_PLAN_VERSION)
    return version if isinstance(version, int) else -1
