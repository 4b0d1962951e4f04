"""Arm fingerprints and request hashes: what decides whether a stored completion may answer a request.

The **arm fingerprint** is the sha256 of the canonical JSON of everything that can change an arm's output:

- ``engine``: the engine's own ``describe()`` (backend and its version, model / draft file hashes, engine args,
  speculative config, dtype, chat template),
- ``spec``: the arm spec as configured, minus its name and role (backend, model and draft sources, dtype, device,
  speculative block, options such as the batch size),
- ``sampling``: the sampling parameters,
- ``order``: the request order (``as-listed``, or ``shuffled`` with its seed), because batch composition can change
  numerics,
- ``null``: for an A/A null arm only, its name, so that a null arm never reuses the reference's completions even when
  every setting is equal (it must be generated again to measure the stack's own noise).

Renaming a candidate arm keeps its fingerprint (its stored completions are reused); changing any setting above gives a
new fingerprint, so a changed arm is generated again and never answered from a stale cache. Scorers are not part of
it: they do not change what an arm generates, and scores are stored under their own scorer id (``NAME@VERSION``), so
a changed scorer re-scores the stored completions without generating them again.

The **request hash** pins the exact input of one completion: the chat turns (or raw prompt) and the replicate. It
is part of the store key, so an item whose text or system prompt changed is generated again.

Worked example::

    >>> a = arm_fingerprint({"backend": "mock"}, ArmSpec(name="a", backend="mock", model="m"))
    >>> b = arm_fingerprint({"backend": "mock"}, ArmSpec(name="b", backend="mock", model="m"))
    >>> a == b                                 # the name is not part of it
    True
    >>> c = arm_fingerprint({"backend": "mock"}, ArmSpec(name="a", backend="mock", model="m",
    ...                     sampling=SamplingParams(max_tokens=32)))
    >>> a == c
    False
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tais.store.canonical import canonical_json, sha256_json
from tais.types import ArmSpec, ChatMessage, Role, SamplingParams

FINGERPRINT_VERSION = 2


def fingerprint_document(
    describe: Mapping[str, Any],
    arm: ArmSpec,
    *,
    order: str = "as-listed",
    order_seed: int = 0,
) -> dict[str, Any]:
    """The JSON document whose sha256 is the arm fingerprint (see the module docstring)."""
    spec = arm.to_dict()
    spec.pop("name")
    spec.pop("role")
    sampling = spec.pop("sampling")
    doc: dict[str, Any] = {
        "fingerprint_version": FINGERPRINT_VERSION,
        "engine": dict(describe),
        "spec": spec,
        "sampling": sampling,
        "order": {"order": order, "seed": order_seed if order == "shuffled" else None},
    }
    if arm.role is Role.NULL:
        doc["null"] = arm.name
    # round-trip through canonical JSON: a describe() that is not JSON-serialisable fails here, loudly
    canonical_json(doc)
    return doc


def arm_fingerprint(
    describe: Mapping[str, Any],
    arm: ArmSpec,
    *,
    order: str = "as-listed",
    order_seed: int = 0,
) -> str:
    """Hex sha256 of :func:`fingerprint_document`."""
    return sha256_json(fingerprint_document(describe, arm, order=order, order_seed=order_seed))


def request_sha256(messages: Sequence[ChatMessage] | None, prompt: str | None, replicate: int,
                   sampling: SamplingParams | None = None) -> str:
    """Hex sha256 of one request's input: its chat turns or raw prompt and its replicate (and sampling, when given).

    >>> request_sha256((ChatMessage("user", "hi"),), None, 0) == request_sha256((ChatMessage("user", "hi"),), None, 1)
    False
    """
    return sha256_json({
        "messages": None if messages is None else [[m.role, m.content] for m in messages],
        "prompt": prompt,
        "replicate": replicate,
        "sampling": None if sampling is None else sampling.to_dict(),
    })
