"""User accounts (admins only): create, set role and regions, deactivate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from regional_server.admin.list_form import ListPage
from regional_server.api.errors import MAX_ROW_ID, ApiError
from regional_server.auth.sessions import CurrentUser
from regional_server.context import ServerContext, get_ctx
from regional_server.store.regions import list_regions
from regional_server.store.users import (
    ROLES,
    UserError,
    create_user,
    get_user,
    list_users,
    set_active,
    set_role,
    set_user_regions,
)
from regional_server.web import check_csrf, require_admin

router = APIRouter(include_in_schema=False)


PAGE = ListPage(
    "admin_users.html",
    lambda conn: {"users": list_users(conn), "regions": list_regions(conn), "roles": ROLES},
)
PAGE.add_page(router, "/admin/users")


@router.post("/admin/users")
def users_create(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    user: Annotated[CurrentUser, Depends(require_admin)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    role: Annotated[str, Form(max_length=20)] = "coordinator",
    regions: Annotated[list[str] | None, Form()] = None,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    return PAGE.submit(
        request,
        ctx,
        user,
        csrf_token,
        lambda conn: create_user(
            conn,
            email,
            password,
            role,
            regions or [],
            ctx.now(),
            ctx.settings.password_scrypt_n,
        ),
        UserError,
    )


@router.post("/admin/users/{user_id}")
def users_update(
    user_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    role: Annotated[str, Form(max_length=20)],
    user: Annotated[CurrentUser, Depends(require_admin)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    regions: Annotated[list[str] | None, Form()] = None,
    active: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(user, csrf_token)
    if user_id == user.id and (role != "admin" or not active):
        raise ApiError(400, "self_lockout", "you cannot remove your own admin access")
    try:
        with ctx.engine.begin() as conn:
            get_user(conn, user_id)
            set_role(conn, user_id, role)
            set_user_regions(conn, user_id, regions or [])
            set_active(conn, user_id, bool(active))
    except UserError as e:
        raise ApiError(400, "bad_user", str(e)) from None
    except LookupError:
        raise ApiError(404, "not_found", "no such user") from None
    return RedirectResponse("/admin/users", status_code=303)
