"""The ASGI application: ``create_app(settings)`` wires routes, errors and headers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from kiosk_agent import __version__
from regional_server import feeds
from regional_server.admin import account as admin_account
from regional_server.admin import children as admin_children
from regional_server.admin import codes as admin_codes
from regional_server.admin import dhis2 as admin_dhis2
from regional_server.admin import fleet as admin_fleet
from regional_server.admin import kiosks as admin_kiosks
from regional_server.admin import regions as admin_regions
from regional_server.admin import users as admin_users
from regional_server.api import enroll, reports
from regional_server.api.errors import install_error_handlers
from regional_server.api.upload_fastpath import UploadFastPath, is_upload
from regional_server.body_limit import BodyLimitMiddleware
from regional_server.context import ServerContext
from regional_server.dashboard import alerts as alerts_pages
from regional_server.dashboard import apidocs, pages
from regional_server.db.engine import make_engine
from regional_server.headers import HeadersMiddleware
from regional_server.national import route as national_route
from regional_server.settings import Settings
from regional_server.web import LoginRequired, error_page, login_required_response

STATIC_DIR = Path(__file__).resolve().parent / "static"


class RegionalServer(FastAPI):
    """FastAPI, with report uploads answered before its middleware stack runs."""

    upload: UploadFastPath

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_upload(scope):
            await self.upload(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(
    settings: Settings,
    engine: Engine | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The server app on ``settings`` (the database must be migrated: see ``init-db``)."""
    context = ServerContext(settings, engine or make_engine(settings), clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        context.ingest_queue.close()
        context.kiosk_keys.close()

    app = RegionalServer(
        lifespan=lifespan,
        title="kiosk-agent regional server",
        version=__version__,
        description=(
            "Kiosk enrollment and signed report upload (/api/v1), published feeds "
            "(/feeds), and the coordinators' indicators (/api/v1/indicators, /export.csv)."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = context
    app.state.error_page = error_page
    app.upload = UploadFastPath(context)
    install_error_handlers(app)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, _exc: LoginRequired) -> Response:
        return login_required_response(request)

    for router in (
        enroll.router,
        reports.router,
        feeds.router,
        pages.router,
        apidocs.router,
        admin_codes.router,
        admin_users.router,
        admin_regions.router,
        admin_account.router,
        admin_dhis2.router,
        admin_fleet.router,
        admin_kiosks.router,
        alerts_pages.router,
        admin_children.router,
        national_route.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Innermost first: the body bound, then headers (on its 413 too), then the trusted
    # proxies' view of client address and scheme (which HSTS and cookies depend on).
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_body_bytes,
        exempt=frozenset({reports.REPORTS_PATH}),
    )
    app.add_middleware(HeadersMiddleware, clock=clock)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    return app
