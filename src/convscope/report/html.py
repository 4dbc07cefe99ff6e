"""The report's HTML, from Jinja2 templates shipped in the package (autoescaped).

``templates/base.html`` is the page layout (header, banners, a collapsible table of
contents, the main column); ``templates/report.html`` extends it with the sections, each
drawn by ``templates/sections/<name>.html`` from a small view its section module builds.
The live explorer (``convscope serve``) extends the same base. Pages have no scripts:
tabs are radio buttons styled in ``static/report.css``, "click to enlarge" is a link to
the image itself, so the page reads the same under a strict Content-Security-Policy.

Example:
    >>> str(render_string("{{ x }}", x="<b>"))
    '&lt;b&gt;'
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from .._io import write_text

STATIC_FILES = ("report.css",)
"""Files of ``templates/static/`` a page links to; :func:`write_static` copies them."""
STATIC_DIR = "static"


@functools.cache
def environment() -> jinja2.Environment:
    """The templates' environment: package loader, autoescape on, undefined names fail."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("convscope.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> Markup:
    """Render a template of the package (e.g. ``sections/model.html``) to safe HTML."""
    return Markup(environment().get_template(template).render(**context))


def render_string(source: str, **context: Any) -> Markup:
    """Render template text with the package's environment (autoescaped)."""
    return Markup(environment().from_string(source).render(**context))


@dataclass(frozen=True)
class Image:
    """An image as a page shows it: path, pixel size, what it shows (alt), caption."""

    src: str
    width: int
    height: int
    alt: str
    caption: str = ""


class Figures(dict):
    """``{figure key: path}`` as sections get it, plus each figure's size in pixels.

    Example:
        >>> figs = Figures({"a": "figures/a.png"}, {"a": (640, 480)})
        >>> figs.image("a", "its caption", "what it shows").width
        640
    """

    def __init__(
        self, paths: Mapping[str, str] = (), sizes: Mapping[str, tuple[int, int]] | None = None
    ) -> None:
        super().__init__(paths)
        self.sizes = dict(sizes or {})

    def image(self, key: str, caption: str, alt: str) -> Image:
        """The :class:`Image` of figure ``key`` (size 0x0 when unknown)."""
        width, height = self.sizes.get(key, (0, 0))
        return Image(self[key], int(width), int(height), alt, caption)


@dataclass
class Section:
    """One section of the page: an id for the table of contents, a title, its HTML."""

    id: str
    title: str
    parts: list[str] = field(default_factory=list)

    def add(self, *parts: str) -> Section:
        self.parts.extend(parts)
        return self

    @property
    def body(self) -> Markup:
        return Markup("".join(str(p) for p in self.parts))


def page(
    title: str,
    subtitle: str,
    sections: Sequence[Section],
    *,
    banners: Sequence[str] = (),
    static: str = STATIC_DIR + "/",
) -> str:
    """The whole page: the base layout, the table of contents and every section.

    Args:
        banners: warnings shown at the top of the page (e.g. untrained weights).
        static: URL prefix of the stylesheet.

    Example:
        >>> html = page("t", "s", [Section("a", "A <b>").add("<p>x</p>")], banners=["untrained"])
        >>> 'href="#a"' in html, "A &lt;b&gt;" in html, 'class="banner"' in html, "<script" in html
        (True, True, True, False)
    """
    return str(
        render(
            "report.html",
            title=title,
            subtitle=subtitle,
            sections=sections,
            banners=list(banners),
            static=static,
        )
    )


def write_static(out: str | Path) -> list[Path]:
    """Copy the stylesheet (and any static file) next to the page, atomically."""
    folder = resources.files("convscope.report") / "templates" / STATIC_DIR
    written = []
    for name in STATIC_FILES:
        text = (folder / name).read_text(encoding="utf-8")
        written.append(write_text(Path(out) / STATIC_DIR / name, text))
    return written


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table: fixed ``digits`` decimals, ``–`` for None/NaN.

    Example:
        >>> fmt(0.12345), fmt(float("nan")), fmt(None)
        ('0.1235', '–', '–')
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if number != number else f"{number:.{digits}f}"


def signed_percent(change: float) -> str:
    """``−64 %`` / ``+18 %`` (a true minus sign), ``–`` when undefined.

    Example:
        >>> signed_percent(-0.64), signed_percent(0.18)
        ('−64 %', '+18 %')
    """
    if change != change:
        return "–"
    return f"{change * 100:+.0f} %".replace("-", "\u2212")


def spread_note(shown: int, left_out: Sequence[str], what: str, done: str, hint: str) -> str:
    """The sentence saying which layers of a deep model a section leaves out ("" for none).

    Example:
        >>> spread_note(2, ["c1", "c2"], "conv layers", "compared", "any verb does")
        ' 2 of 4 conv layers compared, spread evenly through the model; not compared here: c1, c2 (any verb does).'
    """
    if not left_out:
        return ""
    names = ", ".join(left_out[:8]) + (
        f" and {len(left_out) - 8} more" if len(left_out) > 8 else ""
    )
    return (
        f" {shown} of {shown + len(left_out)} {what} {done}, spread evenly through the model; "
        f"not {done} here: {names} ({hint})."
    )
