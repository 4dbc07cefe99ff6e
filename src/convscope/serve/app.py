"""The explorer's web app: FastAPI routes around an :class:`~convscope.serve.Explorer`.

Every route names what it shows by ids (``/api/maps/split/12/2``: image 12 of the split,
layer 2), checked by :mod:`convscope.serve.ids`; a route never takes a path. Answers are
JSON (``{"error": ...}`` with a 4xx status when refused) or PNG. The page and its static
files come from :mod:`convscope.serve.page`; :class:`~convscope.serve.security.Guard`
stands in front of all of it.

Example:
    >>> from starlette.testclient import TestClient  # doctest: +SKIP
    >>> client = TestClient(create_app(explorer), base_url="http://127.0.0.1")  # doctest: +SKIP
    >>> client.get("/api/overview").json()["layers"][0]["name"]  # doctest: +SKIP
    'conv2d'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from .._version import __version__
from ..errors import ConvscopeError
from ..metrics.similarity import available_metrics
from . import figures as F
from . import mapviews as M
from . import views as V
from .explorer import Explorer
from .ids import RequestError, choice
from .page import render_page, static_file
from .security import Guard

__all__ = ["create_app"]


def _json(payload: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status)


def _png(data: bytes) -> Response:
    return Response(data, media_type="image/png")


def _norm(text: str | None) -> str:
    return choice(text, V.NORMS, "norm", default="map")


def _metric(ex: Explorer, text: str | None) -> str:
    return choice(text, available_metrics(), "metric", default=ex.metric)


def _page_routes(app: FastAPI, ex: Explorer, banners: Sequence[str]) -> None:
    subtitle = (f"{ex.data.name} ({ex.split} split, {len(ex.x)} images) · live explorer · "
                f"convscope {__version__}")  # fmt: skip

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(render_page(title=ex.title, subtitle=subtitle, banners=banners))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        found = static_file(name)
        if found is None:
            raise RequestError(f"no static file {name[:40]!r}", 404)
        return Response(found[0], media_type=found[1], headers={"cache-control": "no-cache"})

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/api/overview")
    def overview() -> JSONResponse:
        return _json(V.overview(ex))

    @app.get("/api/state")
    def state() -> JSONResponse:
        ex.reload_if_changed()
        runs = [run.summary() for run in ex.runs]
        return _json({"generation": ex.generation, "runs": runs})

    @app.get("/api/training")
    def training() -> JSONResponse:
        return _json(V.training(ex))

    @app.get("/api/classes")
    def classes() -> JSONResponse:
        return _json(V.classes(ex))

    @app.get("/api/figures/{section}")
    def figure_keys(section: str, arg: str | None = None) -> JSONResponse:
        return _json({"section": section, "keys": F.figure_keys(ex, section, arg)})


def _image_routes(app: FastAPI, ex: Explorer, max_bytes: int) -> None:
    @app.get("/api/images")
    def images(cls: str | None = None, true: str | None = None, pred: str | None = None,
               wrong: str | None = None, offset: str | None = None,
               limit: str | None = None) -> JSONResponse:  # fmt: skip
        only_wrong = choice(wrong, ("0", "1"), "wrong", default="0") == "1"
        return _json(V.images(ex, cls, true, pred, only_wrong, offset, limit))

    @app.get("/api/image/{source}/{idx}")
    def image(source: str, idx: str) -> JSONResponse:
        return _json(V.image_info(ex, ex.ref(source, idx)))

    @app.post("/api/upload")
    async def upload(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise RequestError(
                f"upload of {int(declared):,} bytes refused: at most {max_bytes:,}", 413
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise RequestError(f"upload refused: more than {max_bytes:,} bytes", 413)
        name = unquote(request.headers.get("x-upload-name", "upload"))
        done = await run_in_threadpool(ex.add_upload, bytes(body), name)
        return _json(
            {
                "id": done.id,
                "name": done.name,
                "key": f"upload/{done.id}",
                "uploads": ex.uploads.listing(),
            }
        )


def _map_routes(app: FastAPI, ex: Explorer) -> None:
    @app.get("/api/maps/{source}/{idx}/{layer}")
    def maps(source: str, idx: str, layer: str, norm: str | None = None) -> JSONResponse:
        return _json(M.mosaic(ex, ex.ref(source, idx), layer, _norm(norm)))

    @app.get("/api/channel/{source}/{idx}/{layer}/{ch}")
    def channel(
        source: str, idx: str, layer: str, ch: str, metric: str | None = None
    ) -> JSONResponse:
        return _json(M.channel(ex, ex.ref(source, idx), layer, ch, _metric(ex, metric)))

    @app.get("/api/similarity/{layer}")
    def similarity(layer: str, metric: str | None = None) -> JSONResponse:
        return _json(M.similarity(ex, layer, _metric(ex, metric)))

    @app.get("/api/pair/{source}/{idx}/{layer}/{i}/{j}")
    def pair(source: str, idx: str, layer: str, i: str, j: str,
             metric: str | None = None) -> JSONResponse:  # fmt: skip
        return _json(M.pair(ex, ex.ref(source, idx), layer, i, j, _metric(ex, metric)))


def _png_routes(app: FastAPI, ex: Explorer) -> None:
    @app.get("/api/png/image/{source}/{idx}")
    def image(source: str, idx: str) -> Response:
        return _png(F.image_png(ex, ex.ref(source, idx)))

    @app.get("/api/png/maps/{source}/{idx}/{layer}")
    def maps(source: str, idx: str, layer: str, norm: str | None = None) -> Response:
        return _png(M.mosaic_png(ex, ex.ref(source, idx), layer, _norm(norm)))

    @app.get("/api/png/map/{source}/{idx}/{layer}/{ch}")
    def one_map(source: str, idx: str, layer: str, ch: str, norm: str | None = None) -> Response:
        return _png(M.map_png(ex, ex.ref(source, idx), layer, ch, _norm(norm)))

    @app.get("/api/png/overlay/{source}/{idx}/{layer}/{ch}")
    def overlay(source: str, idx: str, layer: str, ch: str) -> Response:
        return _png(M.overlay_png(ex, ex.ref(source, idx), layer, ch))

    @app.get("/api/png/similarity/{layer}")
    def similarity(layer: str, metric: str | None = None) -> Response:
        return _png(M.similarity_png(ex, layer, _metric(ex, metric)))

    @app.get("/api/png/pair/{source}/{idx}/{layer}/{i}/{j}/{panel}")
    def pair(source: str, idx: str, layer: str, i: str, j: str, panel: str) -> Response:
        return _png(M.pair_png(ex, ex.ref(source, idx), layer, i, j, panel))

    @app.get("/api/png/classes/{which}")
    def classes(which: str) -> Response:
        return _png(F.class_png(ex, which))

    @app.get("/api/png/epochs/{run}/{k}")
    def epochs(run: str, k: str, norm: str | None = None) -> Response:
        return _png(F.epoch_maps_png(ex, run, k, _norm(norm)))

    @app.get("/api/png/colorbar/{name}")
    def colorbar(name: str) -> Response:
        return _png(F.colorbar_png(name))

    @app.get("/api/png/figure/{section}/{n}")
    def figure(section: str, n: str, arg: str | None = None) -> Response:
        return _png(F.figure_png(ex, section, n, arg))


def create_app(
    explorer: Explorer,
    *,
    token: str | None = None,
    banners: Sequence[str] = (),
    max_upload_bytes: int | None = None,
) -> Any:
    """The explorer's ASGI app, guarded (:class:`~convscope.serve.security.Guard`).

    Args:
        explorer: what the app shows.
        token: required on every request when given (any host but the loopback one).
        banners: notes shown at the top of the page (e.g. untrained weights).
        max_upload_bytes: bound on an upload's body (default: the explorer's own).

    Returns:
        An ASGI app (``app.state.explorer`` is the explorer; ``app.state.fastapi`` the
        FastAPI app inside the guard).
    """
    app = FastAPI(title="convscope explorer", docs_url=None, redoc_url=None, openapi_url=None)
    limit = explorer.upload_limits[0] if max_upload_bytes is None else int(max_upload_bytes)

    @app.exception_handler(ConvscopeError)
    async def refused(_request: Request, exc: ConvscopeError) -> JSONResponse:
        status = exc.status if isinstance(exc, RequestError) else 400
        return _json({"error": str(exc)}, status)

    _page_routes(app, explorer, banners)
    _image_routes(app, explorer, limit)
    _map_routes(app, explorer)
    _png_routes(app, explorer)
    guarded = Guard(app, token=token)
    guarded.state = app.state  # type: ignore[attr-defined]
    app.state.explorer = explorer
    app.state.fastapi = app
    return guarded
