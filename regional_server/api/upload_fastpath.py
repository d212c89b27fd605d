"""``POST /api/v1/reports`` served straight from ASGI, ahead of FastAPI.

The upload is the one hot path (every kiosk, every day, bursts after an outage): the
generic machinery (the middleware stack, routing, dependency solving, response
objects) cost more CPU than verifying and storing the report. ``RegionalServer``
(``app.py``) hands an upload to this handler before any of it runs; the handler uses
the same functions as the documented FastAPI route (``api.reports``), which stays the
OpenAPI description, and sends the same headers as ``HeadersMiddleware``.
"""

from __future__ import annotations

import json
import logging

from starlette.types import Receive, Scope, Send

from kiosk_agent.contracts.report import (
    HEADER_KIOSK_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_BODY_BYTES,
)
from regional_server.api.errors import ApiError
from regional_server.api.reports import REPORTS_PATH, store, verify_upload
from regional_server.context import ServerContext
from regional_server.headers import HttpDate, api_response_headers

log = logging.getLogger(__name__)
_H_ID = HEADER_KIOSK_ID.lower().encode()
_H_TS = HEADER_TIMESTAMP.lower().encode()
_H_SIG = HEADER_SIGNATURE.lower().encode()
_HEADERS = api_response_headers()
_STORED = b'{"status":"stored"}'
_DUPLICATE = b'{"status":"duplicate"}'


class _TooLarge(Exception):
    pass


def is_upload(scope: Scope) -> bool:
    """True for the requests ``UploadFastPath`` answers."""
    return bool(
        scope["type"] == "http" and scope["path"] == REPORTS_PATH and scope["method"] == "POST"
    )


async def _read_body(receive: Receive, declared: int | None, limit: int) -> bytes:
    if declared is not None and declared > limit:
        raise _TooLarge()
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ConnectionError("client went away")
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the whole body in one message: no copy
        if len(body) > limit:
            raise _TooLarge()
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _error(code: str, message: str) -> bytes:
    return json.dumps({"error": code, "message": message}, separators=(",", ":")).encode()


class UploadFastPath:
    """Answers ``is_upload`` requests completely (body, checks, storage, response)."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.date = HttpDate(ctx.clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)

        def header(name: bytes, limit: int) -> str | None:
            value = headers.get(name)
            if value is None or len(value) > limit:
                return None
            return value.decode("latin-1")

        try:
            length = headers.get(b"content-length", b"")
            declared = int(length) if length.isdigit() else None
            body = await _read_body(receive, declared, MAX_BODY_BYTES)
            pending = verify_upload(
                self.ctx,
                REPORTS_PATH,
                body,
                header(_H_ID, 64),
                header(_H_TS, 20),
                header(_H_SIG, 200),
                header(b"content-encoding", 40),
            )
            stored = await store(self.ctx, pending)
            status, payload = (201, _STORED) if stored else (200, _DUPLICATE)
        except _TooLarge:
            status = 413
            payload = _error("body_too_large", f"body larger than {MAX_BODY_BYTES} bytes")
        except ApiError as e:
            status, payload = e.status, _error(e.code, e.message)
        except ConnectionError:
            return
        except Exception:
            log.exception("unexpected error on a report upload")
            status, payload = 500, _error("internal_error", "internal error; try again later")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *_HEADERS,
                    (b"date", self.date()),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
