"""Login, logout, the dashboard page, and the same data as CSV and JSON."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from markupsafe import Markup

from regional_server.api.errors import ApiError
from regional_server.auth.csrf import tokens_match
from regional_server.auth.passwords import (
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)
from regional_server.auth.ratelimit import (
    attempt_keys,
    attempt_limits,
    forget_success,
    record_attempt,
    wait_seconds,
)
from regional_server.auth.sessions import (
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    CurrentUser,
    create_session,
    end_session,
    new_token,
)
from regional_server.context import ServerContext, get_ctx
from regional_server.dashboard.alerts import alert_lines, user_alerts
from regional_server.dashboard.charts import line_chart
from regional_server.dashboard.export import to_csv, to_json
from regional_server.dashboard.filters import FilterError, Filters, parse_filters
from regional_server.dashboard.formats import Formatter
from regional_server.dashboard.i18n import column_label, translate
from regional_server.dashboard.tables import html_table
from regional_server.dashboard.view import DashboardData, build_dashboard
from regional_server.perturb import noise_table
from regional_server.store.users import credentials, set_password_hash
from regional_server.transport import cookie_secure
from regional_server.web import check_csrf, language_of, optional_user, render, require_user

router = APIRouter()
PASSWORD_CHECK_WAIT = 20.0
"""Seconds a login waits for a free password check before it is answered 503."""


def safe_next(target: str | None) -> str:
    """Where to go after login: only a path on this site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target[:2000]


def _login_page(
    request: Request,
    ctx: ServerContext,
    *,
    error: str = "",
    status: int = 200,
    next_url: str = "/",
    email: str = "",
) -> Response:
    token = request.cookies.get(PRELOGIN_COOKIE)
    fresh = not token or len(token) > 100
    if fresh:
        token = new_token()
    response = render(
        request,
        "login.html",
        {"csrf_token": token, "error": error, "next": safe_next(next_url), "email": email},
        status=status,
    )
    if fresh:
        response.set_cookie(
            PRELOGIN_COOKIE,
            token or "",
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request, ctx.settings),
            path="/login",
        )
    return response


@router.get("/login", include_in_schema=False)
def login_form(
    request: Request,
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    user: Annotated[CurrentUser | None, Depends(optional_user)],
    next: Annotated[str, Query(max_length=2000)] = "/",
) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, ctx, next_url=next)


@router.post("/login", include_in_schema=False)
def login_submit(
    request: Request,
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    lang = language_of(request)
    if not tokens_match(request.cookies.get(PRELOGIN_COOKIE), csrf_token):
        return _login_page(
            request, ctx, error=translate(lang, "bad_csrf"), status=403, next_url=next, email=email
        )
    settings = ctx.settings
    # The peer address, or the one a trusted proxy names (``trusted_proxies``).
    client = request.client.host if request.client else "unknown"
    now = ctx.now()
    window = settings.login_window_seconds
    # The attempt is counted before the password is checked, in one statement: logins
    # racing each other each see the others' attempts.
    with ctx.engine.begin() as conn:
        counted = record_attempt(conn, attempt_keys(email, client), now, window)
    wait = wait_seconds(
        counted, attempt_limits(email, client, settings.login_max_failures), now, window
    )
    if wait:
        message = translate(lang, "locked_out", minutes=math.ceil(wait / 60))
        response = _login_page(request, ctx, error=message, status=429, next_url=next, email=email)
        response.headers["Retry-After"] = str(wait)
        return response
    with ctx.engine.connect() as conn:
        cred = credentials(conn, email)
    n = settings.password_scrypt_n
    if not ctx.password_checks.acquire(timeout=PASSWORD_CHECK_WAIT):
        raise ApiError(503, "busy", "too many logins at once; try again in a minute")
    try:
        # Verify against a dummy hash for unknown accounts: the same time either way.
        ok = verify_password(password, cred[1] if cred else dummy_hash(n))
        rehash = hash_password(password, n) if ok and cred and needs_rehash(cred[1], n) else None
    finally:
        ctx.password_checks.release()
    if not (ok and cred and cred[2]):
        # The e-mail stays in the form (never the password): one typo, one field.
        return _login_page(
            request, ctx, error=translate(lang, "bad_login"), status=401, next_url=next, email=email
        )
    with ctx.engine.begin() as conn:
        forget_success(conn, email, client)
        if rehash is not None:
            set_password_hash(conn, cred[0], rehash)
        token = create_session(conn, cred[0], now, settings.session_hours)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, settings),
    )
    response.delete_cookie(PRELOGIN_COOKIE, path="/login")
    return response


@router.post("/logout", include_in_schema=False)
def logout(
    request: Request,
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(user, csrf_token)
    token = request.cookies.get(SESSION_COOKIE, "")
    with ctx.engine.begin() as conn:
        end_session(conn, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def load_view(
    ctx: ServerContext,
    user: CurrentUser,
    region: list[str],
    country: str | None,
    date_from: str | None,
    date_to: str | None,
    region_completeness: bool = False,
) -> DashboardData:
    """Parse the filters and gather the view; bad filters become 400/404 errors."""
    now = ctx.now()
    today = datetime.fromtimestamp(now, UTC).date()
    try:
        filters: Filters = parse_filters(region, country, date_from, date_to, today)
        with ctx.engine.connect() as conn:
            return build_dashboard(
                conn,
                user,
                filters,
                now,
                ctx.settings.suppression_threshold,
                ctx.settings.silent_after_days,
                noise_table(ctx.settings.noise_max, ctx.settings.noise_variance),
                ctx.settings.report_timely_days,
                region_completeness,
            )
    except FilterError as e:
        raise ApiError(e.status, "not_found" if e.status == 404 else "bad_filter", str(e)) from None


_REGION_Q = Query([], max_length=40)
_COUNTRY_Q = Query(None, max_length=8)
_FROM_Q = Query(None, alias="from", max_length=20)
_TO_Q = Query(None, alias="to", max_length=20)


@router.get("/", include_in_schema=False)
def dashboard(
    request: Request,
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    region: list[str] = _REGION_Q,
    country: str | None = _COUNTRY_Q,
    date_from: str | None = _FROM_Q,
    date_to: str | None = _TO_Q,
) -> Response:
    data = load_view(ctx, user, region, country, date_from, date_to)
    lang = language_of(request)
    ind = data.indicators
    chart = data.chart or ind
    labels = data.chart_labels or data.week_labels
    fmt = Formatter(lang)
    short = [fmt.week_short(label) for label in labels]
    long = [fmt.week(label) for label in labels]
    no_data = translate(lang, "chart_no_data")
    blocked_series = {
        column_label(lang, f"blocked.{c}"): v for c, v in chart.blocked_series.items()
    }
    ack_series = {translate(lang, "ack_rate"): chart.ack_rate_series}
    done_series = {translate(lang, k): v for k, v in data.completeness_series.items()}

    def both(make: Callable[[int], Markup]) -> dict[str, Markup]:
        # A wide and a narrow drawing; CSS shows one (phones get 12 px labels too).
        return {"wide": make(640), "narrow": make(360)}

    charts = {
        "blocked": both(
            lambda w: line_chart(
                blocked_series,
                long,
                translate(lang, "chart_blocked"),
                width=w,
                integer=True,
                no_data=no_data,
                tick_labels=short,
                fmt=fmt.number,
            )
        ),
        "ack": both(
            lambda w: line_chart(
                ack_series,
                long,
                translate(lang, "chart_ack"),
                width=w,
                y_max=100,
                no_data=no_data,
                tick_labels=short,
                fmt=fmt.number,
            )
        ),
        "completeness": both(
            lambda w: line_chart(
                done_series,
                long,
                translate(lang, "chart_completeness"),
                width=w,
                y_max=100,
                no_data=no_data,
                tick_labels=short,
                fmt=fmt.number,
            )
        ),
    }
    threshold = ind.threshold
    alerts = alert_lines(
        user_alerts(ctx, user, frozenset(r.id for r in data.regions)), fmt, threshold
    )
    head = data.headline
    figures = [(f, fmt.cell(f.current, f.kind, threshold)) for f in head.figures] if head else []
    tables = {
        "weekly": html_table(ind.weekly, fmt, "week", threshold),
        "blocked": html_table(ind.blocked, fmt, "week", threshold),
        "regions": html_table(ind.regions, fmt, "region", threshold),
    }
    if data.completeness is not None:
        tables["completeness"] = html_table(data.completeness, fmt, "week", threshold)
    if data.country_table is not None:
        tables["countries"] = html_table(data.country_table, fmt, "country", threshold)
    return render(
        request,
        "dashboard.html",
        {
            "data": data,
            "ind": ind,
            "charts": charts,
            "tables": tables,
            "figures": figures,
            "kiosks_reporting": fmt.cell(
                head.kiosks_reporting if head else None, "kiosks", threshold
            ),
            "kiosks_enrolled": fmt.cell(
                head.kiosks_enrolled if head else None, "kiosks", threshold
            ),
            "query": data.filters.query(),
            "alerts": alerts,
            "timely_days": ctx.settings.report_timely_days,
        },
        user=user,
    )


@router.get(
    "/export.csv",
    summary="The dashboard's cells as CSV (long format: table,row,column,value)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, 400: {}, 401: {}, 404: {}},
)
def export_csv(
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    region: list[str] = _REGION_Q,
    country: str | None = _COUNTRY_Q,
    date_from: str | None = _FROM_Q,
    date_to: str | None = _TO_Q,
) -> Response:
    data = load_view(ctx, user, region, country, date_from, date_to, True)
    name = f"indicators_{data.filters.date_from}_{data.filters.date_to}.csv"
    return Response(
        to_csv(data),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/api/v1/indicators",
    summary="The dashboard's indicators as JSON (same parameters as the page)",
    responses={400: {}, 401: {}, 404: {}},
)
def indicators_json(
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    region: list[str] = _REGION_Q,
    country: str | None = _COUNTRY_Q,
    date_from: str | None = _FROM_Q,
    date_to: str | None = _TO_Q,
) -> JSONResponse:
    data = load_view(ctx, user, region, country, date_from, date_to, True)
    out = to_json(data)
    threshold = ctx.settings.suppression_threshold
    # The alerts of the followed regions among those chosen (the dashboard's list).
    out["alerts"] = [
        {
            "kind": a.kind,
            "region": a.region,
            "week": a.week or None,
            "value": f"<{threshold}" if a.value is None and a.kind != "silent" else a.value,
            "usual": a.usual,
            "silent_total": a.total if a.kind == "silent" else None,
            "kiosks": list(a.kiosks),
        }
        for a in user_alerts(ctx, user, frozenset(r.id for r in data.regions))
    ]
    return JSONResponse(out)
