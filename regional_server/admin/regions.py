"""Regions (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from regional_server.admin.list_form import ListPage
from regional_server.auth.sessions import CurrentUser
from regional_server.context import ServerContext, get_ctx
from regional_server.store.regions import RegionError, create_region, list_regions
from regional_server.web import require_admin

router = APIRouter(include_in_schema=False)


PAGE = ListPage("admin_regions.html", lambda conn: {"regions": list_regions(conn)})
PAGE.add_page(router, "/admin/regions")


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
    return PAGE.submit(
        request,
        ctx,
        user,
        csrf_token,
        lambda conn: create_region(conn, code, name, country, ctx.now()),
        RegionError,
    )
