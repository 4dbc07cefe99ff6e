"""``convscope serve``: a live explorer for your own model, in the browser.

The explorer is the report's sections served live: the same computations
(:mod:`convscope.report.sections`: ``compute`` -> ``to_json()``, ``figures``), read by a
page that lets you pick the image, the layer, the channel and the metric, and that
follows a run folder while ``convscope train`` writes it.

* :class:`~convscope.serve.explorer.Explorer` -- the state: model, data, one pass over the
  split, per-image captures in a bounded LRU cache, uploads, watched runs. No web code.
* :func:`create_app` -- the FastAPI app around an explorer (routes, token, headers).
* :func:`run_server` -- serve an app with uvicorn on a host and port.

FastAPI and uvicorn (the ``serve`` extra) are imported when an app is made, not when
this package is.

Example:
    >>> import convscope as cs
    >>> from convscope.serve import Explorer
    >>> ex = Explorer(cs.models.build("mnist_convnet"), cs.data.load("mnist5k"))  # doctest: +SKIP
    >>> app = create_app(ex)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .explorer import Explorer
from .ids import ImageRef, RequestError

__all__ = ["Explorer", "ImageRef", "RequestError", "create_app", "run_server"]


def create_app(explorer: Explorer, *, token: str | None = None, **kwargs: Any) -> Any:
    """The web app of ``explorer`` (see :func:`convscope.serve.app.create_app`)."""
    from .app import create_app as make

    return make(explorer, token=token, **kwargs)


def run_server(app: Any, host: str = "127.0.0.1", port: int = 8765, **kwargs: Any) -> None:
    """Serve ``app`` until interrupted (see :func:`convscope.serve.server.run_server`)."""
    from .server import run_server as run

    run(app, host=host, port=port, **kwargs)
