"""Content pins: a task's sha256 is the digest of its canonical content; a pinned config fails when the content
changes, unless the new hash is accepted."""

from __future__ import annotations

import hashlib
import json

import pytest

from tais.battery import load_tasks
from tais.battery.pinning import canonical_bytes, task_sha256
from tais.errors import ConfigError, SourceError


@pytest.fixture()
def data(tmp_path):
    (tmp_path / "d.csv").write_text("id,prompt\n1,first\n2,second\n", encoding="utf-8")
    return tmp_path


SPEC = {"name": "t", "source": "file:d.csv", "outcome": "refusal", "columns": {"prompt": "prompt", "id": "id"}}


def test_pin_is_sha256_of_the_canonical_json(data):
    task = load_tasks(SPEC, base_dir=data)[0]
    expected = json.dumps({"items": [{"answer": None, "choices": [], "id": "t/1", "meta": [], "prompt": "first"},
                                     {"answer": None, "choices": [], "id": "t/2", "meta": [], "prompt": "second"}],
                           "name": "t", "outcome": "refusal", "scorer": "refusal-hybrid", "system_prompt": None},
                          sort_keys=True, separators=(",", ":")).encode()
    assert canonical_bytes(task) == expected
    assert task.sha256 == hashlib.sha256(expected).hexdigest() == task_sha256(task)


def test_matching_pin_loads_and_a_changed_source_is_an_error(data):
    pin = load_tasks(SPEC, base_dir=data)[0].sha256
    assert load_tasks({**SPEC, "sha256": pin.upper()}, base_dir=data)[0].sha256 == pin
    (data / "d.csv").write_text("id,prompt\n1,first\n2,second, edited\n".replace("second, edited", '"second!"'),
                                encoding="utf-8")
    with pytest.raises(SourceError) as err:
        load_tasks({**SPEC, "sha256": pin}, base_dir=data)
    assert f"pinned {pin}: the content changed; set accept_new_hash: true" in str(err.value)
    accepted = load_tasks({**SPEC, "sha256": pin, "accept_new_hash": True}, base_dir=data)[0]
    assert accepted.sha256 != pin and accepted.items[1].prompt == "second!"


def test_pin_changes_with_system_prompt_and_limit_but_not_file_formatting(data):
    base = load_tasks(SPEC, base_dir=data)[0].sha256
    assert load_tasks({**SPEC, "system_prompt": "x"}, base_dir=data)[0].sha256 != base
    assert load_tasks({**SPEC, "limit": 1}, base_dir=data)[0].sha256 != base
    (data / "d.csv").write_bytes(b'prompt,id\r\n"first",1\r\nsecond,"2"\r\n')
    assert load_tasks(SPEC, base_dir=data)[0].sha256 == base


def test_multi_task_entries_pin_by_task_name():
    tasks = load_tasks({"benchmark": "smoke"}, base_dir=".")
    pins = {t.name: t.sha256 for t in tasks}
    assert load_tasks({"benchmark": "smoke", "sha256": pins}, base_dir=".")
    with pytest.raises(SourceError, match="task 'smoke-mc'"):
        load_tasks({"benchmark": "smoke", "sha256": {**pins, "smoke-mc": "0" * 64}}, base_dir=".")
    with pytest.raises(ConfigError, match="this entry loads 3 tasks"):
        load_tasks({"benchmark": "smoke", "sha256": "0" * 64}, base_dir=".")
    with pytest.raises(ConfigError, match="no task 'smoke-x'"):
        load_tasks({"benchmark": "smoke", "sha256": {"smoke-x": "0" * 64}}, base_dir=".")
