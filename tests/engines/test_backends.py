"""Every backend has an Engine class built by ``from_arm`` (declared on the interface) and a typed options model that
the screen config and the engine share; the interface's own ``from_arm`` refuses, so a backend cannot forget it."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from tais.engines import BACKENDS, OPTIONS, create_engine, engine_class, options_model
from tais.errors import ConfigError
from tais.interfaces import Engine
from tais.types import ArmSpec


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_backend_builds_from_an_arm_and_has_an_options_model(backend):
    cls = engine_class(backend)
    assert issubclass(cls, Engine) and cls.from_arm.__func__ is not Engine.from_arm.__func__
    assert issubclass(options_model(backend), BaseModel)


def test_the_options_registry_names_exactly_the_backends():
    assert set(OPTIONS) == set(BACKENDS)


def test_the_interface_default_refuses_and_create_engine_uses_the_backend():
    class Scripted(Engine):
        def generate(self, requests):  # pragma: no cover - never called
            raise AssertionError

        def describe(self):
            return {}

    with pytest.raises(NotImplementedError, match="Scripted is not built from an arm spec"):
        Scripted.from_arm(ArmSpec(name="a", backend="mock", model="m"))
    engine = create_engine(ArmSpec(name="a", backend="mock", model="m", options={"batch_size": 2}))
    assert engine.name == "mock" and engine.batch_size == 2
    with pytest.raises(ConfigError, match="unknown backend 'tgi'"):
        options_model("tgi")
