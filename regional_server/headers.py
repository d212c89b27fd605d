"""Headers on every response, as a plain ASGI middleware (no per-request task group).

``Date`` on every answer (kiosks correct their clocks from it: café PCs often have dead
CMOS batteries); security headers; ``no-store`` on pages and data; HSTS over HTTPS
(directly, or through a trusted proxy that says so: see ``transport``).
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import formatdate

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regional_server.transport import HSTS_VALUE, is_https

# Pages load nothing from elsewhere and run no script; SVG charts are inline markup.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


class HttpDate:
    """``Date`` header values from ``clock``, formatted once per second."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._second = -1
        self._value = b""

    def __call__(self) -> bytes:
        second = int(self._clock())
        if second != self._second:
            self._value = formatdate(second, usegmt=True).encode("latin-1")
            self._second = second
        return self._value


def api_response_headers(content_type: str = "application/json") -> list[tuple[bytes, bytes]]:
    """What ``HeadersMiddleware`` adds to an API answer, except ``Date`` (for handlers
    that answer ahead of it; see ``api.upload_fastpath``)."""
    headers = [(b"content-type", content_type.encode("latin-1"))]
    headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
    headers.append((b"cache-control", b"no-store"))
    return headers


class HeadersMiddleware:
    def __init__(self, app: ASGIApp, clock: Callable[[], float]) -> None:
        self.app = app
        self.date = HttpDate(clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Date"] = self.date().decode("latin-1")
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if is_https(scope):
                    headers.setdefault("Strict-Transport-Security", HSTS_VALUE)
                if path.startswith(("/api/", "/export")) or headers.get(
                    "content-type", ""
                ).startswith("text/html"):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
