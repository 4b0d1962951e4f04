"""``tais`` entry point: builds the parser from the modules in :mod:`tais.cli.commands`, runs the chosen command,
and turns errors into one line on stderr and an exit code (2 for bad input)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn

from tais import __version__
from tais.errors import InputError, TaisError, Terminated
from tais.types import EXIT_BAD_INPUT


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own errors: one line, exit 2
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


EXIT_TERMINATED = 128 + signal.SIGTERM


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def stop_cleanly_on_sigterm() -> Callable[[int, FrameType | None], Any] | int | signal.Handlers | None:
    """Turn SIGTERM into :class:`tais.errors.Terminated` in the main thread (a no-op elsewhere); returns the handler
    it replaced."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def main(argv: Sequence[str] | None = None) -> int:
    previous = stop_cleanly_on_sigterm()
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
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
    except sqlite3.DatabaseError as exc:  # a damaged run store met outside `tais verify`
        sys.stderr.write(f"tais: error: the run store cannot be read ({exc}); `tais verify RUN` names the damage\n")
        return 1
    except Terminated:
        sys.stderr.write("tais: stopped by SIGTERM; committed completions are kept: run the same command again to "
                         "resume\n")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        sys.stderr.write("tais: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
