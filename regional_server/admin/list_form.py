"""The admin pages' one form pattern: a list with a "new" form above it; a form posted
shows the same page again, with "saved" (201) or the reason it was refused (400)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from regional_server.auth.sessions import CurrentUser
from regional_server.context import ServerContext, get_ctx
from regional_server.dashboard.i18n import translate
from regional_server.web import check_csrf, language_of, render, require_admin


@dataclass(frozen=True)
class ListPage:
    template: str
    load: Callable[[Connection], dict[str, Any]]
    """What the template lists, read in one connection."""

    def show(
        self,
        request: Request,
        ctx: ServerContext,
        user: CurrentUser,
        message: str = "",
        error: str = "",
        status: int = 200,
    ) -> Response:
        with ctx.engine.connect() as conn:
            data = self.load(conn)
        return render(
            request,
            self.template,
            {**data, "message": message, "error": error},
            user=user,
            status=status,
        )

    def add_page(self, router: APIRouter, path: str) -> None:
        """``GET path``: the page, for admins only."""

        def page(
            request: Request,
            user: Annotated[CurrentUser, Depends(require_admin)],
            ctx: Annotated[ServerContext, Depends(get_ctx)],
        ) -> Response:
            return self.show(request, ctx, user)

        router.add_api_route(path, page, methods=["GET"], name=path.strip("/").replace("/", "_"))

    def saved(self, request: Request, ctx: ServerContext, user: CurrentUser) -> Response:
        return self.show(request, ctx, user, translate(language_of(request), "saved"), status=201)

    def submit(
        self,
        request: Request,
        ctx: ServerContext,
        user: CurrentUser,
        csrf_token: str,
        change: Callable[[Connection], object],
        refused: type[Exception],
    ) -> Response:
        """Check the form's CSRF token, apply ``change`` in one transaction, show the
        page: "saved", or ``refused``'s message (the store's errors are for people)."""
        check_csrf(user, csrf_token)
        try:
            with ctx.engine.begin() as conn:
                change(conn)
        except refused as e:
            return self.show(request, ctx, user, error=str(e), status=400)
        return self.saved(request, ctx, user)
