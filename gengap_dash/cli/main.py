"""``gengap``: precompute, summary, export, report, serve, and the views' own commands.

Exit codes: 0 on success, 2 on bad input (one line on stderr, no traceback), 1 on an internal
error (one line; set ``GENGAP_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Sequence

from gengap_dash.project.errors import ProjectError

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit with code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"gengap: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    """The parser with every command registered."""
    from gengap_dash.cli import (
        trunk_commands,
        view_commands,
    )

    parser = _Parser(
        prog="gengap",
        description="Diagnose the generalization gap of a PyTorch classifier.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    trunk_commands.register(commands)
    view_commands.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        return int(arguments.handler(arguments) or EXIT_OK)
    except ProjectError as error:
        sys.stderr.write(f"gengap: error: {_one_line(error)}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("gengap: interrupted; the cache holds only complete entries.\n")
        return 130
    except BrokenPipeError:  # the reader went away, e.g. `gengap summary --json | head`
        with contextlib.suppress(OSError, ValueError):  # no error at exit's flush either
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_INTERNAL
    except Exception as error:  # noqa: BLE001 - the last line of defence
        if os.environ.get("GENGAP_DEBUG"):
            traceback.print_exc()
        sys.stderr.write(
            f"gengap: internal error: {type(error).__name__}: {_one_line(error)} "
            "(set GENGAP_DEBUG=1 for the traceback)\n"
        )
        return EXIT_INTERNAL


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
