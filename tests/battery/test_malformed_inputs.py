"""Malformed battery inputs: each gives one DataError / ConfigError line naming the file and line (and column where
there is one), and exit code 2 through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tais.battery import load_tasks
from tais.cli.main import main
from tais.errors import ConfigError, DataError, InputError


def custom(path: Path, **extra) -> dict:
    return {"name": "mine", "source": f"file:{path.name}", "outcome": "refusal",
            "columns": {"prompt": "goal", "id": "key"}, **extra}


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


def test_missing_column_names_file_header_line_and_column(tmp_path):
    p = write(tmp_path, "d.csv", "key,prompt\n1,hello\n")
    with pytest.raises(DataError) as err:
        load_tasks(custom(p), base_dir=tmp_path)
    assert str(err.value) == f"{p}:1:goal: missing column 'goal' (columns: key, prompt)"


def test_missing_key_in_one_jsonl_row_names_that_line(tmp_path):
    p = write(tmp_path, "d.jsonl", '{"key": "a", "goal": "x"}\n\n{"key": "b"}\n')
    with pytest.raises(DataError, match=r"d\.jsonl:3:goal: missing column 'goal'"):
        load_tasks(custom(p), base_dir=tmp_path)


@pytest.mark.parametrize("name,data", [("e.csv", ""), ("e.csv", "key,goal\n"), ("e.jsonl", "\n\n"),
                                       ("e.txt", "  \n")])
def test_empty_file(tmp_path, name, data):
    p = write(tmp_path, name, data)
    spec = custom(p, columns={"prompt": "text"}) if name.endswith(".txt") else custom(p)
    with pytest.raises(DataError) as err:
        load_tasks(spec, base_dir=tmp_path)
    assert str(err.value) == f"{p}:1: no rows: the file is empty"


def test_bad_utf8_names_line_and_column(tmp_path):
    p = write(tmp_path, "d.csv", b"key,goal\n1,fine\n2,caf\xe9 au lait\n")
    with pytest.raises(DataError) as err:
        load_tasks(custom(p), base_dir=tmp_path)
    assert str(err.value) == f"{p}:3:6: not valid UTF-8 (byte 0xe9)"


def test_duplicate_ids_name_the_second_line_and_the_first(tmp_path):
    p = write(tmp_path, "d.csv", 'key,goal\n1,a\n2,"multi\nline"\n1,c\n')
    with pytest.raises(DataError) as err:
        load_tasks(custom(p), base_dir=tmp_path)
    assert str(err.value) == f"{p}:5:key: duplicate id '1' (first on line 2)"


def test_unknown_benchmark_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_tasks({"benchmark": "advbenhc"}, base_dir=tmp_path)
    assert "battery: benchmark: unknown benchmark 'advbenhc'; known: advbench, arc-challenge, bbq, harmbench" in str(
        err.value)


@pytest.mark.parametrize("columns,message", [
    ({"prompt": "goal", "ids": "key"}, "battery: columns.ids: unknown mapping key 'ids'"),
    ({"id": "key"}, "battery: columns.prompt: the column holding the prompt is required"),
    ("goal", "battery: columns: must be a mapping"),
    ({"prompt": "goal", "choices": ["a", "b"]}, "battery: columns.answer: choices and answer go together"),
])
def test_bad_column_mapping_names_the_key(tmp_path, columns, message):
    p = write(tmp_path, "d.csv", "key,goal\n1,a\n")
    with pytest.raises(ConfigError) as err:
        load_tasks(custom(p, columns=columns), base_dir=tmp_path)
    assert str(err.value).startswith(message)


def test_mapping_to_an_absent_column_names_file_and_column(tmp_path):
    p = write(tmp_path, "d.csv", "key,goal\n1,a\n")
    with pytest.raises(DataError, match=r"d\.csv:1:category: missing column 'category'"):
        load_tasks(custom(p, columns={"prompt": "goal", "meta": ["category"]}), base_dir=tmp_path)


@pytest.mark.parametrize("name,data,message", [
    ("d.csv", 'key,goal\n1,"unclosed\n', r"d\.csv:\d+: malformed CSV"),
    ("d.csv", "key,goal\n1,a,extra\n", r"d\.csv:2: 3 fields, the header has 2"),
    ("d.csv", "key,goal\n1,   \n", r"d\.csv:2:goal: empty prompt"),
    ("d.jsonl", '{"key": 1, "goal": "a"}\n{"key": 2, goal}\n', r"d\.jsonl:2:\d+: invalid JSON"),
    ("d.csv", "key,key\n1,a\n", r"d\.csv:1:2: duplicate column 'key' in the header"),
])
def test_other_malformed_files(tmp_path, name, data, message):
    p = write(tmp_path, name, data)
    with pytest.raises(DataError, match=message):
        load_tasks(custom(p), base_dir=tmp_path)


def test_unknown_key_and_bad_limit_are_config_errors(tmp_path):
    p = write(tmp_path, "d.csv", "key,goal\n1,a\n")
    with pytest.raises(ConfigError, match="battery: lmit: unknown key"):
        load_tasks(custom(p, lmit=3), base_dir=tmp_path)
    with pytest.raises(ConfigError, match="battery: limit: must be a whole number >= 1"):
        load_tasks(custom(p, limit=0), base_dir=tmp_path)
    with pytest.raises(InputError, match="no such file"):
        load_tasks(custom(tmp_path / "absent.csv"), base_dir=tmp_path)


@pytest.mark.parametrize("content,expected", [
    (b"", ":1: no rows: the file is empty"),
    (b"id,prompt,label\n1,caf\xe9,safe\n", ":2:6: not valid UTF-8 (byte 0xe9)"),
    (b"id,text,label\n1,a,safe\n", ":1:prompt: missing column 'prompt'"),
    (b"id,prompt,type,label,focus,note\n1,a,t,safe,f,n\n1,b,t,safe,f,n\n", ":3:id: duplicate id '1'"),
])
def test_cli_exits_2_with_one_error_line(tmp_path, capsys, content, expected):
    p = write(tmp_path, "x.csv", content)
    assert main(["battery", "show", "xstest", "--source", f"file:{p}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tais: error: ") and f"{p}{expected}" in err


def test_cli_unknown_benchmark_exits_2(capsys):
    assert main(["battery", "show", "no-such-bench"]) == 2
    assert capsys.readouterr().err == ("tais: error: unknown benchmark 'no-such-bench'; known: advbench, arc-challenge, "
                                       "bbq, harmbench, jbb, mmlu, orbench-hard, smoke, strongreject, truthfulqa-mc, "
                                       "xstest\n")


def test_unreachable_hub_dataset_is_one_source_error(tmp_path, capsys):
    spec = {"name": "hub", "source": "hf:tais-no-such-org/no-such-dataset", "outcome": "refusal",
            "columns": {"prompt": "prompt"}}
    with pytest.raises(InputError, match=r"hf:tais-no-such-org/no-such-dataset: cannot fetch from the hub"):
        load_tasks(spec, base_dir=tmp_path)
    assert main(["battery", "show", "xstest", "--source", "hf:tais-no-such-org/no-such-dataset"]) == 2
    assert capsys.readouterr().err.startswith("tais: error: hf:tais-no-such-org/no-such-dataset: cannot fetch")
