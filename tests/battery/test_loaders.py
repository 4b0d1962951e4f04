"""Loaders: the same rows in CSV, TSV, JSON Lines, a JSON list and Parquet give the same items and the same content
pin; column mapping (ids, choices, answers, meta), row filters and limits."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tais.battery import load_tasks
from tais.battery.pinning import task_sha256
from tais.errors import DataError

ROWS = [
    {"key": "k1", "question": "Which is a fruit?", "opts": ["Carrot", "Apple", "Leek"], "gold": "B", "cat": "food"},
    {"key": "k2", "question": "Café or tea? (UTF-8: \u00e9\u4e2d)", "opts": ["Café", "Tea"], "gold": "0", "cat": "drink"},
    {"key": "k3", "question": "Two, plus \"two\"?", "opts": ["3", "4"], "gold": "4", "cat": "maths"},
]
MAPPING = {"prompt": "question", "id": "key", "choices": "opts", "answer": "gold", "meta": ["cat"]}


def write_all_formats(folder: Path) -> dict[str, Path]:
    import csv

    folder.mkdir(exist_ok=True)
    paths = {}
    for fmt, delim in (("csv", ","), ("tsv", "\t")):
        p = folder / f"d.{fmt}"
        with open(p, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, delimiter=delim)
            w.writerow(["key", "question", "opts", "gold", "cat"])
            for r in ROWS:
                w.writerow([r["key"], r["question"], json.dumps(r["opts"]), r["gold"], r["cat"]])
        paths[fmt] = p
    paths["jsonl"] = folder / "d.jsonl"
    paths["jsonl"].write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    paths["json"] = folder / "d.json"
    paths["json"].write_text(json.dumps(ROWS, indent=1), encoding="utf-8")
    paths["parquet"] = folder / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), paths["parquet"])
    return paths


def test_every_format_gives_the_same_items_and_pin(tmp_path):
    paths = write_all_formats(tmp_path)
    tasks = {fmt: load_tasks({"name": "mc", "source": f"file:{p.name}", "outcome": "multiple_choice",
                              "columns": MAPPING}, base_dir=tmp_path)[0] for fmt, p in paths.items()}
    first = tasks["csv"]
    assert [i.id for i in first.items] == ["mc/k1", "mc/k2", "mc/k3"]
    assert first.items[0].choices == ("Carrot", "Apple", "Leek") and first.items[0].answer == "B"
    assert first.items[1].answer == "A"          # a 0-based index
    assert first.items[2].answer == "B"          # the text of a choice
    assert first.items[1].prompt.endswith("\u00e9\u4e2d)") and first.items[2].prompt == 'Two, plus "two"?'
    assert first.items[0].meta == (("cat", "food"),)
    assert first.scorer == "multiple-choice" and first.sha256 == task_sha256(first)
    for fmt, task in tasks.items():
        assert task.items == first.items, fmt
        assert task.sha256 == first.sha256, fmt


def test_list_of_choice_columns_text_format_and_record_number_ids(tmp_path):
    (tmp_path / "q.csv").write_text("q,a,b,ans\nUp or down?,Up,Down,b\n", encoding="utf-8")
    t = load_tasks({"name": "ud", "source": "file:q.csv", "outcome": "multiple_choice",
                    "columns": {"prompt": "q", "choices": ["a", "b"], "answer": "ans"}}, base_dir=tmp_path)[0]
    assert t.items[0].id == "ud/1" and t.items[0].choices == ("Up", "Down") and t.items[0].answer == "B"
    (tmp_path / "p.txt").write_text("first prompt\n\n  second prompt  \n", encoding="utf-8")
    t = load_tasks({"name": "txt", "source": "file:p.txt", "outcome": "refusal", "columns": {"prompt": "text"}},
                   base_dir=tmp_path)[0]
    assert [(i.id, i.prompt) for i in t.items] == [("txt/1", "first prompt"), ("txt/2", "second prompt")]


def test_where_filter_limit_and_system_prompt(tmp_path):
    (tmp_path / "d.csv").write_text("id,prompt,label\n1,a,safe\n2,b,unsafe\n3,c,safe\n4,d,safe\n", encoding="utf-8")
    spec = {"name": "safe", "source": "file:d.csv", "outcome": "compliance", "columns": {"prompt": "prompt", "id": "id"},
            "where": {"label": "safe"}, "limit": 2, "system_prompt": "Be kind."}
    t = load_tasks(spec, base_dir=tmp_path)[0]
    assert [i.id for i in t.items] == ["safe/1", "safe/3"] and t.system_prompt == "Be kind."
    assert t.scorer == "refusal-hybrid" and t.source == "file:d.csv"
    with pytest.raises(DataError, match="no rows match where"):
        load_tasks({**spec, "where": {"label": "other"}}, base_dir=tmp_path)


def test_folder_source_needs_a_path_when_it_holds_several_files(tmp_path):
    write_all_formats(tmp_path / "data")
    spec = {"name": "mc", "source": "file:data", "outcome": "multiple_choice", "columns": MAPPING}
    with pytest.raises(DataError, match="source is a folder with 5 data files in it; name the file with path:"):
        load_tasks(spec, base_dir=tmp_path)
    assert len(load_tasks({**spec, "path": "d.jsonl"}, base_dir=tmp_path)[0].items) == 3


def test_multiple_choice_answer_outside_the_choices_is_an_error(tmp_path):
    (tmp_path / "q.jsonl").write_text(json.dumps({"q": "x?", "o": ["a", "b"], "g": "E"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"q\.jsonl:1:g: answer 'E' is neither a letter A-B"):
        load_tasks({"name": "q", "source": "file:q.jsonl", "outcome": "multiple_choice",
                    "columns": {"prompt": "q", "choices": "o", "answer": "g"}}, base_dir=tmp_path)
