"""``tais`` entry point: builds the parser from the modules in :mod:`tais.cli.commands`, runs the chosen command,
and turns errors into one line on stderr and an exit code (2 for bad input)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

from tais import __version__
from tais.errors import InputError, TaisError
from tais.types import EXIT_BAD_INPUT


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        sys.stderr.write(f"tais: error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tais", description="Screen a decoding-stack change for changes in safety behaviour.")
    parser.add_argument("--version", action="version", version=f"tais {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    import tais.cli.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        sys.stderr.write(f"tais: error: {exc}\n")
        return EXIT_BAD_INPUT
    except TaisError as exc:
        sys.stderr.write(f"tais: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("tais: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
