"""A small, dependency-free HTML page builder; every text it is given is escaped."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

CSS = """
:root { --fg:#1d2330; --muted:#5b6474; --line:#dfe3ea; --accent:#2f6fdf; --bg:#f7f8fa; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
header { background:#1d2330; color:#fff; padding:18px 28px; }
header h1 { margin:0; font-size:22px; } header p { margin:4px 0 0; color:#c9d1e0; }
.layout { display:flex; align-items:flex-start; }
nav { position:sticky; top:0; width:220px; flex:none; padding:18px 12px 18px 24px; max-height:100vh; overflow:auto; }
nav a { display:block; color:var(--muted); text-decoration:none; padding:3px 0; font-size:14px; }
nav a:hover { color:var(--accent); }
main { flex:1; min-width:0; padding:8px 28px 48px 12px; max-width:1200px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:6px 22px 18px; margin:16px 0; }
h2 { font-size:19px; border-bottom:1px solid var(--line); padding-bottom:6px; }
h3 { font-size:16px; margin-top:22px; }
figure { margin:12px 0; } figure img { max-width:100%; height:auto; border:1px solid var(--line); }
figcaption { color:var(--muted); font-size:13px; }
table { border-collapse:collapse; font-size:13.5px; margin:8px 0; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:left; vertical-align:top; }
th { background:#f0f2f6; } td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.kpis { display:flex; flex-wrap:wrap; gap:12px; margin:10px 0; }
.kpi { border:1px solid var(--line); border-radius:6px; padding:8px 14px; min-width:140px; }
.kpi b { display:block; font-size:20px; } .kpi span { color:var(--muted); font-size:12.5px; }
.note { color:var(--muted); font-size:13.5px; }
.grid2 { display:grid; grid-template-columns:repeat(auto-fit,minmax(420px,1fr)); gap:12px; }
code { background:#f0f2f6; padding:1px 4px; border-radius:3px; }
@media (max-width: 900px) { nav { display:none; } main { padding:8px 12px; } }
"""


def esc(value: Any) -> str:
    """Escape any value for HTML text or attributes.

    Example:
        >>> esc("<img src=x onerror=alert(1)>")
        '&lt;img src=x onerror=alert(1)&gt;'
    """
    return html.escape(str(value), quote=True)


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = ()
) -> str:
    """An HTML table; columns listed in ``numeric`` are right-aligned."""
    head = "".join(
        f'<th class="num">{esc(h)}</th>' if k in numeric else f"<th>{esc(h)}</th>"
        for k, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{esc(c)}</td>' if k in numeric else f"<td>{esc(c)}</td>"
            for k, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure(src: str, caption: str, alt: str | None = None) -> str:
    """An ``<img>`` with a caption; ``src`` is a relative path next to the page."""
    return (
        f'<figure><img src="{esc(src)}" alt="{esc(alt or caption)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def kpis(items: Iterable[tuple[str, Any]]) -> str:
    """A row of big numbers with labels."""
    cells = "".join(
        f'<div class="kpi"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for k, v in items
    )
    return f'<div class="kpis">{cells}</div>'


def para(text: str, cls: str | None = None) -> str:
    """A paragraph of escaped text."""
    attr = f' class="{esc(cls)}"' if cls else ""
    return f"<p{attr}>{esc(text)}</p>"


def heading(text: str, level: int = 3) -> str:
    """An escaped heading."""
    return f"<h{level}>{esc(text)}</h{level}>"


@dataclass
class Section:
    """One section of the page: an id for the table of contents, a title, HTML parts."""

    id: str
    title: str
    parts: list[str] = field(default_factory=list)

    def add(self, *parts: str) -> Section:
        self.parts.extend(parts)
        return self


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole self-contained page: inline CSS, no scripts, no external resources."""
    toc = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{"".join(s.parts)}</section>'
        for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f'<div class="layout"><nav aria-label="Contents"><b>Contents</b>{toc}</nav>'
        f"<main>{body}</main></div></body></html>\n"
    )
