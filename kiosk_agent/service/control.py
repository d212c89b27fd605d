"""The service's control API: loopback HTTP + JSON for the tray, the notice UI and the CLI.

Endpoints (docs/contracts.md): ``GET /v1/status``, ``GET /v1/events`` (long poll),
``POST /v1/events`` (the UI's own events), ``POST /v1/session-start``, and the operator's
``POST /v1/operator/update-now``, ``POST /v1/operator/pause``, ``GET /v1/operator/today``.

Every request needs ``Authorization: Bearer <token>``; the token is a random string the
service writes to ``state_dir/control.token`` at each start. Local users and the UI can
read that file; a web page cannot, so a page in the browser cannot call this API even
though it is on loopback. Operator actions also need the operator PIN (scrypt hash in
the config); wrong PINs are rate limited. Standard library only (asyncio), so the
service does not carry a web framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kiosk_agent.atomic import write_text_atomic
from kiosk_agent.reporting.counters import counter_name
from kiosk_agent.reporting.events import (
    Event,
    NoticeAcknowledged,
    NoticeFeedback,
    NoticeShown,
    SessionStarted,
    event_from_dict,
)
from kiosk_agent.service.context import ServiceContext

log = logging.getLogger(__name__)

TOKEN_FILE = "control.token"
MAX_HEADER = 16 * 1024
MAX_BODY = 64 * 1024
MAX_WAIT = 60.0
EVENT_BACKLOG = 1000
UI_EVENTS: tuple[type[Event], ...] = (
    NoticeShown,
    NoticeAcknowledged,
    NoticeFeedback,
    SessionStarted,
)
SESSION_TRIGGERS = ("login", "idle_reset", "billing_hook", "agent_start")
PIN_FAILURES_BEFORE_LOCK = 5
PIN_LOCK_SECONDS = 300.0


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


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError:
            raise HttpError(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise HttpError(400, "the body must be a JSON object")
        return data


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class PinGuard:
    """Checks operator PINs against the scrypt hash, locking out after repeated failures."""

    stored: str | None
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    locked_until: float = 0.0
    _verify: Callable[[str, str | None], bool] | None = field(default=None, repr=False)

    async def check(self, pin: object) -> None:
        """Raise ``HttpError`` unless ``pin`` is right; scrypt runs off the event loop so
        DNS answers never wait for it."""
        if self.stored is None:
            raise HttpError(403, "no operator PIN is set on this kiosk; run the install wizard")
        now = self.clock()
        if now < self.locked_until:
            raise HttpError(429, "too many wrong PINs; try again in a few minutes")
        verify = self._verify
        if verify is None:
            verify = _verify_pin
        if not isinstance(pin, str) or not await asyncio.to_thread(verify, pin, self.stored):
            self.failures += 1
            if self.failures >= PIN_FAILURES_BEFORE_LOCK:
                self.locked_until = now + PIN_LOCK_SECONDS
                self.failures = 0
            raise HttpError(403, "wrong operator PIN")
        self.failures = 0


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
        self.pins = PinGuard(ctx.config.operator.pin_scrypt, _verify=pin_verify)
        self.events: EventLog | None = None
        self.today = TodayCounts()
        self._server: asyncio.Server | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._unsubscribe_today: Callable[[], None] | None = None
        self.address: tuple[str, int] | None = None

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
        # Readable by the desktop users (the UI runs as the customer); never by a web page.
        write_text_atomic(self.ctx.state_dir / TOKEN_FILE, self.token + "\n", mode=0o644)
        log.info("control API on http://%s:%d", *self.address)

    async def stop(self) -> None:
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
                    request = await _read_request(reader)
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
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
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
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.token.encode()
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
        items = await self.events.wait_after(after, wait)
        nxt = items[-1]["seq"] if items else max(after, 0)
        return {"next": nxt, "events": items}

    def _post_event(self, request: Request) -> dict[str, Any]:
        try:
            event = event_from_dict(request.json())
        except ValueError as e:
            raise HttpError(400, str(e)) from None
        if not isinstance(event, UI_EVENTS):
            raise HttpError(403, f"the UI may not report {event.event_type} events")
        if isinstance(event, NoticeFeedback) and counter_name(event) is None:
            raise HttpError(400, "feedback needs verdict helpful or not_helpful, tip t01-t39")
        self.ctx.bus.publish(event)
        return {"status": "published"}

    async def _operator(self, request: Request) -> tuple[int, dict[str, Any]]:
        body = request.json() if request.method == "POST" else {}
        pin = request.headers.get("x-operator-pin") or body.get("pin")
        action = request.path.removeprefix("/v1/operator/")
        if (request.method, action) not in (
            ("POST", "update-now"),
            ("POST", "pause"),
            ("GET", "today"),
        ):
            raise HttpError(404, f"no such operator action: {request.method} {action}")
        await self.pins.check(pin)
        components = self.ctx.components
        if action == "update-now":
            updater = components.get("updater")
            if updater is None or not hasattr(updater, "request_update"):
                raise HttpError(503, "no feed is configured, so there is nothing to update")
            updater.request_update()
            return 200, {"status": "update started"}
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


async def _read_request(reader: asyncio.StreamReader) -> Request:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpError(413, "request headers too large") from None
    if len(head) > MAX_HEADER:
        raise HttpError(413, "request headers too large")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "not an HTTP/1.x request")
    method, target, _ = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(400, "bad Content-Length") from None
    if length < 0 or length > MAX_BODY:
        raise HttpError(413, "request body too large")
    body = await reader.readexactly(length) if length else b""
    url = urllib.parse.urlsplit(target)
    query = dict(urllib.parse.parse_qsl(url.query))
    return Request(method.upper(), url.path, query, headers, body)


def create_control(ctx: ServiceContext) -> ControlServer:
    """The factory ``build_components`` uses: status covers every component in ``ctx``."""
    from kiosk_agent.service.status import service_status

    started = time.time()
    return ControlServer(ctx, lambda: service_status(ctx, started))
