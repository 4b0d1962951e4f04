"""``sweep:`` and ``executor:`` in the config: grid expansion into named candidate arms, per-arm resources, and one
error line naming the key for every bad grid (exit 2 through the CLI)."""

from __future__ import annotations

import textwrap

import pytest

from tais.cli.main import main
from tais.errors import ConfigError
from tais.pipeline.config import load_config
from tais.types import Role

BASE = """\
name: t
battery: [{benchmark: smoke, limit: 2}]
arms:
  - {name: reference, role: reference, backend: mock, model: mock}
"""
SWEEP = """\
sweep:
  template: {name: spec, backend: hf, model: m, speculative: {proposer: ngram, k: 1}, resources: {gpus: 1}}
  grid:
    speculative.k: [1, 2, 4, 8]
    dtype: [float32, bfloat16]
"""


def _load(tmp_path, text):
    path = tmp_path / "screen.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path)


def test_a_grid_expands_into_named_candidate_arms_in_grid_order(tmp_path):
    config = _load(tmp_path, BASE + SWEEP)
    names = [a.spec.name for a in config.arms]
    assert names == ["reference", "spec-k1-float32", "spec-k1-bfloat16", "spec-k2-float32", "spec-k2-bfloat16",
                     "spec-k4-float32", "spec-k4-bfloat16", "spec-k8-float32", "spec-k8-bfloat16"]
    k4 = next(a for a in config.arms if a.spec.name == "spec-k4-bfloat16")
    assert k4.spec.speculative == {"proposer": "ngram", "k": 4} and k4.spec.dtype == "bfloat16"
    assert k4.spec.role is Role.CANDIDATE and k4.resources is not None and k4.resources.gpus == 1
    assert config.reference.spec.name == "reference"


def test_executor_defaults_to_local_and_reads_ray_settings(tmp_path):
    assert _load(tmp_path, BASE + SWEEP).model.executor.kind == "local"
    ray = _load(tmp_path, BASE + SWEEP + "executor: {ray: {address: 'ray://head:10001', max_retries: 5}}")
    assert ray.model.executor.kind == "ray" and ray.model.executor.ray.address == "ray://head:10001"
    assert ray.model.executor.ray.max_retries == 5
    assert _load(tmp_path, BASE + SWEEP + "executor: ray\n").model.executor.ray.address == "auto"


BAD = [
    ("grid key unknown", SWEEP.replace("dtype: [", "dtipe: ["),
     "sweep.grid.dtipe: not an arm key that a sweep can vary"),
    ("grid key name", SWEEP.replace("dtype: [", "name: ["), "sweep.grid.name: not an arm key that a sweep can vary"),
    ("grid value invalid", SWEEP.replace("[1, 2, 4, 8]", "[1, 0]"),
     "sweep.grid.speculative.k: value 0: Input should be greater than or equal to 1"),
    ("grid value not a list", SWEEP.replace("[1, 2, 4, 8]", "4"),
     "sweep.grid.speculative.k: Input should be a valid list"),
    ("grid value empty", SWEEP.replace("[1, 2, 4, 8]", "[]"), "sweep.grid.speculative.k: needs at least one value"),
    ("grid dtype invalid", SWEEP.replace("bfloat16]", "int3]"), "sweep.grid.dtype: value 'int3'"),
    ("grid empty", SWEEP.split("  grid:")[0] + "  grid: {}\n", "sweep.grid: "),
    ("template unknown key", SWEEP.replace("model: m,", "model: m, colour: red,"),
     "sweep.template.colour: unknown key"),
    ("template is a reference", SWEEP.replace("{name: spec,", "{name: spec, role: reference,"),
     "sweep.template.role: a sweep's arms are candidates"),
    ("name clash", "  - {name: spec-k1-float32, backend: mock, model: mock}\n" + SWEEP,
     "sweep.grid: the grid point {'speculative.k': 1, 'dtype': 'float32'} is named 'spec-k1-float32', which is "
     "already the name of another arm"),
    ("same name twice", SWEEP.replace("[float32, bfloat16]", "[float32, float32]"),
     "sweep.grid: the grid point {'speculative.k': 1, 'dtype': 'float32'} is named 'spec-k1-float32'"),
    ("resources", SWEEP.replace("gpus: 1", "gpus: -1"), "sweep.template.resources.gpus: Input should be greater"),
    ("executor", SWEEP + "executor: {ray: {max_retries: -1}}\n", "executor.ray.max_retries: Input should be greater"),
]


@pytest.mark.parametrize("label,sweep,message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_grid_is_one_line_naming_the_key(tmp_path, capsys, label, sweep, message):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, BASE + sweep)
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(tmp_path / "screen.yaml") + ": ")
    assert message in text, text
    assert main(["run", str(tmp_path / "screen.yaml"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_sweep_with_only_a_reference_listed_is_enough_but_a_lone_reference_is_not(tmp_path):
    assert len(_load(tmp_path, BASE + SWEEP).arms) == 9
    with pytest.raises(ConfigError, match="arms: List should have at least 2 items"):
        _load(tmp_path, BASE)


def test_a_ray_address_without_the_ray_executor_is_one_line_and_writes_nothing(tmp_path, capsys):
    config = _load(tmp_path, BASE + SWEEP.replace("backend: hf, model: m", "backend: mock, model: mock"))
    assert main(["run", str(config.path), "--quiet", "--ray-address", "10.0.0.1:6379"]) == 2
    assert capsys.readouterr().err.strip() == ("tais: error: --ray-address: needs the ray executor (--executor ray, "
                                               "or executor: {ray: ...} in the config)")
    assert not (tmp_path / "runs").exists()
