"""Speed is timed in steady state: each arm's engine gets a short untimed warm-up generate first, so a cold start
(here: an engine whose first generate takes a second) does not land in the arm's tokens/s; and every candidate's
speed row carries the null arm's speedup, the noise floor of speed."""

from __future__ import annotations

import time

import pytest

import tais.pipeline.run as run_module
from helpers.mock_configs import mock_config, write
from tais.engines import BACKENDS
from tais.engines.mock import MockEngine
from tais.pipeline.config import load_config
from tais.pipeline.run import run_config

COLD_START_S = 1.0


class ColdStartEngine(MockEngine):
    """The mock engine, except that the first generate() of each instance takes COLD_START_S longer."""

    async def generate(self, requests):
        if not getattr(self, "warm", False):
            self.warm = True
            time.sleep(COLD_START_S)
        async for completion in super().generate(requests):
            yield completion


@pytest.fixture
def cold_mock(monkeypatch):
    monkeypatch.setitem(BACKENDS, "mock", f"{__name__}:ColdStartEngine")


def _walls(tmp_path, name):
    outcome = run_config(load_config(write(tmp_path, mock_config(items=3), f"{name}.yaml")),
                         out_dir=tmp_path / name)
    return {s.arm: s for s in outcome.result.speed}


def test_a_cold_start_is_not_timed(tmp_path, cold_mock):
    speed = _walls(tmp_path, "warm")
    assert all(s.wall_s < COLD_START_S / 2 for s in speed.values()), speed


def test_without_the_warm_up_the_cold_start_is_timed(tmp_path, cold_mock, monkeypatch):
    """The positive control: the same engines with the warm-up switched off put the cold start in every arm."""
    monkeypatch.setattr(run_module, "warm_up", lambda engine, requests: None)
    speed = _walls(tmp_path, "cold")
    assert all(s.wall_s >= COLD_START_S for s in speed.values()), speed


def test_each_candidate_shows_the_null_arms_speedup(tmp_path):
    speed = _walls(tmp_path, "floor")
    assert speed["same"].null_speedup == speed["aa"].speedup is not None
    assert speed["reference"].null_speedup is None and speed["aa"].null_speedup is None
