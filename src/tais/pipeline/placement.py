"""Where an arm ran: the node and host of its worker and the cluster's resources, for the evidence.

The Ray executor records one placement per generation session of an arm, in the arm's telemetry rows of the store
(the key ``placement``; numeric telemetry sums ignore it), so a resumed run keeps where each part ran and a re-run that
generates nothing writes the same evidence. :func:`cluster_evidence` turns those rows into the evidence's ``cluster``
object; a run whose arms all ran locally has none (and its evidence no ``cluster`` key, as before).

Worked example::

    >>> session = ArmPlacement("ray", "ab12", "gpu-node-3", 1, 70, {"CPU": 16.0, "GPU": 2.0}).to_session()
    >>> cluster_evidence({"spec-k4": [{"spec_drafted": 10}, session], "reference": []})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'arms': {'spec-k4': [{'executor': 'ray', 'hostname': 'gpu-node-3', 'node_id': 'ab12', 'requests_sent': 70,
                            'worker_restarts': 1}]},
     'resources': {'CPU': 16.0, 'GPU': 2.0}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PLACEMENT_KEY = "placement"


@dataclass(frozen=True)
class ArmPlacement:
    """One generation session of an arm: the executor, the Ray node id and hostname of its worker, how many times the
    worker was restarted during the session, how many requests were sent to workers (a request in flight when a
    worker was lost is sent again; one already committed never is), and the cluster's total resources."""

    executor: str
    node_id: str
    hostname: str
    worker_restarts: int = 0
    requests_sent: int = 0
    cluster: Mapping[str, float] = field(default_factory=dict)

    def to_session(self) -> dict[str, Any]:
        """The arm telemetry row that records it."""
        return {PLACEMENT_KEY: {"executor": self.executor, "node_id": self.node_id, "hostname": self.hostname,
                                "worker_restarts": self.worker_restarts,
                                "requests_sent": self.requests_sent, "cluster": dict(sorted(self.cluster.items()))}}


def cluster_evidence(sessions_by_arm: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """The evidence's ``cluster`` object (empty when no arm has a placement): arm -> its placements in session order,
    and the cluster resources of the last session recorded."""
    arms: dict[str, list[dict[str, Any]]] = {}
    resources: dict[str, float] = {}
    for arm, sessions in sessions_by_arm.items():
        for session in sessions:
            placed = session.get(PLACEMENT_KEY)
            if isinstance(placed, Mapping):
                arms.setdefault(arm, []).append({k: v for k, v in sorted(placed.items()) if k != "cluster"})
                resources = dict(placed.get("cluster") or resources)
    return {"arms": arms, "resources": resources} if arms else {}
