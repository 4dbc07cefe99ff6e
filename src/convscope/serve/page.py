"""The explorer's page, from a Jinja2 template that extends the report's base layout.

``templates/explorer.html`` extends ``base.html`` of :mod:`convscope.report`'s templates
(one layout for the static report and the live explorer: header, banners, contents,
main column). The page itself holds no data and no script: ``static/app.js`` loads the
views as JSON and fills them in as text. Static files are served from a fixed list by
name; nothing else is ever read from disk.

Example:
    >>> html = render_page(title="t <b>", subtitle="s", views=VIEWS, banners=["b & c"])
    >>> "t &lt;b&gt;" in html, "b &amp; c" in html, "<script" in html
    (True, True, True)
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import jinja2

from ..report.html import STATIC_DIR, STATIC_FILES

__all__ = ["STATIC", "VIEWS", "environment", "render_page", "static_file"]

VIEWS = (
    ("images", "Images"),
    ("layers", "Layers"),
    ("channel", "A channel"),
    ("similarity", "Similarity"),
    ("training", "Training"),
    ("classes", "Classes"),
)
"""The page's views: anchor id and title, in the order of the contents."""

OWN = ("explorer.css", "app.js", "api.js", "charts.js", "images.js", "layers.js",
       "channel.js", "similarity.js", "training.js", "classes.js")  # fmt: skip
"""The explorer's own static files (``serve/static``)."""
STATIC = {name: "convscope.serve" for name in OWN} | {
    name: "convscope.report" for name in STATIC_FILES
}
"""Every static file the app serves, by name, with the package that ships it."""
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@functools.cache
def environment() -> jinja2.Environment:
    """The explorer's templates, then the report's (``base.html``, ``macros.html``); the
    report's settings: autoescape on, undefined names fail."""
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.PackageLoader("convscope.serve", "templates"),
            jinja2.PackageLoader("convscope.report", "templates"),
        ]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )  # fmt: skip


def render_page(
    *, title: str, subtitle: str, views: Any = VIEWS, banners: Any = (), static: str = "/static/"
) -> str:
    """The explorer page (every user-controlled string is escaped by Jinja2)."""
    template = environment().get_template("explorer.html")
    return template.render(
        title=title, subtitle=subtitle, banners=list(banners), static=static,
        views=[{"id": v, "title": t} for v, t in views],
    )  # fmt: skip


@functools.cache
def static_file(name: str) -> tuple[bytes, str] | None:
    """``(bytes, content type)`` of a listed static file, or ``None`` for any other name.

    Example:
        >>> static_file("../../etc/passwd") is None, static_file("app.js")[1]
        (True, 'text/javascript; charset=utf-8')
    """
    package = STATIC.get(name)
    if package is None:
        return None
    folder = "static" if package == "convscope.serve" else f"templates/{STATIC_DIR}"
    data = resources.files(package).joinpath(folder, name).read_bytes()
    return data, TYPES.get(name[name.rfind(".") :], "application/octet-stream")
