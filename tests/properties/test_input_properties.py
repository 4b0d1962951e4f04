"""Property-based tests (hypothesis) of everything a user types or points tais at: screen configs, battery data files
and command-line arguments. Any input gives a result or one clear error line (exit 2 through the CLI), never a
traceback. The CLI is called in-process (``tais.cli.main.main``) with captured output, plus a few real processes."""

from __future__ import annotations

import string
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tais.battery import load_tasks
from tais.cli.main import main
from tais.errors import InputError
from tais.pipeline.config import load_config

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

GOOD = {
    "name": "t",
    "battery": [{"benchmark": "smoke", "limit": 3}],
    "sampling": {"max_tokens": 16},
    "arms": [{"name": "reference", "role": "reference", "backend": "mock", "model": "mock"},
             {"name": "cand", "backend": "mock", "model": "mock", "options": {"batch_size": 2}}],
}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12))
json_like = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                         max_leaves=12)
KEYS = ["name", "battery", "sampling", "arms", "thresholds", "replicates", "scorers", "judge", "out", "limit",
        "benchmark", "max_tokens", "role", "backend", "model", "options", "speculative", "dtype", "order",
        "order_seed", "margin", "alpha", "temperature", "seed", "logprobs", "draft", "k", "proposer"]


def _paths(value, prefix=()):
    """Every path to a value inside nested dicts and lists."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_configs(draw):
    """The good config with a few values replaced, keys added or removed at random places."""
    import copy

    config = copy.deepcopy(GOOD)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(config) if p]
        path = draw(st.sampled_from(paths))
        parent = config
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(json_like)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = draw(json_like)
    return config


def _one_line(exc: InputError) -> None:
    assert "\n" not in str(exc) and str(exc).strip()


@SETTINGS
@given(config=mutated_configs())
def test_any_config_structure_loads_or_is_one_input_error(tmp_path, config):
    path = tmp_path / "screen.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    try:
        loaded = load_config(path)
    except InputError as exc:
        _one_line(exc)
        assert str(path) in str(exc)
    else:
        assert loaded.arms and loaded.model.name


@SETTINGS
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
       raw=st.binary(max_size=64))
def test_any_config_text_or_bytes_loads_or_is_one_input_error(tmp_path, text, raw):
    path = tmp_path / "screen.yaml"
    for data in (text.encode("utf-8", "surrogatepass"), raw):
        path.write_bytes(data)
        try:
            load_config(path)
        except InputError as exc:
            _one_line(exc)


cells = st.text(alphabet=string.printable + "é\u2028\x00", max_size=10)


@st.composite
def data_files(draw):
    kind = draw(st.sampled_from(["csv", "jsonl", "txt", "json"]))
    if draw(st.booleans()):
        rows = draw(st.lists(st.lists(cells, min_size=1, max_size=3), max_size=5))
        header = draw(st.sampled_from([["key", "goal"], ["goal"], ["key", "goal", "category"], ["x"]]))
        if kind == "csv":
            data = "\n".join(",".join(r) for r in [header, *rows]).encode()
        elif kind == "jsonl":
            import json

            data = "\n".join(json.dumps(dict(zip(header, r))) for r in rows).encode()
        else:
            data = "\n".join(r[0] for r in rows).encode()
    else:
        data = draw(st.binary(max_size=120))
    return kind, data


@SETTINGS
@given(file=data_files(), limit=st.one_of(st.none(), st.integers(-2, 5)),
       columns=st.sampled_from([{"prompt": "goal", "id": "key"}, {"prompt": "goal"}, {"prompt": "text"},
                                {"prompt": "goal", "meta": ["category"]}, {"prompt": ""}, {}]))
def test_any_battery_file_loads_or_is_one_input_error(tmp_path, file, limit, columns):
    kind, data = file
    path = tmp_path / f"d.{kind}"
    path.write_bytes(data)
    spec = {"name": "mine", "source": f"file:{path.name}", "outcome": "refusal", "columns": columns}
    if limit is not None:
        spec["limit"] = limit
    try:
        tasks = load_tasks(spec, base_dir=tmp_path)
    except InputError as exc:
        _one_line(exc)
    else:
        assert all(item.prompt for task in tasks for item in task.items)


WORDS = ["run", "screen", "verify", "report", "export", "stats", "paired", "plan", "battery", "list", "show",
         "init", "scorer-eval", "--margin", "--alpha", "--json", "--quiet", "--junit", "--out", "--parquet",
         "--labels", "--b", "--c", "--n", "--a", "--d", "--discordance", "--rate", "--power", "--limit", "--items",
         "--source", "smoke", "nope", "-1", "0", "0.5", "2", "1e9", "nan", "--", "-x", "screen.yaml", "missing/dir"]


# the monkeypatched cwd is undone at the end of every example (monkeypatch.undo below)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=6)), max_size=7))
def test_any_arguments_give_a_result_or_one_error_line(monkeypatch, capsys, argv):
    import tempfile

    if "demo" in argv:  # the one command that runs a real model with no arguments
        return
    with tempfile.TemporaryDirectory() as fresh:  # a fresh folder per example: `init` then `run` would run a model
        monkeypatch.chdir(fresh)
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help / --version exit 0, a usage error exits 2
            code = exc.code
        monkeypatch.undo()
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert code in (0, 1, 2, 3), (argv, code, captured.err)
    if code == 2:
        errors = [line for line in captured.err.splitlines() if line.startswith("tais: error:")]
        assert len(errors) == 1 or captured.out.startswith("usage:"), (argv, captured.err)


@pytest.mark.parametrize("argv", [
    ["stats", "paired", "--a", "1", "--b", "x", "--c", "1", "--d", "1"],
    ["plan", "--discordance", "2", "--rate", "0.5"],
    ["verify", "missing/dir"],
    ["run", "\x01.yaml"],
])
def test_bad_arguments_in_a_real_process_are_one_line_and_exit_2(tmp_path, argv):
    done = subprocess.run([sys.executable, "-m", "tais.cli.main", *argv], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len([line for line in done.stderr.splitlines() if line.strip()]) == 1, done.stderr
    assert done.stderr.startswith("tais: error: ")
