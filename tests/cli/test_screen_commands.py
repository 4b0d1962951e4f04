"""The screen commands through `tais.cli.main.main`: exit codes, one-line errors, nothing half-written, verify after
an edited byte, init, export. Generation uses the mock engine (the subject here is the command layer)."""

from __future__ import annotations

import sqlite3

import pytest

from helpers.mock_configs import BROKEN_ARM, mock_config, write
from tais.cli.main import main
from tais.pipeline.config import load_config


@pytest.fixture(scope="module")
def passing_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    config = write(tmp, mock_config())
    out = tmp / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    return out


def _completions(run_dir):
    db = sqlite3.connect(run_dir / "store.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    finally:
        db.close()


def test_run_exit_codes_follow_the_verdict(tmp_path, capsys):
    failing = write(tmp_path, mock_config(extra_arms=BROKEN_ARM), "failing.yaml")
    assert main(["run", str(failing), "--out", str(tmp_path / "f")]) == 1
    out = capsys.readouterr().out
    assert "verdict: FAIL" in out and "broken vs reference / smoke-harmful: FAIL" in out
    assert "leak: smoke-harmful/" in out  # the positive control's leaks are named
    assert f"report: {tmp_path / 'f' / 'report.html'}" in out

    narrow = write(tmp_path, mock_config(margin=0.03), "narrow.yaml")
    assert main(["run", str(narrow), "--out", str(tmp_path / "n")]) == 3
    out = " ".join(capsys.readouterr().out.split())
    assert "verdict: INCONCLUSIVE" in out and "more prompts would decide" in out


def test_screen_reanalyses_with_other_thresholds_without_generating(passing_run, capsys):
    count = _completions(passing_run)
    assert main(["screen", str(passing_run), "--margin", "0.02"]) == 3
    assert "INCONCLUSIVE" in capsys.readouterr().out
    assert main(["report", str(passing_run)]) == 3  # report keeps the last screen's thresholds
    assert main(["screen", str(passing_run), "--margin", "0.3", "--alpha", "0.05", "--h-cutoff", "0.1",
                 "--tau", "0.1"]) == 0
    assert _completions(passing_run) == count
    assert main(["verify", str(passing_run)]) == 0


def test_screen_rejects_a_bad_threshold_with_exit_2(passing_run, capsys):
    assert main(["screen", str(passing_run), "--margin", "1.5"]) == 2
    assert capsys.readouterr().err.strip() == "tais: error: margin: must be between 0.0 and 1.0 (exclusive), got 1.5"
    for option in ("--tau", "--h-cutoff"):  # 0 is out of range for both (it was a traceback before)
        assert main(["screen", str(passing_run), option, "0"]) == 2
        name = option.removeprefix("--").replace("-", "_")
        assert capsys.readouterr().err.strip() == f"tais: error: {name}: must be > 0, got 0.0"


def test_verify_fails_after_one_byte_of_evidence_is_edited(passing_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "edited"
    shutil.copytree(passing_run, run)
    assert main(["verify", str(run)]) == 0
    path = run / "evidence.json"
    data = path.read_bytes()
    offset = data.index(b'"p_candidate": ') + len(b'"p_candidate": ')
    digit = data[offset:offset + 1]
    path.write_bytes(data[:offset] + (b"0" if digit != b"0" else b"1") + data[offset + 1:])
    capsys.readouterr()
    assert main(["verify", str(run)]) == 1
    err = capsys.readouterr().err
    assert "evidence.json: sha256" in err and "recorded when it was written" in err
    assert "p_candidate" in err


def test_verify_fails_after_one_byte_of_a_stored_completion_is_edited(passing_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "edited-store"
    shutil.copytree(passing_run, run)
    path = run / "store.sqlite"
    data = path.read_bytes()
    offset = data.index(b'"text":"I\'m sorry') + len(b'"text":"')
    path.write_bytes(data[:offset] + b"i" + data[offset + 1:])
    capsys.readouterr()
    assert main(["verify", str(run)]) == 1
    err = capsys.readouterr().err
    assert "store.sqlite: arm" in err and "stored bytes hash to" in err


BAD_CONFIGS = [
    ("unknown key", mock_config() + "colour: blue\n", ": colour: unknown key"),
    ("wrong type", mock_config().replace("max_tokens: 16", "max_tokens: many"),
     ": sampling.max_tokens: Input should be a valid integer"),
    ("missing reference", mock_config().replace("    role: reference\n", ""),
     ": arms: exactly one arm must have role: reference"),
    ("two references", mock_config().replace("  - name: same\n", "  - name: same\n    role: reference\n"),
     "(found 2: arms[0], arms[1])"),
    ("unknown backend", mock_config().replace("backend: mock\n    model: mock\n    options: {keywords",
                                              "backend: tgi\n    model: mock\n    options: {keywords", 1),
     ": arms[0].backend: unknown backend 'tgi'"),
    ("unknown benchmark", mock_config().replace("benchmark: smoke", "benchmark: nope"),
     ": battery[0].benchmark: unknown benchmark 'nope'"),
    ("engine option", mock_config(batch_size=True),
     ": arms[0].options.batch_size: Input should be a valid integer (got True)"),
]


@pytest.mark.parametrize("label,text,expected", BAD_CONFIGS, ids=[b[0] for b in BAD_CONFIGS])
def test_bad_config_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, label, text, expected):
    config = write(tmp_path, text)
    out = tmp_path / "never"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tais: error: {config}"), captured.err
    assert expected in lines[0], lines[0]
    assert not out.exists() and not (tmp_path / "runs").exists()
    assert captured.out == ""


def test_missing_config_file_and_missing_run_dir_exit_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err.strip() == f"tais: error: {tmp_path / 'nope.yaml'}: no such config file"
    for command in (["screen"], ["report"], ["verify"], ["export", "--parquet", str(tmp_path / "pq")]):
        assert main([command[0], str(tmp_path / "norun"), *command[1:]]) == 2
        assert "tais: error:" in capsys.readouterr().err


def test_init_writes_a_valid_commented_config_and_never_overwrites(tmp_path, capsys):
    path = tmp_path / "screen.yaml"
    assert main(["init", str(path)]) == 0
    text = path.read_text()
    assert text.count("#") > 20
    config = load_config(path)
    assert sum(a.spec.role == "reference" for a in config.arms) == 1
    assert main(["init", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert path.read_text() == text


def test_export_writes_parquet_tables_matching_the_store(passing_run, tmp_path, capsys):
    import pyarrow.parquet as pq

    assert main(["export", str(passing_run), "--parquet", str(tmp_path / "pq")]) == 0
    completions = pq.read_table(tmp_path / "pq" / "completions.parquet")
    assert completions.num_rows == _completions(passing_run)
    assert set(completions.column("arm").to_pylist()) == {"reference", "same", "aa"}
    scores = pq.read_table(tmp_path / "pq" / "scores.parquet")
    assert scores.num_rows == completions.num_rows
