"""One bound on every request body, as a plain ASGI middleware.

Without it a single unauthenticated ``POST /api/v1/enroll`` of 300 MiB was read into
memory whole. A declared ``Content-Length`` over the bound is answered 413 before the
body is read; a body without one (chunked) is counted while it streams and refused as
soon as it passes the bound. Report uploads keep their own bound (and the bound on
gzip expansion) in ``api.upload_fastpath``, ahead of this middleware.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def declared_length(scope: Scope) -> int | None:
    """``Content-Length`` as an integer (ASCII digits only), else None."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = bytes(value).strip()
            if text and len(text) <= 20 and all(0x30 <= c <= 0x39 for c in text):
                return int(text)
            return None
    return None


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body larger than {limit} bytes")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int, exempt: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        limit = self.limit
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the app's body reading: FastAPI's exception handling
                    # answers 413 (HTTPException), the route never sees the body.
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(
        {"error": "body_too_large", "message": f"body larger than {limit} bytes"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
