"""``tais export RUN --parquet DIR``: write the run store's tables as Parquet files (arms, tasks, items,
completions, scores, runs) for pandas / DuckDB / Polars."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export a run store to Parquet", description=__doc__)
    p.add_argument("run", type=Path, help="run directory written by `tais run`")
    p.add_argument("--parquet", type=Path, required=True, metavar="DIR", help="folder for the .parquet files")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from tais.store import STORE_FILENAME, RunStore
    from tais.store.export import export_parquet

    with RunStore(args.run / STORE_FILENAME, create=False) as store:
        written = export_parquet(store, args.parquet)
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0
