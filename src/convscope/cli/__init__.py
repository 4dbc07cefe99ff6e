"""The ``convscope`` command line: ``convscope <verb> ...``.

Each verb group lives in its own module with a ``register(subparsers)`` function; a
handler returns the exit code. Every expected failure prints one line,
``convscope: error: ...``, and exits with status 2: bad input (:class:`ConvscopeError`),
a failed file operation (the path and the fix), a command line argparse refuses. Ctrl-C
exits with 130; 1 is kept for bugs (see :mod:`convscope.cli._output`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import ConvscopeError, describe_os_error
from ._output import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    Parser,
    console,
    error_line,
    report_bug,
    subparser,
)

VERB_MODULES = [
    "convscope.cli.data_verbs",
    "convscope.cli.model_verbs",
    "convscope.cli.train_verbs",
    "convscope.cli.evaluate_verbs",
    "convscope.cli.similarity_verbs",
    "convscope.cli.firing_verbs",
    "convscope.cli.atlas_verbs",
    "convscope.cli.report_verbs",
    "convscope.cli.maps_verbs",
    "convscope.cli.prune_verbs",
    "convscope.cli.backend_verbs",
    "convscope.cli.serve_verbs",
]


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every verb that is installed."""
    from .._version import __version__

    parser = Parser(
        prog="convscope",
        description="Look inside convolutional networks: feature maps, channel similarity, "
        "class firing profiles, figures and an HTML report.",
        epilog="Exit status: 0 done, 2 bad input or environment (one line on stderr names "
        "it), 130 interrupted, 1 a bug in convscope (please report it).",
    )
    parser.add_argument("--version", action="version", version=f"convscope {__version__}")
    _add_console_args(parser, False)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that verb group is not part of this build
                continue
            raise
        module.register(sub)
    for verb_parser in sub.choices.values():  # `convscope VERB ... -q` works too
        _add_console_args(verb_parser, argparse.SUPPRESS)
    return parser


def _add_console_args(parser: argparse.ArgumentParser, default: object) -> None:
    taken = parser._option_string_actions
    if "--quiet" not in taken:
        parser.add_argument(
            *(["-q"] if "-q" not in taken else []), "--quiet", action="store_true",
            default=default, help="print no warnings (errors still print)",
        )  # fmt: skip
    if "--verbose" not in taken:
        parser.add_argument(
            *(["-v"] if "-v" not in taken else []), "--verbose", action="store_true",
            default=default, help="show debug logs (and a bug's traceback)",
        )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input, 130 interrupted, 1 a bug).

    Example:
        >>> main(["simlarity"])
        2
    """
    verbose = False
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        verbose, quiet = bool(args.verbose), bool(args.quiet) and not args.verbose
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_BAD_INPUT
        with console(verbose=verbose, quiet=quiet):
            return int(args.func(args) or 0)
    except ConvscopeError as exc:
        print(error_line(exc), file=sys.stderr)  # noqa: T201 - the CLI prints
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("convscope: interrupted", file=sys.stderr)  # noqa: T201
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # quiet exit flush
        return 0
    except OSError as exc:  # a file operation: the path and the fix, no traceback
        print(error_line(describe_os_error(exc)), file=sys.stderr)  # noqa: T201
        return EXIT_BAD_INPUT
    except MemoryError:
        print(  # noqa: T201
            error_line("out of memory; use fewer images or a smaller --batch-size"),
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - anything else is a bug: say so, ask for a report
        return report_bug(exc, verbose)


__all__ = ["build_parser", "main", "subparser"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
