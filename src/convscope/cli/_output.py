"""How the CLI talks: one line per error, one line per kind of warning, exit codes.

Exit codes: 0 done; 2 bad input or environment (a :class:`ConvscopeError`, a failed file
operation, a usage error); 130 interrupted (Ctrl-C); 1 only for a bug in convscope, with
a line asking for a report. Warnings (Python ``warnings`` and ``logging`` records of level
WARNING) are printed as ``convscope: warning: ...`` on stderr, once per kind, without
source lines; ``--quiet`` silences them, ``-v`` adds debug logs and a bug's traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
import traceback
import warnings
from collections.abc import Iterator
from typing import Any, NoReturn

from ..errors import ConvscopeError, did_you_mean

EXIT_OK, EXIT_BUG, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
"""The exit codes the README documents."""

PREFIX = "convscope"


def one_line(text: object) -> str:
    """``text`` on one line: line breaks and indents become single spaces.

    Example:
        >>> one_line("missing:\\n  a.gz\\n  b.gz\\nPut them in /data")
        'missing: a.gz b.gz Put them in /data'
    """
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def error_line(message: object) -> str:
    """The error line the CLI prints.

    Example:
        >>> error_line("unknown layer 'x'")
        "convscope: error: unknown layer 'x'"
    """
    return f"{PREFIX}: error: {one_line(message)}"


class UsageError(ConvscopeError):
    """A command line argparse refused (unknown verb or option, bad choice)."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line with a "did you mean" hint.

    Example:
        >>> p = Parser(prog="convscope x"); _ = p.add_argument("--split", choices=["test", "train"])
        >>> p.parse_args(["--split", "trian"])
        Traceback (most recent call last):
        ...
        convscope.cli._output.UsageError: x: argument --split: invalid choice: 'trian' (choose from 'test', 'train'); did you mean 'train'? (see `convscope x --help`)
    """

    def error(self, message: str) -> NoReturn:
        """Raise a :class:`UsageError` (the CLI prints it on one line, exit status 2)."""
        raise UsageError(self.usage_line(message + _hint(self, message)))

    def usage_line(self, message: str) -> str:
        """``VERB: MESSAGE (see `convscope VERB --help`)``."""
        where = f"{_verb(self.prog)}: " if " " in self.prog else ""
        return f"{where}{message} (see `{self.prog} --help`)"

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        """Parse; unknown options are named with the closest option of the verb."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            sub = subparser(self, getattr(parsed, "verb", None)) or self
            options = [o for a in sub._actions for o in a.option_strings]
            hints = [did_you_mean(e.split("=")[0], options).strip(" ()") for e in extras[:3]]
            hint = "".join(f"; {h}" for h in hints if h)
            message = f"unrecognized arguments: {' '.join(extras)}{hint}"
            raise UsageError(sub.usage_line(message) if isinstance(sub, Parser) else message)
        return parsed


def _verb(prog: str) -> str:
    """``convscope similarity`` -> ``similarity``; the top level stays ``convscope``."""
    head, _, rest = prog.partition(" ")
    return rest or head


def _hint(parser: argparse.ArgumentParser, message: str) -> str:
    """``; did you mean 'x'?`` for a bad choice, else ``""``."""
    match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if match is None:
        return ""
    choices = re.findall(r"'([^']*)'", match[2])
    hint = did_you_mean(match[1], choices).strip(" ()")
    return f"; {hint}" if hint else ""


def subparser(parser: argparse.ArgumentParser, verb: str | None) -> argparse.ArgumentParser | None:
    """The sub-parser of ``verb`` (None when there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and verb in action.choices:
            return action.choices[verb]
    return None


class _Lines(logging.Handler):
    """Log records as ``convscope: warning: ...`` (WARNING and up) or plain lines."""

    def __init__(self, seen: set) -> None:
        super().__init__()
        self.seen = seen

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = one_line(record.getMessage())
        except Exception:  # a bad format string in someone's log call  # noqa: BLE001
            text = one_line(record.msg)
        if record.levelno >= logging.WARNING:
            key = ("log", text)
            if key in self.seen:
                return
            self.seen.add(key)
            level = "error" if record.levelno >= logging.ERROR else "warning"
            text = f"{PREFIX}: {level}: {text}"
        elif record.levelno <= logging.DEBUG:
            text = f"{PREFIX}: debug: {text}"
        else:
            text = f"{PREFIX}: {text}"
        print(text, file=sys.stderr, flush=True)  # noqa: T201 - the CLI prints


@contextlib.contextmanager
def console(verbose: bool = False, quiet: bool = False) -> Iterator[None]:
    """Route warnings and log records to one line each on stderr while the CLI runs.

    Python warnings print as ``convscope: warning: MESSAGE`` once per (category,
    message), without file, line or source; ``quiet`` hides warnings and INFO logs,
    ``verbose`` adds DEBUG logs. Everything is restored on exit.
    """
    seen: set = set()

    def show(message: Any, category: type, *_: Any, **__: Any) -> None:
        text = one_line(message)
        key = (category.__name__, text)
        if key not in seen:
            seen.add(key)
            print(f"{PREFIX}: warning: {text}", file=sys.stderr, flush=True)  # noqa: T201

    handler = _Lines(seen)
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
    handler.setLevel(level)
    loggers = [logging.getLogger("convscope")]
    saved = [(log, log.level, log.propagate) for log in loggers]
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        else:  # shown once per place (and printed once per message by `show`)
            warnings.filterwarnings("default", category=UserWarning)
            warnings.filterwarnings("default", category=RuntimeWarning)
        warnings.showwarning = show
        for log in loggers:
            log.addHandler(handler)
            log.setLevel(level)
            log.propagate = False
        logging.getLogger("matplotlib").setLevel(logging.WARNING)
        try:
            yield
        finally:
            for log, old_level, old_propagate in saved:
                log.removeHandler(handler)
                log.setLevel(old_level)
                log.propagate = old_propagate


def report_bug(exc: BaseException, verbose: bool) -> int:
    """Print an unexpected exception as a bug (with the traceback under ``-v``); exit 1."""
    if verbose:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    print(  # noqa: T201
        f"{PREFIX}: error: internal error (a bug in convscope): {type(exc).__name__}: "
        f"{one_line(exc)}. Please report it with the command you ran"
        + (
            " and the traceback above."
            if verbose
            else " and the output of the same command with -v."
        ),
        file=sys.stderr,
    )
    return EXIT_BUG
