"""Errors as JSON a kiosk can log: ``{"error": code, "message": text}``, never a trace.

Pages get the same status with a short HTML page instead.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)
MAX_ROW_ID = 2**31 - 1
"""The largest id an integer column holds: a larger id in a path is a 422, not a
driver overflow (a 500 that schemathesis found)."""


class ApiError(Exception):
    """An error answer: HTTP status, a short machine code and a human message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def wants_json(request: Request) -> bool:
    path = request.url.path
    return (
        path.startswith("/api/")
        or path.startswith("/feeds/")
        or path.endswith(".csv")
        or "application/json" in request.headers.get("accept", "")
    )


def error_response(request: Request, status: int, code: str, message: str) -> Response:
    headers = {"Retry-After": "60"} if status in (429, 503) else None
    if wants_json(request):
        return JSONResponse({"error": code, "message": message}, status, headers=headers)
    page = getattr(request.app.state, "error_page", None)
    if page is not None:
        # The app's layout and the user's language (``web.error_page``).
        response: Response = page(request, status, code, message)
        if headers:
            response.headers.update(headers)
        return response
    html = (
        "<!doctype html><meta charset=utf-8><meta name=viewport "
        'content="width=device-width,initial-scale=1"><title>Error</title>'
        f"<p>{status}: {_escape(message)}</p><p><a href='/'>Home</a></p>"
    )
    return HTMLResponse(html, status, headers=headers)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(request, exc.status, exc.code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        response = error_response(request, exc.status_code, code, detail)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        message = "; ".join(problems) or "invalid request"
        return error_response(request, 400, "invalid_request", message[:500])

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # A bug, not the client's fault; logged here, never shown to the client.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal_error", "internal error; try again later")
