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


def export_parquet(store: RunStore, out_dir: Path) -> dict[str, Path]:
    """Write every table of ``store`` as Parquet into ``out_dir``; returns table name -> file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    _, arm_rows = store.table_rows("arms")
    arm_of = {row[0]: row[1] for row in arm_rows}
    for table in ("arms", "tasks", "runs", "analyses"):
        names, rows = store.table_rows(table)
        written[table] = out_dir / f"{table}.parquet"
        _write_table(_columns(names, rows), written[table])

    names, rows = store.table_rows("items")
    cols = _columns(names, rows)
    cols["prompt"] = [json.loads(j)["prompt"] for j in cols["item_json"]]
    written["items"] = out_dir / "items.parquet"
    _write_table(cols, written["items"])

    names, rows = store.table_rows("completions")
    cols = _columns(names, rows)
    parsed = [json.loads(j) for j in cols["completion_json"]]
    cols["arm"] = [arm_of.get(fp, "") for fp in cols["fingerprint"]]
    cols["text"] = [c["text"] for c in parsed]
    cols["finish_reason"] = [c["finish_reason"] for c in parsed]
    cols["prompt_tokens"] = [c["prompt_tokens"] for c in parsed]
    cols["output_tokens"] = [c["output_tokens"] for c in parsed]
    cols["wall_s"] = [float(c["wall_s"]) for c in parsed]
    cols["drafted"] = [None if c["spec"] is None else c["spec"]["drafted"] for c in parsed]
    cols["accepted"] = [None if c["spec"] is None else c["spec"]["accepted"] for c in parsed]
    written["completions"] = out_dir / "completions.parquet"
    _write_table(cols, written["completions"])

    names, rows = store.table_rows("timings")
    cols = _columns(names, rows)
    cols["arm"] = [arm_of.get(fp, "") for fp in cols["fingerprint"]]
    written["timings"] = out_dir / "timings.parquet"
    _write_table(cols, written["timings"])

    names, rows = store.table_rows("arm_telemetry")
    cols = _columns(names, rows)
    cols["arm"] = [arm_of.get(fp, "") for fp in cols["fingerprint"]]
    parsed = [json.loads(j) for j in cols["telemetry_json"]]
    numeric = sorted({k for t in parsed for k, v in t.items()
                      if isinstance(v, (int, float)) and not isinstance(v, bool)})
    for key in numeric:
        values = [t.get(key) for t in parsed]
        cols[key] = [None if v is None else float(v) for v in values]
    written["arm_telemetry"] = out_dir / "arm_telemetry.parquet"
    _write_table(cols, written["arm_telemetry"])

    names, rows = store.table_rows("scores")
    cols = _columns(names, rows)
    parsed = [json.loads(j) for j in cols["score_json"]]
    cols["arm"] = [arm_of.get(fp, "") for fp in cols["fingerprint"]]
    cols["outcome"] = [s["outcome"] for s in parsed]
    cols["label"] = [s["label"] for s in parsed]
    written["scores"] = out_dir / "scores.parquet"
    _write_table(cols, written["scores"])
    return written
