"""The explorer's guard: a token off the local host, a host check on it, strict headers.

:class:`Guard` is plain ASGI middleware (no framework import) in front of every request:

* **Token.** Bound to anything but the loopback interface, every request must carry the
  random token printed at start (``?token=...`` once, then the ``HttpOnly``,
  ``SameSite=Strict`` cookie it sets; or an ``X-Convscope-Token`` header), as Jupyter does.
  Missing or wrong: 403, and nothing else runs.
* **Host check.** Bound to the loopback interface without a token, the ``Host`` header
  must name the loopback host, so a web page cannot reach the explorer by re-pointing
  its own domain name at 127.0.0.1 (DNS rebinding).
* **Origin check.** A request that changes something (an upload) must come from the
  explorer's own page: a foreign ``Origin`` is refused.
* **Headers.** A Content-Security-Policy that forbids inline scripts and styles and any
  other origin, ``nosniff``, no referrer, no framing; no caching of pages and JSON.

Example:
    >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
    (True, False, True)
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

__all__ = ["CSP", "COOKIE", "Guard", "is_loopback", "new_token"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""No inline script or style, nothing from another origin."""
COOKIE = "convscope_token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def new_token() -> str:
    """A fresh random token (32 bytes of entropy, URL-safe)."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the explorer on this machine."""
    if host.strip("[]").lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8765
        return value.split("]")[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Guard:
    """ASGI middleware: token, host and origin checks, and the security headers.

    Args:
        app: the ASGI app to guard.
        token: the token every request must carry, or ``None`` (loopback only).
    """

    def __init__(self, app: Any, *, token: str | None = None) -> None:
        self.app = app
        self.token = token

    def _token_of(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[str | None, bool]:
        """The token a request carries, and whether it came in the query string."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token"):
            return query["token"][0], True
        header = headers.get(b"x-convscope-token")
        if header:
            return header.decode("latin-1"), False
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
        except Exception:  # a malformed cookie header: no token
            return None, False
        morsel = cookie.get(COOKIE)
        return (morsel.value if morsel is not None else None), False

    def _refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        """Why the request is refused, or None."""
        if self.token is not None:
            given, _ = self._token_of(scope, headers)
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                return "this explorer needs its token: open the URL printed when it started"
        elif _host_name(headers.get(b"host", b"").decode("latin-1")) not in LOOPBACK_NAMES:
            return "the explorer answers on localhost only (Host header refused)"
        origin = headers.get(b"origin")
        if scope.get("method") not in ("GET", "HEAD") and origin is not None:
            host = headers.get(b"host", b"").decode("latin-1").lower()
            if origin.decode("latin-1").lower().split("://", 1)[-1] != host:
                return "requests that change something must come from the explorer's page"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _plain(send, 403, refusal)
            return
        token, from_query = self._token_of(scope, headers)
        cookie = None
        if self.token is not None and from_query and token is not None:
            cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()

        async def send_guarded(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                extra = list(HEADERS) + ([(b"set-cookie", cookie)] if cookie else [])
                names = {k.lower() for k, _ in message.get("headers", [])}
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_guarded)


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), *HEADERS,
               (b"cache-control", b"no-store")]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
