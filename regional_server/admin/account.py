"""The user's own page: personal API tokens for scripts (create, see, revoke)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from regional_server.api.errors import MAX_ROW_ID, ApiError
from regional_server.auth.sessions import CurrentUser
from regional_server.context import ServerContext, get_ctx
from regional_server.dashboard.i18n import translate
from regional_server.store.tokens import TokenError, create_token, list_tokens, revoke_token
from regional_server.web import check_csrf, language_of, render, require_user

router = APIRouter(include_in_schema=False)


def _page(
    request: Request,
    ctx: ServerContext,
    user: CurrentUser,
    *,
    new_token: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    with ctx.engine.connect() as conn:
        tokens = list_tokens(conn, user.id)
    return render(
        request,
        "account.html",
        {"tokens": tokens, "new_token": new_token, "error": error},
        user=user,
        status=status,
    )


@router.get("/account")
def account_page(
    request: Request,
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
) -> Response:
    return _page(request, ctx, user)


@router.post("/account/tokens")
def token_create(
    request: Request,
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    name: Annotated[str, Form(max_length=100)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(user, csrf_token)
    try:
        with ctx.engine.begin() as conn:
            token = create_token(conn, user.id, name, ctx.now())
    except TokenError as e:
        lang = language_of(request)
        return _page(request, ctx, user, error=translate(lang, "token_error", detail=e), status=400)
    return _page(request, ctx, user, new_token=token, status=201)


@router.post("/account/tokens/{token_id}/revoke")
def token_revoke(
    token_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(user, csrf_token)
    with ctx.engine.begin() as conn:
        if not revoke_token(conn, user.id, token_id):
            raise ApiError(404, "not_found", "no such token")
    return RedirectResponse("/account", status_code=303)
