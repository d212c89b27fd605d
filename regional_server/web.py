"""Shared pieces of the HTML side: templates, the current user, CSRF, language."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from regional_server.api.errors import ApiError, wants_json
from regional_server.auth.csrf import tokens_match
from regional_server.auth.sessions import SESSION_COOKIE, CurrentUser, load_session
from regional_server.context import ServerContext, get_ctx
from regional_server.dashboard.formats import Formatter
from regional_server.dashboard.i18n import (
    LANG_COOKIE,
    LANGUAGE_NAMES,
    LANGUAGES,
    choose_language,
    column_label,
    translate,
)
from regional_server.store.tokens import user_for_token
from regional_server.transport import cookie_secure

templates = Environment(
    loader=PackageLoader("regional_server", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _date(ts: int | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


templates.filters["date"] = _date


def _count(value: int | None, threshold: int) -> str:
    """A published count with thousands separators, or ``<threshold`` when hidden."""
    return f"<{threshold}" if value is None else f"{value:,}"


templates.filters["count"] = _count


class LoginRequired(Exception):
    """No valid session: pages redirect to /login, JSON and CSV get 401."""


def language_of(request: Request) -> str:
    return choose_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def bearer_token(request: Request) -> str | None:
    """The ``Authorization: Bearer`` token, on the JSON and CSV routes only: a page or
    a form never takes one (forms rely on the session's CSRF token)."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() != "bearer " or not wants_json(request):
        return None
    return header[7:].strip() or None


def optional_user(
    request: Request, ctx: Annotated[ServerContext, Depends(get_ctx)]
) -> CurrentUser | None:
    bearer = bearer_token(request)
    if bearer is not None and request.method in ("GET", "HEAD"):
        with ctx.engine.begin() as conn:
            return user_for_token(conn, bearer, ctx.now())
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    with ctx.engine.connect() as conn:
        return load_session(conn, token, ctx.now())


def require_user(user: Annotated[CurrentUser | None, Depends(optional_user)]) -> CurrentUser:
    if user is None:
        raise LoginRequired()
    return user


def require_admin(user: Annotated[CurrentUser, Depends(require_user)]) -> CurrentUser:
    if not user.is_admin:
        # Not "forbidden": a coordinator does not learn that the page exists.
        raise ApiError(404, "not_found", "not found")
    return user


def check_csrf(user: CurrentUser, submitted: str | None) -> None:
    if not tokens_match(user.csrf_token, submitted):
        raise ApiError(403, "bad_csrf", "the form expired or did not come from this site")


def login_required_response(request: Request) -> Response:
    if wants_json(request):
        return JSONResponse({"error": "login_required", "message": "log in first"}, 401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


_ERROR_KEYS = {
    "not_found": "error_not_found",
    "bad_filter": "error_bad_filter",
    "bad_request": "error_bad_request",
    "invalid_request": "error_bad_request",
    "bad_csrf": "bad_csrf",
    "too_many_requests": "error_too_many",
    "busy": "error_busy",
    "internal_error": "error_internal",
}


def error_page(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    """An error as a page of the app, in the user's language (the technical detail,
    in English, only where it says which filter or field was wrong)."""
    lang = language_of(request)
    key = _ERROR_KEYS.get(code)
    text = (
        translate(lang, key, detail=message)
        if key in ("error_bad_filter", "error_bad_request")
        else translate(lang, key)
        if key
        else translate(lang, "error_generic", status=status)
    )
    return render(request, "error.html", {"status": status, "message": text}, status=status)


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    user: CurrentUser | None = None,
) -> HTMLResponse:
    """Render a page in the user's language; ``?lang=`` also sets the language cookie."""
    lang = language_of(request)
    ctx: ServerContext = request.app.state.ctx

    def t(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    html = templates.get_template(name).render(
        request=request,
        user=user,
        lang=lang,
        fmt=Formatter(lang),
        languages=LANGUAGES,
        language_names=LANGUAGE_NAMES,
        t=t,
        column_label=lambda key: column_label(lang, key),
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    query_lang = request.query_params.get("lang")
    if query_lang in LANGUAGES and request.cookies.get(LANG_COOKIE) != query_lang:
        response.set_cookie(
            LANG_COOKIE,
            query_lang,
            max_age=365 * 86400,
            httponly=True,
            samesite="lax",
            secure=cookie_secure(request, ctx.settings),
        )
    return response
