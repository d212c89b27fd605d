"""Enrollment codes: a coordinator creates them for their regions, an admin for any."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from regional_server.api.errors import MAX_ROW_ID, ApiError
from regional_server.auth.sessions import CurrentUser
from regional_server.context import ServerContext, get_ctx
from regional_server.dashboard.i18n import translate
from regional_server.store.codes import create_code, list_codes, revoke_code
from regional_server.store.regions import get_region, list_regions
from regional_server.web import check_csrf, language_of, render, require_user

router = APIRouter(include_in_schema=False)
MAX_DAYS = 365


def _page(
    request: Request, ctx: ServerContext, user: CurrentUser, message: str = "", status: int = 200
) -> Response:
    with ctx.engine.connect() as conn:
        codes = list_codes(conn, user.region_ids)
        regions = list_regions(conn, user.region_ids)
    return render(
        request,
        "admin_codes.html",
        {"codes": codes, "regions": regions, "message": message, "now": ctx.now()},
        user=user,
        status=status,
    )


@router.get("/admin/codes")
def codes_page(
    request: Request,
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
) -> Response:
    return _page(request, ctx, user)


@router.post("/admin/codes")
def codes_create(
    request: Request,
    region: Annotated[str, Form(max_length=40)],
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    uses: Annotated[int, Form(ge=1, le=10_000)] = 1,
    days: Annotated[int, Form(ge=1, le=MAX_DAYS)] = 30,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(user, csrf_token)
    now = ctx.now()
    with ctx.engine.begin() as conn:
        found = get_region(conn, region)
        if found is None or found.id not in user.region_ids:
            raise ApiError(404, "not_found", f"unknown region {region}")
        code = create_code(conn, found.id, uses, now + days * 86400, now, user.id)
    lang = language_of(request)
    return _page(request, ctx, user, translate(lang, "code_created", code=code), 201)


@router.post("/admin/codes/{code_id}/revoke")
def codes_revoke(
    code_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(user, csrf_token)
    with ctx.engine.begin() as conn:
        if not revoke_code(conn, code_id, user.region_ids):
            raise ApiError(404, "not_found", "no such code")
    return RedirectResponse("/admin/codes", status_code=303)
