"""The ``convscope`` command line: ``convscope <verb> ...``.

Each verb group lives in its own module with a ``register(subparsers)`` function; a
handler returns the exit code. Errors from bad input (:class:`ConvscopeError`) print one
line, ``convscope: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

from ..errors import ConvscopeError

VERB_MODULES = [
    "convscope.cli.data_verbs",
    "convscope.cli.model_verbs",
    "convscope.cli.train_verbs",
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

    parser = argparse.ArgumentParser(
        prog="convscope",
        description="Look inside convolutional networks: feature maps, channel similarity, "
        "class firing profiles, figures and an HTML report.",
    )
    parser.add_argument("--version", action="version", version=f"convscope {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that verb group is not part of this build
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    warnings.simplefilter("default")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except ConvscopeError as exc:
        print(f"convscope: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("convscope: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # quiet exit flush
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
