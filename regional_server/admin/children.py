"""Child servers (admins only): register a regional server's key and what it may push
for, switch its pushes off and on (docs/national-view.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import Response
from sqlalchemy import select

from regional_server.admin.list_form import ListPage
from regional_server.api.errors import MAX_ROW_ID
from regional_server.auth.sessions import CurrentUser
from regional_server.context import ServerContext, get_ctx
from regional_server.dashboard.i18n import translate
from regional_server.db.models import child_servers
from regional_server.national.children import ChildError, list_children, register_child, set_active
from regional_server.web import check_csrf, language_of, require_admin

router = APIRouter(include_in_schema=False)


PAGE = ListPage("admin_children.html", lambda conn: {"children": list_children(conn)})
PAGE.add_page(router, "/admin/children")


@router.post("/admin/children")
def children_register(
    request: Request,
    name: Annotated[str, Form(max_length=100)],
    key: Annotated[str, Form(max_length=100)],
    user: Annotated[CurrentUser, Depends(require_admin)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    regions: Annotated[str, Form(max_length=2000)] = "",
    countries: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    return PAGE.submit(
        request,
        ctx,
        user,
        csrf_token,
        lambda conn: register_child(conn, name, key, [regions], [countries], ctx.now()),
        ChildError,
    )


@router.post("/admin/children/{child_id}")
def children_set_active(
    request: Request,
    child_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    user: Annotated[CurrentUser, Depends(require_admin)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    active: Annotated[str, Form(max_length=8)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(user, csrf_token)
    with ctx.engine.begin() as conn:
        name = conn.execute(
            select(child_servers.c.name).where(child_servers.c.id == child_id)
        ).scalar()
        if name is not None:
            set_active(conn, name, active == "1")
    lang = language_of(request)
    if name is None:
        return PAGE.show(request, ctx, user, error=translate(lang, "error_not_found"), status=404)
    return PAGE.show(request, ctx, user, translate(lang, "saved"))
