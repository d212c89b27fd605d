"""The alert settings page (``/alerts``): per region what to be told about, the digest
language, and the alerts of the subscribed regions now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from regional_server.alerts import Alert, Subscription
from regional_server.api.errors import ApiError
from regional_server.auth.sessions import CurrentUser
from regional_server.context import ServerContext, get_ctx
from regional_server.dashboard.alert_text import describe
from regional_server.dashboard.formats import Formatter
from regional_server.dashboard.i18n import LANGUAGES
from regional_server.perturb import noise_table
from regional_server.store.alerts import (
    DEFAULT_SILENT_DAYS,
    MAX_SILENT_DAYS,
    collect_alerts,
    prefs,
    save_prefs,
    save_subscriptions,
    subscriptions,
)
from regional_server.store.regions import list_regions
from regional_server.web import check_csrf, language_of, render, require_user

router = APIRouter(include_in_schema=False)


def user_alerts(ctx: ServerContext, user: CurrentUser, region_ids: frozenset[int]) -> list[Alert]:
    """The alerts of ``user``'s subscriptions among ``region_ids``."""
    s = ctx.settings
    with ctx.engine.connect() as conn:
        return collect_alerts(
            conn,
            subscriptions(conn, user.id),
            region_ids & user.region_ids,
            ctx.now(),
            noise_table(s.noise_max, s.noise_variance),
            s.suppression_threshold,
        )


def alert_lines(alerts: list[Alert], fmt: Formatter, threshold: int) -> list[tuple[str, str]]:
    """(kind, sentence) per alert, for the page."""
    return [(a.kind, describe(a, fmt, threshold)) for a in alerts]


@router.get("/alerts")
def alerts_page(
    request: Request,
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    saved: int = 0,
) -> Response:
    lang = language_of(request)
    with ctx.engine.connect() as conn:
        regions = list_regions(conn, user.region_ids)
        subs = subscriptions(conn, user.id)
        p = prefs(conn, user.id, lang)
    alerts = user_alerts(ctx, user, user.region_ids)
    threshold = ctx.settings.suppression_threshold
    return render(
        request,
        "alerts.html",
        {
            "regions": regions,
            "subs": subs,
            "prefs": p,
            "default_days": DEFAULT_SILENT_DAYS,
            "max_days": MAX_SILENT_DAYS,
            "alerts": alert_lines(alerts, Formatter(lang), threshold),
            "saved": bool(saved),
            "smtp": bool(ctx.settings.smtp_host),
        },
        user=user,
    )


@router.post("/alerts")
def alerts_save(
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    region: Annotated[list[str] | None, Form(max_length=40)] = None,
    days: Annotated[list[int] | None, Form()] = None,
    subscribe: Annotated[list[str] | None, Form(max_length=40)] = None,
    jumps: Annotated[list[str] | None, Form(max_length=40)] = None,
    feeds: Annotated[list[str] | None, Form(max_length=40)] = None,
    language: Annotated[str, Form(max_length=8)] = "en",
    digest: Annotated[str, Form(max_length=8)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(user, csrf_token)
    codes, day_values = region or [], days or []
    if len(codes) != len(day_values) or len(codes) > 1000:
        raise ApiError(400, "bad_request", "each region needs its number of days")
    if any(not 1 <= d <= MAX_SILENT_DAYS for d in day_values):
        raise ApiError(400, "bad_request", f"days must be from 1 to {MAX_SILENT_DAYS}")
    if language not in LANGUAGES:
        raise ApiError(400, "bad_request", "unknown language")
    chosen, jump_set, feed_set = set(subscribe or []), set(jumps or []), set(feeds or [])
    with ctx.engine.begin() as conn:
        by_code = {r.code: r.id for r in list_regions(conn, user.region_ids)}
        subs = [
            Subscription(by_code[code], d, code in jump_set, code in feed_set)
            for code, d in zip(codes, day_values, strict=True)
            if code in chosen and code in by_code
        ]
        save_subscriptions(conn, user.id, user.region_ids, subs)
        save_prefs(conn, user.id, language, bool(digest))
    return RedirectResponse("/alerts?saved=1", status_code=303)
