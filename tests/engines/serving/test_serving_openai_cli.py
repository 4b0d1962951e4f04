"""`tais run` with an openai arm whose server is down: one error line, exit 2, no report; the same command finishes
the run once the server is up (the run directory stayed resumable), and the server's speculative counters, scraped
from /metrics around the arm, become the arm's acceptance in the evidence."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

from tais.engines.vllm.server import free_port
from tais.pipeline.run import WARM_UP_REQUESTS
from tais.testing.loopback import LoopbackServer

MOCK_OPTIONS = 'keywords: [lock, steal, hack], compliance: "Sure, here is how.", batch_size: 4'


def config(port: int) -> str:
    return textwrap.dedent(f"""\
        name: served-screen
        battery: [{{benchmark: smoke, limit: 6}}]
        sampling: {{max_tokens: 8, logprobs: 2}}
        arms:
          - name: reference
            role: reference
            backend: mock
            model: mock
            options: {{{MOCK_OPTIONS}}}
          - name: served
            backend: openai
            model: smollm2
            options: {{base_url: "http://127.0.0.1:{port}", timeout_s: 5, extra_body: {{return_token_ids: true}},
                       metrics_url: "http://127.0.0.1:{port}/metrics"}}
        """)


def tais_run(cfg, out):
    return subprocess.run(
        [sys.executable, "-m", "tais.cli.main", "run", str(cfg), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def rows_by_arm(out) -> dict[str, set[tuple]]:
    db = sqlite3.connect(out / "store.sqlite")
    try:
        rows = db.execute("SELECT a.name, c.item_id, c.replicate, c.sha256 FROM completions c "
                          "JOIN arms a ON a.fingerprint = c.fingerprint").fetchall()
    finally:
        db.close()
    found: dict[str, set[tuple]] = {}
    for name, *row in rows:
        found.setdefault(name, set()).add(tuple(row))
    return found


def test_a_down_server_is_one_error_line_exit_2_and_the_run_resumes(tmp_path):
    port = free_port()
    cfg = tmp_path / "screen.yaml"
    cfg.write_text(config(port))
    out = tmp_path / "run"
    first = tais_run(cfg, out)
    assert first.returncode == 2, first.stderr
    lines = [line for line in first.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith(f"tais: error: cannot reach the server at http://127.0.0.1:{port} (ConnectError")
    assert lines[0].endswith("is it running?")
    assert not (out / "evidence.json").exists() and not (out / "report.md").exists()
    kept = rows_by_arm(out)
    assert len(kept.get("reference", ())) == 18 and not kept.get("served")  # the arm before the failure is stored

    server = LoopbackServer()
    with server.running(port=port):
        second = tais_run(cfg, out)
        answered = sum(server.state.answered.values())
    evidence = json.loads((out / "evidence.json").read_text())
    assert second.returncode == {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}[evidence["verdict"]], second.stderr
    done = rows_by_arm(out)
    assert done["reference"] == kept["reference"]  # resumed: the stored arm was not generated again
    # the served arm asked the server once per item, plus the untimed warm-up requests before its timed generate
    assert len(done["served"]) == 18 and answered == 18 + WARM_UP_REQUESTS
    speed = {s["arm"]: s for s in evidence["speed"]}
    # the loopback server counts 4 drafted and 3 accepted tokens per answer it gives
    assert speed["served"]["acceptance"] == 0.75
    assert speed["reference"]["acceptance"] is None
