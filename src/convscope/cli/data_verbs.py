"""``convscope datasets``: list the data sets, their shapes and what is on disk."""

from __future__ import annotations

import argparse
import json

from ..data import available, cache_dir, image_shape, is_cached, is_offline_available


def register(sub: argparse._SubParsersAction) -> None:
    """Add the data verbs to the CLI.

    Example:
        >>> p = argparse.ArgumentParser(); register(p.add_subparsers())
        >>> p.parse_args(["datasets", "--json"]).json
        True
    """
    p = sub.add_parser(
        "datasets",
        help="list the data sets, their image shapes and whether they work offline",
        description="List the data sets convscope can load (convscope.data.load names).",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="cache / data folder to check (default $CONVSCOPE_DATA or ~/.cache/convscope)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=_datasets)


def _rows(data_dir: str | None) -> list[dict]:
    rows = []
    for name, description in available().items():
        shape = image_shape(name)
        rows.append(
            {
                "name": name,
                "shape": list(shape) if shape else None,
                "offline": is_offline_available(name, data_dir),
                "cached": is_cached(name, data_dir),
                "description": description,
            }
        )
    return rows


def _datasets(args: argparse.Namespace) -> int:
    rows = _rows(args.data_dir)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows) + 2
    print(f"{'name':<{width}}{'shape':<10}{'offline':<9}{'cached':<8}description")
    for r in rows:
        shape = "x".join(map(str, r["shape"])) if r["shape"] else "any"
        offline = "yes" if r["offline"] else "download"
        cached = "yes" if r["cached"] else "-"
        print(f"{r['name']:<{width}}{shape:<10}{offline:<9}{cached:<8}{r['description']}")
    print(f"\ncache folder: {cache_dir(args.data_dir)}")
    return 0
