"""Export a run store to Parquet, one file per table, for pandas / DuckDB / Polars users.

Files written into the target folder:

- ``arms.parquet``: fingerprint, name, spec_json, describe_json
- ``tasks.parquet``: sha256, name, task_json
- ``items.parquet``: task_sha256, position, item_id, item_sha256, prompt (from item_json), item_json
- ``completions.parquet``: fingerprint, arm (name), item_id, replicate, request_sha256, text, finish_reason,
  prompt_tokens, output_tokens, wall_s, drafted, accepted, sha256, completion_json
- ``scores.parquet``: fingerprint, arm, item_id, replicate, request_sha256, scorer, outcome, label, sha256, score_json
- ``runs.parquet``: id, config_sha256, config_text, plan_json, complete
- ``analyses.parquet``: id, run_id, thresholds_json, evidence_sha256 (one row per ``tais run`` / ``tais screen``)
- ``timings.parquet``: fingerprint, arm, item_id, replicate, request_sha256, elapsed_s (generation time charged to
  each completion)
- ``arm_telemetry.parquet``: session, fingerprint, arm, telemetry_json, and one column per numeric key any
  session reported (e.g. ``spec_drafted``, ``spec_accepted``, ``spec_acceptance_rate``; null where a session did
  not report it)

Example (DuckDB)::

    SELECT arm, avg(outcome) FROM 'out/scores.parquet' GROUP BY arm;

Each file is written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tais.store.run_store import RunStore


def _write_table(columns: dict[str, list[Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(columns)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _columns(names: list[str], rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


_TABLES = ("arms", "tasks", "items", "completions", "timings", "arm_telemetry", "scores", "runs", "analyses")


def export_parquet(store: RunStore, out_dir: Path) -> dict[str, Path]:
    """Write every table of ``store`` as Parquet into ``out_dir``; returns table name -> file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = {name: _columns(*store.table_rows(name)) for name in _TABLES}
    arm_of = dict(zip(tables["arms"]["fingerprint"], tables["arms"]["name"]))
    for name, cols in tables.items():
        if name != "arms" and "fingerprint" in cols:
            cols["arm"] = [arm_of.get(fp, "") for fp in cols["fingerprint"]]

    items = tables["items"]
    items["prompt"] = [json.loads(j)["prompt"] for j in items["item_json"]]

    completions = tables["completions"]
    parsed = [json.loads(j) for j in completions["completion_json"]]
    completions["text"] = [c["text"] for c in parsed]
    completions["finish_reason"] = [c["finish_reason"] for c in parsed]
    completions["prompt_tokens"] = [c["prompt_tokens"] for c in parsed]
    completions["output_tokens"] = [c["output_tokens"] for c in parsed]
    completions["wall_s"] = [float(c["wall_s"]) for c in parsed]
    completions["drafted"] = [None if c["spec"] is None else c["spec"]["drafted"] for c in parsed]
    completions["accepted"] = [None if c["spec"] is None else c["spec"]["accepted"] for c in parsed]

    telemetry = tables["arm_telemetry"]
    parsed = [json.loads(j) for j in telemetry["telemetry_json"]]
    numeric = sorted({k for t in parsed for k, v in t.items()
                      if isinstance(v, (int, float)) and not isinstance(v, bool)})
    for key in numeric:
        telemetry[key] = [None if t.get(key) is None else float(t[key]) for t in parsed]

    scores = tables["scores"]
    parsed = [json.loads(j) for j in scores["score_json"]]
    scores["outcome"] = [s["outcome"] for s in parsed]
    scores["label"] = [s["label"] for s in parsed]

    written = {name: out_dir / f"{name}.parquet" for name in _TABLES}
    for name, cols in tables.items():
        _write_table(cols, written[name])
    return written
