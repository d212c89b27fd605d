"""``POST /api/v1/reports`` served straight from ASGI, ahead of FastAPI's routing.

The upload is the one hot path (every kiosk, every day, bursts after an outage): the
generic machinery (dependency solving, validation, task groups) cost more CPU than
verifying and storing the report. This handler uses the same functions as the
documented FastAPI route (``api.reports``), which stays the OpenAPI description.
"""

from __future__ import annotations

import logging

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from kiosk_agent.reporting.schema import (
    HEADER_KIOSK_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_BODY_BYTES,
)
from regional_server.api.errors import ApiError
from regional_server.api.reports import REPORTS_PATH, store, verify_upload
from regional_server.context import ServerContext

log = logging.getLogger(__name__)
_H_ID = HEADER_KIOSK_ID.lower().encode()
_H_TS = HEADER_TIMESTAMP.lower().encode()
_H_SIG = HEADER_SIGNATURE.lower().encode()


class _TooLarge(Exception):
    pass


async def _read_body(receive: Receive, declared: int | None, limit: int) -> bytes:
    if declared is not None and declared > limit:
        raise _TooLarge()
    chunks: list[bytes] = []
    size = 0
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


class UploadFastPath:
    """ASGI middleware: answers report uploads itself, passes everything else on."""

    def __init__(self, app: ASGIApp, ctx: ServerContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http" and scope["path"] == REPORTS_PATH and scope["method"] == "POST"
        ):
            await self.app(scope, receive, send)
            return
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
            response = JSONResponse(
                {"status": "stored" if stored else "duplicate"}, 201 if stored else 200
            )
        except _TooLarge:
            response = _error(413, "body_too_large", f"body larger than {MAX_BODY_BYTES} bytes")
        except ApiError as e:
            response = _error(e.status, e.code, e.message)
        except ConnectionError:
            return
        except Exception:
            log.exception("unexpected error on a report upload")
            response = _error(500, "internal_error", "internal error; try again later")
        await response(scope, receive, send)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status)
