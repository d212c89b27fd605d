"""Regions (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from regional_server.auth.sessions import CurrentUser
from regional_server.context import ServerContext, get_ctx
from regional_server.dashboard.i18n import translate
from regional_server.store.regions import RegionError, create_region, list_regions
from regional_server.web import check_csrf, language_of, render, require_admin

router = APIRouter(include_in_schema=False)


def _page(
    request: Request,
    ctx: ServerContext,
    user: CurrentUser,
    message: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    with ctx.engine.connect() as conn:
        regions = list_regions(conn)
    return render(
        request,
        "admin_regions.html",
        {"regions": regions, "message": message, "error": error},
        user=user,
        status=status,
    )


@router.get("/admin/regions")
def regions_page(
    request: Request,
    user: Annotated[CurrentUser, Depends(require_admin)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
) -> Response:
    return _page(request, ctx, user)


@router.post("/admin/regions")
def regions_create(
    request: Request,
    code: Annotated[str, Form(max_length=40)],
    name: Annotated[str, Form(max_length=200)],
    country: Annotated[str, Form(max_length=8)],
    user: Annotated[CurrentUser, Depends(require_admin)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(user, csrf_token)
    try:
        with ctx.engine.begin() as conn:
            create_region(conn, code, name, country, ctx.now())
    except RegionError as e:
        return _page(request, ctx, user, error=str(e), status=400)
    return _page(request, ctx, user, message=translate(language_of(request), "saved"), status=201)
