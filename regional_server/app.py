"""The ASGI application: ``create_app(settings)`` wires routes, errors and headers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from kiosk_agent import __version__
from regional_server import feeds
from regional_server.admin import codes as admin_codes
from regional_server.admin import regions as admin_regions
from regional_server.admin import users as admin_users
from regional_server.api import enroll, reports
from regional_server.api.errors import install_error_handlers
from regional_server.context import ServerContext
from regional_server.dashboard import pages
from regional_server.db.engine import make_engine
from regional_server.settings import Settings
from regional_server.web import LoginRequired, login_required_response

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Pages load nothing from elsewhere and run no script; SVG charts are inline markup.
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def create_app(
    settings: Settings,
    engine: Engine | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The server app on ``settings`` (the database must be migrated: see ``init-db``)."""
    app = FastAPI(
        title="kiosk-agent regional server",
        version=__version__,
        description=(
            "Kiosk enrollment and signed report upload (/api/v1), published feeds "
            "(/feeds), and the coordinators' indicators (/api/v1/indicators, /export.csv)."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ServerContext(settings, engine or make_engine(settings), clock)
    install_error_handlers(app)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, _exc: LoginRequired) -> Response:
        return login_required_response(request)

    @app.middleware("http")
    async def _headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        # Kiosks correct their clocks from Date (café PCs often have dead CMOS batteries).
        response.headers["Date"] = formatdate(clock(), usegmt=True)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith(("/api/", "/export")) or response.headers.get(
            "content-type", ""
        ).startswith("text/html"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    for router in (
        enroll.router,
        reports.router,
        feeds.router,
        pages.router,
        admin_codes.router,
        admin_users.router,
        admin_regions.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
