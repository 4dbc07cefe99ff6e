"""``convscope serve``: the live explorer in the browser.

The web libraries (the ``serve`` extra) are imported when the verb runs, so
``convscope --help`` never pays for them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ..errors import BackendMissingError, ConvscopeError
from ..runfolder import RunFolder
from ._common import load_model_and_data


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``serve`` verb."""
    p = sub.add_parser(
        "serve",
        help="explore a model live in the browser (maps, similarity, classes, training)",
        description="Start a local web app to click through a model's feature maps, channel "
        "similarity, class firing and training curves. Pointed at a run folder that "
        "`convscope train` is writing, it follows the training epoch by epoch.",
    )
    p.add_argument("sources", nargs="*", metavar="MODEL_OR_RUN",
                   help="the model (run folder, model file or zoo name), then more run folders "
                   "whose training curves are drawn with its own")  # fmt: skip
    p.add_argument("--model", dest="model_path", metavar="PATH",
                   help="the model (same as the first MODEL_OR_RUN)")  # fmt: skip
    p.add_argument("--data", help="data set (default: the one the model was trained on)")
    p.add_argument("--data-dir", help="data cache folder (default $CONVSCOPE_DATA)")
    p.add_argument("--seed", type=int, help="split seed (default: the run's, else 0)")
    p.add_argument("--split", choices=["test", "val", "train"], default="test")
    p.add_argument("--trust", action="store_true", help="load Keras files with custom code")
    p.add_argument("--offline", action="store_true", help="never download data")
    p.add_argument("--force", action="store_true",
                   help="explore a data set whose classes are not the model's")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1: this machine only; any "
                   "other host needs the random token printed at start)")  # fmt: skip
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free one)")
    p.add_argument("--metric", default="multiply", choices=["multiply", "cosine", "pearson"])
    p.add_argument(
        "--images",
        type=int,
        default=32,
        help="first images of the split the similarity matrices average (default 32)",
    )
    p.add_argument("--cache-mb", type=int, default=256, help="bound of the capture cache (MiB)")
    p.set_defaults(func=_serve)


APPEAR_S = 120.0
"""How long ``serve RUN`` waits for a run folder that ``convscope train`` has not made yet."""


def _looks_like_run(source: str) -> bool:
    """A source that is (or will be) a run folder: a folder, or a path not made yet."""
    from ..models.zoo import ZOO  # models (and torch) load when the verb runs

    path = Path(source)
    return path.is_dir() or (not path.exists() and source not in ZOO and not path.suffix)


def _runs(sources: list[str]) -> tuple[list[str], str | None]:
    """The run folders among the sources, and the run the model comes from (if any)."""
    first = sources[0]
    model_run = first if _looks_like_run(first) else None
    runs = [first] if model_run else []
    for extra in sources[1:]:
        if not Path(extra).is_dir():
            raise ConvscopeError(
                f"{extra} is not a run folder; after the model, name run folders made by "
                "`convscope train` (their curves are drawn together)"
            )
        runs.append(extra)
    return runs, model_run


def _wait_for_weights(run: str) -> None:
    """A run that `convscope train` has not made, or whose first epoch is not saved yet:
    wait for it (a folder that does not appear within APPEAR_S is an error; Ctrl-C stops)."""
    folder = RunFolder(run)
    if folder.model.exists():
        return
    print(f"convscope: waiting for {run} to save its first epoch (Ctrl-C to stop)…", flush=True)
    deadline = time.monotonic() + APPEAR_S
    while not folder.model.exists():
        if not folder.is_run() and time.monotonic() > deadline:
            raise ConvscopeError(
                f"{run} is not a run folder and no training made it within {APPEAR_S:.0f} s; "
                "start `convscope train --out RUN` first, or check the path"
            )
        time.sleep(0.5)


def _imports() -> tuple[Any, ...]:
    try:
        from ..serve import Explorer, create_app
        from ..serve.mapviews import warm_up
        from ..serve.security import is_loopback, new_token
        from ..serve.server import bind, run_server, url_for
    except ImportError as exc:
        raise BackendMissingError(
            f"convscope serve needs the serve extra ({exc.name} is missing): "
            "pip install 'convscope[serve]'"
        ) from None
    return Explorer, create_app, warm_up, is_loopback, new_token, bind, run_server, url_for


def _serve(args: argparse.Namespace) -> int:
    Explorer, create_app, warm_up, is_loopback, new_token, bind, run_server, url_for = _imports()
    if args.model_path:
        args.sources = [args.model_path, *args.sources]
    if not args.sources:
        raise ConvscopeError("name a model: convscope serve MODEL_OR_RUN [RUN ...]")
    runs, model_run = _runs(args.sources)
    if model_run is not None:
        _wait_for_weights(model_run)
    ns = argparse.Namespace(model=args.sources[0], model_path=None, data=args.data,
                            data_dir=args.data_dir, seed=args.seed, trust=args.trust,
                            offline=args.offline, force=args.force)  # fmt: skip
    model, meta, data = load_model_and_data(ns)
    sock = bind(args.host, args.port)  # a taken port fails before the analysis
    banners = []
    if model_run is None and not Path(args.sources[0]).exists():
        banners.append(f"{args.sources[0]} is a zoo name: its weights are random, not trained.")
    explorer = Explorer(model, data, split=args.split, runs=runs, model_run=model_run,
                        metric=args.metric, similarity_images=args.images,
                        cache_bytes=args.cache_mb * 2**20)  # fmt: skip
    print(f"convscope: analysing {data.name} ({args.split} split, {len(explorer.x)} images)…",
          flush=True)  # fmt: skip
    seconds = warm_up(explorer)
    token = None if is_loopback(args.host) else new_token()
    app = create_app(explorer, token=token, banners=banners)
    port = int(sock.getsockname()[1])
    print(
        f"convscope: ready in {seconds:.1f} s. Open the explorer at {url_for(args.host, port, token)}"
    )
    if token:
        print("convscope: listening beyond this machine; the token in the URL is required.")
    print("convscope: press Ctrl-C to stop.", flush=True)
    run_server(app, args.host, port, sock=sock)
    return 0
