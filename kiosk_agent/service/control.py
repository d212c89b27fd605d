"""The service's control API: loopback HTTP + JSON for the tray, the notice UI and the CLI.

Endpoints (docs/contracts.md): ``GET /v1/status``, ``GET /v1/events`` (long poll),
``POST /v1/events`` (the UI's own events), ``POST /v1/session-start``, and the operator's
``POST /v1/operator/update-now``, ``POST /v1/operator/postpone-update`` (program updates
held for a day), ``POST /v1/operator/pause``, ``GET /v1/operator/today``.

Every request needs ``Authorization: Bearer <token>``; the token is a random string the
service writes to ``state_dir/control.token`` at each start, readable by the service and
the UI's users only (``control_token.py``; on Windows one token per desktop session,
``platform/windows_token.py``); a web page cannot read it, so a page in the browser
cannot call this API even though it is on loopback. The UI's events are rate limited
(a few session starts a minute), so a customer who reads the token cannot inflate the
counts. Operator actions also need the operator PIN (scrypt hash in the config), with a
lockout (``pin_lock.py``). Standard library only (asyncio), so the service does not
carry a web framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kiosk_agent.net.http_server import REASONS, HttpError, Request, read_request
from kiosk_agent.reporting.counters import counter_name
from kiosk_agent.reporting.events import (
    Event,
    NoticeAcknowledged,
    NoticeDegraded,
    NoticeFeedback,
    NoticeShown,
    OperatorAction,
    SessionStarted,
    TamperDetected,
    UiCrashed,
    event_from_dict,
)
from kiosk_agent.service.context import ServiceContext
from kiosk_agent.service.control_token import TOKEN_FILE, write_token
from kiosk_agent.service.pin_lock import LockFile, LockState, after_expiry, after_failure, is_locked

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_WAIT = 60.0
EVENT_BACKLOG = 1000
UI_SILENT = 90.0
"""The notices program reconnects its events long poll at once (it asks for 25 s); past
this long with none open it is taken as not running (the café hub's console says so)."""
UI_EVENTS: tuple[type[Event], ...] = (
    NoticeShown,
    NoticeAcknowledged,
    NoticeDegraded,
    UiCrashed,
    NoticeFeedback,
    SessionStarted,
)
SESSION_TRIGGERS = ("login", "idle_reset", "billing_hook", "agent_start")
# Per minute, with a burst of the same size: a real session starts at most every few
# minutes (notices.min_gap), and the UI keeps a refused (429) event and retries it.
UI_EVENT_RATES: dict[str, int] = {
    SessionStarted.event_type: 4,
    NoticeShown.event_type: 8,
    NoticeAcknowledged.event_type: 8,
    "session_signal": 4,
    NoticeFeedback.event_type: 8,
    NoticeDegraded.event_type: 4,
    UiCrashed.event_type: 4,
}
DEMO_RATE_SCALE = 10
WINDOWS_SESSIONS_EVERY = 5.0


class EventLog:
    """The recent events with sequence numbers, for the UI's long poll.

    ``append`` may be called from any thread (the bus publishes in the publisher's
    thread) and is cheap: it stores the event object as it is (the resolver may publish
    thousands a second) and wakes the loop only when a long poll is waiting. Items are
    turned into JSON-ready dicts when a poll reads them.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, backlog: int = EVENT_BACKLOG) -> None:
        self._loop = loop
        self._items: deque[tuple[int, Event | dict[str, Any]]] = deque(maxlen=backlog)
        self._seq = 0
        self._lock = threading.Lock()
        self._changed = asyncio.Event()
        self._waiters = 0

    @property
    def last_seq(self) -> int:
        return self._seq

    def append(self, item: Event | dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            self._items.append((self._seq, item))
        if not self._waiters:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake()
        else:
            with contextlib.suppress(RuntimeError):  # loop closed at shutdown
                self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def after(self, seq: int) -> list[dict[str, Any]]:
        with self._lock:
            items = [(n, item) for n, item in self._items if n > seq]
        return [
            {"seq": n, **(item.to_dict() if isinstance(item, Event) else item)} for n, item in items
        ]

    async def wait_after(self, seq: int, wait: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + wait
        self._waiters += 1
        try:
            while True:
                changed = self._changed  # taken before reading: a wake-up is never missed
                items = self.after(seq)
                remaining = deadline - time.monotonic()
                if items or remaining <= 0:
                    return items
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await changed.wait()
        finally:
            self._waiters -= 1


class TodayCounts:
    """Today's counts for the operator (sessions, notices, blocked, tamper, ...), in memory.

    Counted from the bus since the service started, per local calendar day (the café's
    day), under the report's counter names; a restart starts again from zero, which the
    answer says (``since``).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.since = clock()
        self._day = self._today()
        self._recheck_at = clock() + 60  # the day is looked at again at most once a minute
        self._counts: dict[str, int] = {}
        self._names: dict[Event, str | None] = {}
        self._lock = threading.Lock()

    def _today(self) -> str:
        return time.strftime("%Y-%m-%d", time.localtime(self._clock()))

    def __call__(self, event: Event) -> None:
        # On the resolver's hot path: events are frozen and few distinct, so each one's
        # counter name (blocked.csam, sessions.login, ...) is worked out once.
        try:
            name = self._names[event]
        except KeyError:
            from kiosk_agent.reporting.counters import counter_name

            name = counter_name(event)
            if len(self._names) < 1024:
                self._names[event] = name
        if name is None:
            return
        with self._lock:
            now = self._clock()
            if now >= self._recheck_at:
                self._recheck_at = now + 60
                today = self._today()
                if today != self._day:
                    self._day, self._counts, self.since = today, {}, now
            self._counts[name] = self._counts.get(name, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            if self._today() != self._day:
                return {"day": self._today(), "since": self._clock(), "counts": {}}
            return {"day": self._day, "since": self.since, "counts": dict(self._counts)}


class RateLimit:
    """A token bucket: ``per_minute`` actions a minute, at most ``per_minute`` at once."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._tokens = self.capacity
        self._at = clock()

    def allow(self) -> bool:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class PinGuard:
    """Checks operator PINs against the scrypt hash with the lockout of ``pin_lock``.

    ``check`` takes the attempt (lock checked, attempt reserved) before any ``await``, so
    concurrent requests cannot all slip past the lock, and verifies one PIN at a time.
    Every refused PIN (wrong or locked out) is published as ``tamper.pin_refused``.
    """

    def __init__(
        self,
        stored: str | None,
        state_dir: Path | None = None,
        *,
        publish: Callable[[Event], None] | None = None,
        clock: Callable[[], float] = time.time,
        verify: Callable[[str, str | None], bool] | None = None,
    ) -> None:
        self.stored = stored
        self._file = None if state_dir is None else LockFile(state_dir)
        self._publish = publish
        self._clock = clock
        self._verify = verify or _verify_pin
        self._state = LockState() if self._file is None else self._file.load()
        self._pending = 0
        self._one_at_a_time = asyncio.Lock()

    @property
    def state(self) -> LockState:
        return self._state

    def _refused(self) -> None:
        if self._publish is not None:
            self._publish(TamperDetected("pin_refused"))

    def _take(self) -> None:
        """Check the lock and reserve an attempt, in one step (no ``await``)."""
        if self._file is not None and self._file.changed_elsewhere():
            before = self._state
            self._state = self._file.load()  # cleared by `kiosk-agent operator unlock`
            if self._state == LockState() and before != self._state and self._publish:
                self._publish(OperatorAction("unlock"))
        now = self._clock()
        self._state = after_expiry(self._state, now)
        if is_locked(self._state, now, self._pending):
            self._refused()
            raise HttpError(429, "too many wrong PINs; try again later")
        self._pending += 1
        # Saved as a failure before verifying: killing the service mid-check costs a try.
        self._save(
            LockState(
                self._state.failures + self._pending, self._state.locks, self._state.locked_until
            )
        )

    def _save(self, state: LockState) -> None:
        if self._file is not None:
            try:
                self._file.save(state)
            except OSError as e:
                log.warning("cannot save the PIN lockout state: %s", e)

    async def check(self, pin: object) -> None:
        """Raise ``HttpError`` unless ``pin`` is right; scrypt runs off the event loop so
        DNS answers never wait for it."""
        if self.stored is None:
            raise HttpError(403, "no operator PIN is set on this kiosk; run the install wizard")
        self._take()
        try:
            async with self._one_at_a_time:
                right = isinstance(pin, str) and await asyncio.to_thread(
                    self._verify, pin, self.stored
                )
        finally:
            self._pending -= 1
        if right:
            self._state = LockState()
        else:
            self._state = after_failure(self._state, self._clock())
        self._save(
            LockState(
                self._state.failures + self._pending, self._state.locks, self._state.locked_until
            )
        )
        if not right:
            self._refused()
            raise HttpError(403, "wrong operator PIN")


class ControlServer:
    """The control API component (started last, so the UI never sees a half-started service)."""

    name = "control"

    def __init__(
        self,
        ctx: ServiceContext,
        status: Callable[[], dict[str, Any]],
        *,
        pin_verify: Callable[[str, str | None], bool] | None = None,
    ) -> None:
        self.ctx = ctx
        self.status_fn = status
        self.token = ""
        self.pins = PinGuard(
            ctx.config.operator.pin_scrypt,
            ctx.state_dir,
            publish=ctx.bus.publish,
            verify=pin_verify,
        )
        self.events: EventLog | None = None
        self.today = TodayCounts()
        # A demo config (never trusted in production: config.DEMO_FEED_KEYS) runs its
        # scripted customers in seconds.
        scale = DEMO_RATE_SCALE if ctx.config.demo else 1
        self.limits = {kind: RateLimit(n * scale) for kind, n in UI_EVENT_RATES.items()}
        self.session_tokens: Any = None  # Windows: platform.windows_token.SessionTokens
        self._sessions_task: asyncio.Task[None] | None = None
        self._server: asyncio.Server | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._unsubscribe_today: Callable[[], None] | None = None
        self.address: tuple[str, int] | None = None
        self.started = time.monotonic()
        self._ui_polls = 0
        self._ui_last: float | None = None

    def ui_running(self, now: float | None = None) -> bool | None:
        """Whether the notices program (``kiosk-agent ui``) is running: it keeps a long
        poll of ``GET /v1/events`` open all the time, so one is open now or ended less
        than ``UI_SILENT`` s ago. None (not known yet) in the service's first
        ``UI_SILENT`` s, while a UI started with the session may still be connecting."""
        now = time.monotonic() if now is None else now
        if self._ui_polls > 0 or (self._ui_last is not None and now - self._ui_last < UI_SILENT):
            return True
        if now - self.started < UI_SILENT:
            return None
        return False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.events = EventLog(loop)
        events = self.events
        self._unsubscribe = self.ctx.bus.subscribe(events.append)
        self._unsubscribe_today = self.ctx.bus.subscribe(self.today)
        listen = self.ctx.config.control.listen
        self._server = await asyncio.start_server(self._serve, listen.host, listen.port)
        sock = self._server.sockets[0].getsockname()
        self.address = (sock[0], sock[1])
        self.token = secrets.token_urlsafe(32)
        # Readable by the UI's users only (control_token.py); never by a web page.
        write_token(self.ctx.state_dir, self.token)
        if sys.platform == "win32":  # pragma: no cover - Windows only
            self._sessions_task = asyncio.create_task(self._windows_sessions())
        log.info("control API on http://%s:%d", *self.address)

    async def _windows_sessions(self) -> None:  # pragma: no cover - Windows only
        """Keep one token per desktop session, readable by that session's user only."""
        from kiosk_agent.platform.base import run_command
        from kiosk_agent.platform.windows_token import SessionTokens, active_session_users

        def protect(argv: Sequence[str]) -> bool:
            return run_command(argv).returncode == 0

        def remove(path: Path) -> None:
            path.unlink(missing_ok=True)

        def write(path: Path, text: str) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "r+" if path.exists() else "w", encoding="utf-8") as f:
                f.truncate(0)  # in place: a rename would replace the file's own rights
                f.write(text)

        tokens = SessionTokens(self.ctx.state_dir, write, protect, remove, {})
        self.session_tokens = tokens
        while True:
            try:
                sessions = await asyncio.to_thread(active_session_users)
                await asyncio.to_thread(tokens.refresh, sessions)
            except OSError as e:
                log.warning("cannot hand the control token to the desktop sessions: %s", e)
            await asyncio.sleep(WINDOWS_SESSIONS_EVERY)

    async def stop(self) -> None:
        if self._sessions_task is not None:
            self._sessions_task.cancel()
        for unsubscribe in (self._unsubscribe, self._unsubscribe_today):
            if unsubscribe is not None:
                unsubscribe()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def status(self) -> dict[str, object]:
        return {
            "listening": None if self.address is None else f"{self.address[0]}:{self.address[1]}",
            "events": self.events.last_seq if self.events else 0,
        }

    def signal_session(self, trigger: str) -> None:
        """Tell the UI a customer session starts (it shows the notice)."""
        if self.events is not None:
            self.events.append({"type": "session_signal", "trigger": trigger})

    # -- HTTP --------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(10):
                    request = await read_request(reader, MAX_BODY)
                status, body = await self._dispatch(request)
            except HttpError as e:
                status, body = e.status, {"error": e.message}
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                return
            except asyncio.CancelledError:
                # Shutdown cancels open long polls. End the connection quietly: asyncio
                # (3.11) logs a cancelled connection task as an error with a traceback.
                return
            except Exception:
                log.exception("control API request failed")
                status, body = 500, {"error": "internal error; see the service log"}
            payload = json.dumps(body).encode()
            head = (
                f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n"
                "Cache-Control: no-store\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + payload)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _authorize(self, request: Request) -> None:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not (
            hmac.compare_digest(token.encode(), self.token.encode())
            or (self.session_tokens is not None and self.session_tokens.accepts(token))
        ):
            raise HttpError(401, f"missing or wrong token (see {TOKEN_FILE} in the state folder)")

    async def _dispatch(self, request: Request) -> tuple[int, dict[str, Any]]:
        self._authorize(request)
        route = (request.method, request.path)
        if route == ("GET", "/v1/status"):
            return 200, self.status_fn()
        if route == ("GET", "/v1/events"):
            return 200, await self._get_events(request)
        if route == ("POST", "/v1/events"):
            return 200, self._post_event(request)
        if route == ("POST", "/v1/session-start"):
            trigger = request.json().get("trigger", "billing_hook")
            if trigger not in SESSION_TRIGGERS:
                raise HttpError(400, f"trigger must be one of {', '.join(SESSION_TRIGGERS)}")
            self._rate_limit("session_signal")
            self.signal_session(trigger)
            return 200, {"status": "signalled", "trigger": trigger}
        if request.path.startswith("/v1/operator/"):
            return await self._operator(request)
        if request.path in ("/v1/status", "/v1/events", "/v1/session-start"):
            raise HttpError(405, f"{request.method} is not allowed on {request.path}")
        raise HttpError(404, f"no such endpoint: {request.path}")

    async def _get_events(self, request: Request) -> dict[str, Any]:
        assert self.events is not None
        try:
            after = int(request.query.get("after", "0"))
            wait = min(max(float(request.query.get("wait", "0")), 0.0), MAX_WAIT)
        except ValueError:
            raise HttpError(400, "after must be an integer and wait a number of seconds") from None
        if after > self.events.last_seq:
            after = 0  # the service restarted: start again from what it has
        self._ui_polls += 1
        try:
            items = await self.events.wait_after(after, wait)
        finally:
            self._ui_polls -= 1
            self._ui_last = time.monotonic()
        nxt = items[-1]["seq"] if items else max(after, 0)
        return {"next": nxt, "events": items}

    def _post_event(self, request: Request) -> dict[str, Any]:
        try:
            event = event_from_dict(request.json())
        except ValueError as e:
            raise HttpError(400, str(e)) from None
        if not isinstance(event, UI_EVENTS):
            raise HttpError(403, f"the UI may not report {event.event_type} events")
        self._rate_limit(event.event_type)
        if isinstance(event, NoticeFeedback) and counter_name(event) is None:
            raise HttpError(400, "feedback needs verdict helpful or not_helpful, tip t01-t39")
        self.ctx.bus.publish(event)
        return {"status": "published"}

    def _rate_limit(self, kind: str) -> None:
        limit = self.limits.get(kind)
        if limit is not None and not limit.allow():
            raise HttpError(429, f"too many {kind} events; the UI retries later")

    async def _operator(self, request: Request) -> tuple[int, dict[str, Any]]:
        body = request.json() if request.method == "POST" else {}
        pin = request.headers.get("x-operator-pin") or body.get("pin")
        action = request.path.removeprefix("/v1/operator/")
        if (request.method, action) not in (
            ("POST", "update-now"),
            ("POST", "postpone-update"),
            ("POST", "pause"),
            ("GET", "today"),
        ):
            raise HttpError(404, f"no such operator action: {request.method} {action}")
        await self.pins.check(pin)
        self.ctx.bus.publish(OperatorAction(action.replace("-", "_")))
        components = self.ctx.components
        if action == "update-now":
            updater = components.get("updater")
            if updater is None or not hasattr(updater, "request_update"):
                raise HttpError(503, "no feed is configured, so there is nothing to update")
            updater.request_update()
            updates = components.get("updates")  # content packs, overlays, keys (docs/fleet.md)
            if updates is not None and hasattr(updates, "request_update"):
                updates.request_update()
            return 200, {"status": "update started"}
        if action == "postpone-update":
            from kiosk_agent.updates import release_state

            until = await asyncio.to_thread(release_state.postpone, self.ctx.state_dir, time.time())
            return 200, {"status": "postponed", "until": until}
        if action == "pause":
            resolver = components.get("resolver")
            if resolver is None or not hasattr(resolver, "pause"):
                raise HttpError(503, "the resolver is not running")
            minutes = body.get("minutes", 15)
            if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0:
                raise HttpError(400, "minutes must be a positive number")
            until = resolver.pause(minutes)
            return 200, {"status": "paused", "until": until}
        reporting = components.get("reporting")
        counts = getattr(reporting, "today_counts", None)
        if callable(counts):  # the reporting component's own figures, when it offers them
            return 200, {"counts": counts()}
        return 200, self.today.snapshot()


def _verify_pin(pin: str, stored: str | None) -> bool:
    from kiosk_agent.service.pin import verify_pin  # hashlib.scrypt: imported when first needed

    return verify_pin(pin, stored)


def create_control(ctx: ServiceContext) -> ControlServer:
    """The factory ``build_components`` uses: status covers every component in ``ctx``."""
    from kiosk_agent.service.status import service_status

    started = time.time()
    return ControlServer(ctx, lambda: service_status(ctx, started))
