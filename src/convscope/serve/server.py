"""Serving the explorer with uvicorn: in the foreground (the CLI) or in a thread (tests,
benchmarks, notebooks).

Example:
    >>> with ServerThread(app) as server:  # doctest: +SKIP
    ...     print(server.url)
    http://127.0.0.1:40123/
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

__all__ = ["ServerThread", "bind", "run_server", "url_for"]


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket on ``host:port`` (``port=0``: a free port the system picks).

    Raises:
        OSError: the port is taken (the message says which).
    """
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # proto IPPROTO_TCP, so asyncio turns Nagle off on each connection; and off on the
    # listener too: else a response's body waits for the ACK of its headers (~40 ms each)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise OSError(
            f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port"
        ) from None
    sock.listen(128)
    return sock


def url_for(host: str, port: int, token: str | None = None) -> str:
    """The URL to open: ``0.0.0.0`` and ``::`` become the loopback name to click.

    Example:
        >>> url_for("0.0.0.0", 8765, "abc")
        'http://localhost:8765/?token=abc'
    """
    shown = "localhost" if host in ("0.0.0.0", "::", "[::]", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def _server(app: Any, log_level: str) -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2)  # fmt: skip
    return uvicorn.Server(config)


def run_server(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    sock: socket.socket | None = None,
    log_level: str = "warning",
) -> None:
    """Serve ``app`` until interrupted (Ctrl-C). Pass ``sock`` from :func:`bind` to print
    the URL before serving."""
    sock = sock or bind(host, port)
    _server(app, log_level).run(sockets=[sock])


class ServerThread:
    """The app served by uvicorn in a background thread, on a free port.

    Args:
        app: the ASGI app (:func:`convscope.serve.create_app`).
        host: where to listen (default the loopback interface).
        port: 0 for a free port.
        token: appended to :attr:`url` when the app needs one.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, token: str | None = None):
        self.sock = bind(host, port)
        self.port = int(self.sock.getsockname()[1])
        self.url = url_for(host, self.port, token)
        self.server = _server(app, "warning")
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True, name="convscope-serve")  # fmt: skip

    def start(self, timeout: float = 20.0) -> ServerThread:
        """Start serving; returns once the server accepts requests."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the explorer's server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
