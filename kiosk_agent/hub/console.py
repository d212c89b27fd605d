"""The operator's console: every PC of the café on one page, served by the hub.

``rows`` is the pure part: each PC's heartbeat turned into what the operator needs
(protected or not and why, list versions and their age, paused, last seen, UI running,
notices today, warnings in plain words). A PC not heard from for ``STALE_AFTER`` is
"not protected": its service stopped, it is off, or it cannot reach the hub.

Access: on loopback the page is open (the counter PC is the operator's). With
``cafe.hub_console: lan`` other PCs get a PIN form; a right PIN gives a session cookie
(``HttpOnly``, ``SameSite=Strict``); every POST carries a CSRF token bound to the
session; wrong PINs lock the form for a while. Texts come from ``hub/console_locales``
through the notices' locale machinery (``parse_locale``, ``choose_locale``).
"""

from __future__ import annotations

import asyncio
import hmac
import html
import secrets
import urllib.parse
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from kiosk_agent.config import Config
from kiosk_agent.content.locales import Locale, choose_locale, parse_locale
from kiosk_agent.hub import http
from kiosk_agent.hub.registry import STALE_AFTER, Registry

LOCALES = Path(__file__).resolve().parent / "console_locales"
SESSION_SECONDS = 8 * 3600.0
PIN_FAILURES_BEFORE_LOCK = 5
PIN_LOCK_SECONDS = 300.0
LIST_OLD_AFTER = 2 * 86400.0


@cache
def console_locale(code: str) -> Locale:
    available = [p.stem for p in LOCALES.glob("*.yaml")]
    chosen = choose_locale([code], available)
    return parse_locale(chosen, (LOCALES / f"{chosen}.yaml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Row:
    """One PC as the console shows it (texts already in the operator's language)."""

    name: str
    protected: bool
    why: str
    lists: str
    paused: str
    last_seen: str
    ui: str
    notices: int
    warnings: tuple[str, ...]


def _ago(loc: Locale, seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 90:
        return loc.text("console.seconds_ago", n=s)
    if s < 5400:
        return loc.text("console.minutes_ago", n=s // 60)
    if s < 2 * 86400:
        return loc.text("console.hours_ago", n=s // 3600)
    return loc.text("console.days_ago", n=s // 86400)


def rows(registry: Registry, now: float, loc: Locale) -> list[Row]:
    """The console's table, PCs sorted with the unprotected first."""
    out = []
    for entry in registry.pcs.values():
        b = entry.beat
        silent = now - entry.last_seen > STALE_AFTER
        protected = b.protected and not silent
        warnings: list[str] = []
        if silent:
            why = loc.text("console.silent", ago=_ago(loc, now - entry.last_seen))
        elif not b.protected:
            why = "; ".join(b.problems) or loc.text("console.unknown_problem")
        else:
            why = loc.text("console.all_good")
        parts = []
        for item in b.lists:
            age = "" if item.updated_at is None else _ago(loc, now - item.updated_at)
            parts.append(f"{item.list_id} v{item.version}" + (f" ({age})" if age else ""))
            if item.updated_at is not None and now - item.updated_at > LIST_OLD_AFTER:
                warnings.append(loc.text("console.list_old", list=item.list_id))
        if not b.lists:
            warnings.append(loc.text("console.no_list"))
        paused = ""
        if b.paused_until is not None and b.paused_until > now:
            paused = loc.text("console.paused_for", n=int((b.paused_until - now) // 60) + 1)
        if b.ui_running is False:
            warnings.append(loc.text("console.ui_stopped"))
        ui = {
            True: loc.text("console.answer_yes"),
            False: loc.text("console.answer_no"),
            None: "?",
        }[b.ui_running]
        out.append(
            Row(
                name=b.name,
                protected=protected,
                why=why,
                lists=", ".join(parts) or "-",
                paused=paused or "-",
                last_seen=_ago(loc, now - entry.last_seen),
                ui=ui,
                notices=b.notices_today,
                warnings=tuple(warnings),
            )
        )
    out.sort(key=lambda r: (r.protected, r.name))
    return out


_CSS = """
body{font-family:sans-serif;margin:0;padding:8px;background:#f6f6f6;color:#111}
h1{font-size:1.3em;margin:4px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #ccc;padding:4px 6px;text-align:start;vertical-align:top;font-size:14px}
.no{background:#fdd}.yes{background:#dfd}
.warn{color:#a40}
@media (max-width:700px){
 table,thead,tbody,tr,td{display:block}thead{display:none}
 tr{margin:0 0 10px;border:1px solid #999}
 td{border:none;border-bottom:1px solid #eee}
 td::before{content:attr(data-label) ": ";font-weight:bold}
}
"""


def render_page(rows_: list[Row], loc: Locale, now: float) -> str:
    """The console page (refreshes itself every 10 s; no script needed)."""
    t = loc.text
    e = html.escape
    head = [
        t("console.pc"),
        t("console.protected"),
        t("console.why"),
        t("console.lists"),
        t("console.paused"),
        t("console.last_seen"),
        t("console.ui"),
        t("console.notices_today"),
        t("console.warnings"),
    ]
    lines = [
        "<!doctype html>",
        f'<html lang="{e(loc.code)}" dir="{e(loc.direction)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta http-equiv="refresh" content="10">',
        f"<title>{e(t('console.title'))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(t('console.title'))}</h1>",
        "<p>"
        + e(t("console.summary", protected=sum(r.protected for r in rows_), total=len(rows_)))
        + "</p>",
        "<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead><tbody>",
    ]
    for r in rows_:
        state = t("console.protected_yes") if r.protected else t("console.protected_no")
        cells = [
            e(r.name),
            f"<b>{e(state)}</b>",
            e(r.why),
            e(r.lists),
            e(r.paused),
            e(r.last_seen),
            e(r.ui),
            str(r.notices),
            "<br>".join(f'<span class="warn">{e(w)}</span>' for w in r.warnings) or "-",
        ]
        cls = "yes" if r.protected else "no"
        lines.append(
            f'<tr class="{cls}" data-pc="{e(r.name)}">'
            + "".join(f'<td data-label="{e(h)}">{c}</td>' for h, c in zip(head, cells, strict=True))
            + "</tr>"
        )
    if not rows_:
        lines.append(f'<tr><td colspan="9">{e(t("console.no_pcs"))}</td></tr>')
    lines.append("</tbody></table></body></html>")
    return "\n".join(lines)


def render_login(loc: Locale, csrf: str, message: str = "") -> str:
    e = html.escape
    t = loc.text
    return (
        f'<!doctype html><html lang="{e(loc.code)}" dir="{e(loc.direction)}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(t('console.title'))}</title><style>{_CSS}</style></head><body>"
        f"<h1>{e(t('console.title'))}</h1>"
        + (f'<p class="warn">{e(message)}</p>' if message else "")
        + '<form method="post" action="/console/login">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        f'<label>{e(t("console.pin"))} <input type="password" name="pin" inputmode="numeric" '
        'autocomplete="off" required></label> '
        f'<button type="submit">{e(t("console.open"))}</button></form></body></html>'
    )


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out[name] = value
    return out


class Console:
    """Routes under ``/console`` (access by address is decided by the server)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.loc = console_locale(config.cafe.languages[0])
        self.sessions: dict[str, float] = {}
        self.login_tokens: dict[str, float] = {}
        self.failures = 0
        self.locked_until = 0.0

    def _page(self, status: int, text: str, **headers: str) -> http.Response:
        base = {
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": (
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
            ),
            "Referrer-Policy": "no-referrer",
        }
        return http.Response(
            status, text.encode("utf-8"), "text/html; charset=utf-8", {**base, **headers}
        )

    def _session_ok(self, request: http.Request, now: float) -> bool:
        sid = _cookies(request.headers.get("cookie", "")).get("hubsession", "")
        expires = self.sessions.get(sid)
        return bool(sid) and expires is not None and expires > now

    async def handle(self, request: http.Request, registry: Registry, now: float) -> http.Response:
        from kiosk_agent.hub.http import is_loopback

        open_here = is_loopback(request.peer)
        if request.path == "/console/login" and request.method == "POST":
            return await self._login(request, now)
        if request.path != "/console" or request.method != "GET":
            raise http.HttpError(404, "no such page")
        if not open_here and not self._session_ok(request, now):
            token = secrets.token_urlsafe(24)
            self.login_tokens = {k: v for k, v in self.login_tokens.items() if v > now}
            self.login_tokens[token] = now + 600
            return self._page(
                200,
                render_login(self.loc, token),
                **{"Set-Cookie": f"hublogin={token}; HttpOnly; SameSite=Strict; Path=/console"},
            )
        return self._page(200, render_page(rows(registry, now, self.loc), self.loc, now))

    async def _login(self, request: http.Request, now: float) -> http.Response:
        form = dict(urllib.parse.parse_qsl(request.body.decode("utf-8", "replace")))
        cookie = _cookies(request.headers.get("cookie", "")).get("hublogin", "")
        token = form.get("csrf", "")
        # Double submit: the form's token must be the one this browser's cookie holds,
        # and one the hub gave out: a page elsewhere can post the form but not read it.
        if (
            not token
            or not hmac.compare_digest(token, cookie)
            or self.login_tokens.get(token, 0) <= now
        ):
            raise http.HttpError(403, "the form has expired; open the console again")
        if now < self.locked_until:
            raise http.HttpError(429, self.loc.text("console.locked"))
        stored = self.config.operator.pin_scrypt
        from kiosk_agent.service.pin import verify_pin

        pin = form.get("pin", "")
        ok = stored is not None and await asyncio.to_thread(verify_pin, pin, stored)
        if not ok:
            self.failures += 1
            if self.failures >= PIN_FAILURES_BEFORE_LOCK:
                self.failures = 0
                self.locked_until = now + PIN_LOCK_SECONDS
            return self._page(
                403, render_login(self.loc, token, self.loc.text("console.wrong_pin"))
            )
        self.failures = 0
        del self.login_tokens[token]
        sid = secrets.token_urlsafe(32)
        self.sessions = {k: v for k, v in self.sessions.items() if v > now}
        self.sessions[sid] = now + SESSION_SECONDS
        return self._page(
            303,
            "",
            Location="/console",
            **{"Set-Cookie": f"hubsession={sid}; HttpOnly; SameSite=Strict; Path=/console"},
        )
