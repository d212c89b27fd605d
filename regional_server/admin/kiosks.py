"""Kiosks (admins only): the list, and retiring a kiosk so it is no longer expected to
report (reporting completeness), or bringing it back."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from regional_server.api.errors import ApiError
from regional_server.auth.sessions import CurrentUser
from regional_server.context import ServerContext, get_ctx
from regional_server.store.kiosks import list_kiosks, set_retired
from regional_server.web import check_csrf, render, require_admin

router = APIRouter(include_in_schema=False)
audit = logging.getLogger("regional_server.audit")
"""Who retired or brought back which kiosk, and when (the server's log)."""

_KIOSK_ID = Path(min_length=1, max_length=64, pattern=r"^k-[0-9a-f]{16}$")


@router.get("/admin/kiosks")
def kiosks_page(
    request: Request,
    user: Annotated[CurrentUser, Depends(require_admin)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
) -> Response:
    with ctx.engine.connect() as conn:
        rows = list_kiosks(conn, user.region_ids)
    return render(request, "admin_kiosks.html", {"kiosks": rows}, user=user)


def _set(
    ctx: ServerContext, user: CurrentUser, kiosk_id: str, retired: bool, csrf_token: str
) -> Response:
    check_csrf(user, csrf_token)
    with ctx.engine.begin() as conn:
        found = set_retired(conn, kiosk_id, retired, ctx.now())
    if not found:
        raise ApiError(404, "not_found", "no such kiosk")
    audit.info(
        "kiosk %s %s by user %d (%s)",
        kiosk_id,
        "retired" if retired else "brought back",
        user.id,
        user.email,
    )
    return RedirectResponse("/admin/kiosks", status_code=303)


@router.post("/admin/kiosks/{kiosk_id}/retire")
def kiosk_retire(
    kiosk_id: Annotated[str, _KIOSK_ID],
    user: Annotated[CurrentUser, Depends(require_admin)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    return _set(ctx, user, kiosk_id, True, csrf_token)


@router.post("/admin/kiosks/{kiosk_id}/unretire")
def kiosk_unretire(
    kiosk_id: Annotated[str, _KIOSK_ID],
    user: Annotated[CurrentUser, Depends(require_admin)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    return _set(ctx, user, kiosk_id, False, csrf_token)
