"""Regenerate the README's benchmark table from the bench scripts' results (no typed numbers).

Each bench script saves ``bench/results/<name>.json`` with a ``readme`` list of rows
(``work``, ``convscope``, ``reference``, ``ratio``, ``condition``); this script writes them,
with the conditions they were measured under, between the README's
``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers.

Run:  .venv/bin/python bench/readme.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys

from _harness import RESULTS, ROOT, env_line

README = ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
ORDER = ["similarity", "capture", "render", "report", "tracker", "scaling", "scale", "serve"]


def rows() -> tuple[list[str], list[str]]:
    """Markdown table lines and the environment lines of every results file."""
    table = [
        "| work | convscope | reference (same run) | ratio | machine state |",
        "|---|---|---|---|---|",
    ]
    envs = []
    files = sorted(RESULTS.glob("*.json"), key=lambda p: (ORDER + [p.stem]).index(p.stem))
    for path in files:
        payload = json.loads(path.read_text(encoding="utf-8"))
        for row in payload.get("readme", []):
            table.append(
                f"| {row['work']} | {row['convscope']} | {row['reference']} | "
                f"**{row['ratio']}** | {row.get('condition', 'idle')} |"
            )
        if payload.get("readme"):
            envs.append(
                f"- `bench/{path.stem}.py` ({payload.get('created', '?')}): "
                f"{env_line(payload['environment'])}"
            )
    return table, envs


def render() -> str:
    table, envs = rows()
    return "\n".join([START, *table, "", "Measured with:", *envs, END])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"README has no {START} ... {END} block", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    new = head + render() + tail
    if args.check:
        return 0 if new == text else 1
    README.write_text(new, encoding="utf-8")
    print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
