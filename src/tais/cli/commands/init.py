"""``tais init [PATH]``: write a commented example screen config (default ``screen.yaml``). Refuses to overwrite an
existing file (exit 2)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("init", help="write a commented example config", description=__doc__)
    p.add_argument("path", type=Path, nargs="?", default=Path("screen.yaml"), help="where (default: screen.yaml)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from tais.errors import InputError
    from tais.pipeline.example_config import EXAMPLE_CONFIG

    path: Path = args.path
    if path.exists():
        raise InputError("already exists; not overwritten", path=str(path))
    if not path.parent.is_dir():
        raise InputError("no such directory", path=str(path.parent))
    try:
        with path.open("x", encoding="utf-8") as f:
            f.write(EXAMPLE_CONFIG)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=str(path)) from None
    print(f"wrote {path}; edit it, then: tais run {path}")
    return 0
