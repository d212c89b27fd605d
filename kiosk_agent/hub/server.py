"""The hub role (``cafe.hub: this``): the LAN server, the relay rounds, the mDNS advert.

One asyncio server on ``cafe.hub_listen`` (docs/cafe-hub.md has the endpoints):

- ``GET /hub/v1/feeds/<key>/<file>``: the feed mirror (``mirror.Mirror``), with ETags;
- ``POST /hub/v1/reports``: a kiosk's signed report, held durably (``relay.HubOutbox``);
- ``POST /hub/v1/answers``: the regional server's answers for a kiosk's reports;
- ``POST /hub/v1/heartbeat``: a kiosk's status and NIC counters; the answer carries the
  café's link reading (``link.CafeLink``), which kiosks use for their own gates;
- ``/console``: the operator's console (``console``), loopback only unless
  ``cafe.hub_console: lan``.

Relay rounds (``relay.forward`` in a ``hub-relay`` worker) start when ``roles.relay_due``
says so and the café's link has room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kiosk_agent.config import Config
from kiosk_agent.contracts import manifest
from kiosk_agent.contracts.report import SIGNATURE_WINDOW_SECONDS
from kiosk_agent.hub import console, gates, http, ranges, relay, roles
from kiosk_agent.hub.http import is_loopback
from kiosk_agent.hub.link import CafeLink
from kiosk_agent.hub.mirror import (
    DIR_KINDS,
    Mirror,
    Served,
    fresh_for,
    mirror_fetch,
    mirrored_dirs,
)
from kiosk_agent.hub.registry import HeartbeatError, Registry, parse_heartbeat
from kiosk_agent.reporting.uploader import decide
from kiosk_agent.service.context import ServiceContext

log = logging.getLogger(__name__)

RELAY_CHECK_EVERY = 5.0
RELAY_TIMEOUT = 900.0
FETCH_TIMEOUT = 3600.0
RELEASE_ROUND_EVERY = 60.0
"""Seconds between the hub's release rounds (``Mirror.release_round``) when no kiosk's
request wakes one: a round waiting for the link checks the gate again this often."""
BUDGET_META = "budget"
"""The hub's relay bytes charged today (``{"day", "bytes"}``, in its outbox)."""
MAX_REQUESTS_PER_MINUTE = 600
"""Per LAN address: 40 PCs beat every 5 s (12/min each); far above, something is wrong."""


class HubComponent:
    """The hub's server and relay loop, in the hub PC's own service."""

    name = "hub"

    def __init__(self, ctx: ServiceContext, *, gather: float | None = None) -> None:
        self.ctx = ctx
        self.config = ctx.config
        # A quarter of the kiosks' upload interval, at most GATHER_SECONDS: kiosks that cut
        # at the same period end hand their reports within that time.
        self.gather = (
            min(roles.GATHER_SECONDS, ctx.config.reporting.upload_every / 4)
            if gather is None
            else gather
        )
        self.registry = Registry()
        self.link = CafeLink()
        self.outbox: relay.HubOutbox | None = None
        self.mirror: Mirror | None = None
        self.console = console.Console(ctx.config)
        self.address: tuple[str, int] | None = None
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._advert: Any = None
        self._hits: dict[str, list[float]] = {}
        self.last_relay: dict[str, Any] | None = None
        self.deferred: str | None = None
        """Why the last due relay round waited (link, off-peak window, budget), or None."""
        self.relay_rounds = 0
        from kiosk_agent.service.worker import config_file

        self.config_path: Path | None = config_file(ctx.config.source)

    # -- component ---------------------------------------------------------------------

    def reconfigure(self, config: Config) -> None:
        """A settings overlay's live keys (config_live.py): the café's upload window, budget
        and link share apply from the next relay decision; the gather time stays."""
        self.config = config

    async def start(self) -> None:
        self.outbox = await asyncio.to_thread(relay.HubOutbox.in_state_dir, self.ctx.state_dir)
        self.mirror = Mirror(
            mirrored_dirs(self.config),
            self.ctx.state_dir,
            self._fetch,
            {kind: fresh_for(self.config, kind) for kind in DIR_KINDS},
        )
        self.mirror.release_wake = asyncio.Event()
        listen = self.config.cafe.hub_listen
        self._server = await asyncio.start_server(self._serve, listen.host, listen.port)
        sock = self._server.sockets[0].getsockname()
        self.address = (sock[0], sock[1])
        log.info("café hub on http://%s:%d (console: %s)", *self.address, self.console_url())
        self._tasks.append(asyncio.create_task(self._relay_loop(), name="hub-relay"))
        self._tasks.append(asyncio.create_task(self._release_loop(), name="hub-releases"))
        if not is_loopback(listen.host):
            from kiosk_agent.hub import discovery

            try:
                self._advert = await asyncio.to_thread(discovery.advertise, self.address[1])
            except Exception as e:  # no multicast here: kiosks can still be given the address
                log.warning("hub: cannot advertise on the LAN by mDNS: %s", e)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._advert is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._advert.close)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        if self.outbox is not None:
            self.outbox.close()

    def console_url(self) -> str:
        if self.address is None:
            return ""
        host = self.address[0]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.address[1]}/console"

    def status(self) -> dict[str, Any]:
        now = time.time()
        return {
            "listening": None if self.address is None else f"{self.address[0]}:{self.address[1]}",
            "console": self.console_url(),
            "pcs": len(self.registry.pcs),
            "pcs_live": len(self.registry.live(now)),
            "reports": self.outbox.counts() if self.outbox else {},
            "relay_rounds": self.relay_rounds,
            "last_relay": self.last_relay,
            "relay_deferred": self.deferred,
            "mirror": self.mirror.status() if self.mirror else {},
            "feed_versions": {},
        }

    # -- workers -----------------------------------------------------------------------

    async def _fetch(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.config_path is None:
            return await asyncio.to_thread(mirror_fetch, self.config, params)
        from kiosk_agent.service.worker import run_worker

        return await run_worker("hub-fetch", self.config_path, params, timeout=FETCH_TIMEOUT)

    async def relay_round(self) -> dict[str, Any]:
        """Forward every held report now (one connection)."""
        assert self.outbox is not None
        self.relay_rounds += 1
        if self.config_path is None:
            from kiosk_agent.net.direct_http import session_for_config

            outbox = self.outbox

            def run() -> dict[str, Any]:
                session = session_for_config(self.config)
                try:
                    return relay.forward(
                        outbox, session, self.config.reporting.server or "", time.time()
                    )
                finally:
                    session.close()

            result = await asyncio.to_thread(run)
        else:
            from kiosk_agent.service.worker import run_worker

            result = await run_worker("hub-relay", self.config_path, {}, timeout=RELAY_TIMEOUT)
        self.last_relay = {"at": time.time(), **result}
        log.info("hub relay round: %s", result)
        return result

    def release_gate(self) -> tuple[bool, str]:
        """Whether the café's link has room for a release download now (``gates``)."""
        reading = self.link.monitor.reading()
        rp = self.config.reporting
        return gates.release_gate(
            utilization=None if reading is None else reading.utilization,
            max_utilization=rp.max_link_utilization,
            local_time=_local_time(time.time()),
            offpeak=rp.offpeak,
        )

    async def _release_loop(self) -> None:
        """Program releases kiosks asked for are downloaded once for the café, here, when
        the link has room (``Mirror.release_round``)."""
        assert self.mirror is not None and self.mirror.release_wake is not None
        mirror, wake = self.mirror, self.mirror.release_wake
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RELEASE_ROUND_EVERY):
                    await wake.wait()
            wake.clear()
            try:
                await mirror.release_round(self.release_gate)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub release round failed")

    async def _relay_loop(self) -> None:
        assert self.outbox is not None
        outbox = self.outbox
        while True:
            await asyncio.sleep(RELAY_CHECK_EVERY)
            now = time.time()
            reading = self.link.sample(now)
            try:
                received, signed = await asyncio.to_thread(outbox.oldest_held)
                if not roles.relay_due(
                    now=now,
                    oldest_received=received,
                    oldest_signed=signed,
                    window=SIGNATURE_WINDOW_SECONDS,
                    gather=self.gather,
                ):
                    continue
                urgent = signed is not None and now - signed >= (
                    SIGNATURE_WINDOW_SECONDS - roles.SIGNATURE_MARGIN
                )
                rp = self.config.reporting
                day = _local_day(now)
                budget = await asyncio.to_thread(outbox.get_meta, BUDGET_META, {})
                count, body_bytes = await asyncio.to_thread(outbox.held_bytes)
                decision = decide(
                    utilization=None if reading is None else reading.utilization,
                    max_utilization=rp.max_link_utilization,
                    local_time=_local_time(now),
                    offpeak=rp.offpeak,
                    bytes_sent_today=gates.spent_today(budget, day),
                    # one request per relay.BATCH reports
                    next_bytes=gates.relay_estimate(body_bytes, -(-count // relay.BATCH)),
                    daily_budget=rp.daily_budget_bytes,
                    # A signature about to expire goes now: waiting would cost a re-send.
                    # The budget is never skipped: held past the bound, a kiosk's report
                    # goes out under that kiosk's own budget.
                    ignore_link=urgent or reading is None,
                )
                if not decision.send:
                    self.deferred = decision.reason
                    log.debug("hub relay deferred: %s", decision.reason)
                    continue
                self.deferred = None
                result = await self.relay_round()
                spent = gates.relay_spent(
                    int(result.get("bytes") or 0),
                    int(result.get("requests") or 0),
                    max(1, int(result.get("connections") or 0)),
                )
                total = gates.spent_today(
                    await asyncio.to_thread(outbox.get_meta, BUDGET_META, {}), day
                )
                await asyncio.to_thread(
                    outbox.set_meta, BUDGET_META, {"day": day, "bytes": total + spent}
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub relay round failed")

    # -- HTTP --------------------------------------------------------------------------

    def _rate_limited(self, peer: str) -> bool:
        now = time.monotonic()
        hits = [t for t in self._hits.get(peer, []) if now - t < 60.0]
        hits.append(now)
        self._hits[peer] = hits
        if len(self._hits) > 1024:
            self._hits = {p: h for p, h in self._hits.items() if h and now - h[-1] < 60.0}
        return len(hits) > MAX_REQUESTS_PER_MINUTE

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if peername else ""
        try:
            try:
                async with asyncio.timeout(30):
                    request = await http.read_request(reader)
                request.peer = peer
                if self._rate_limited(peer):
                    raise http.HttpError(429, "too many requests")
                if request.path.startswith(roles.API + "/feeds/") and request.method in (
                    "GET",
                    "HEAD",
                ):
                    await self._send_feed_file(request, writer)
                    return
                response = await self._dispatch(request)
            except http.HttpError as e:
                response = http.Response.json(e.status, {"error": e.message})
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                return
            except asyncio.CancelledError:
                return
            except Exception:
                log.exception("hub request failed")
                response = http.Response.json(500, {"error": "internal error"})
            writer.write(response.to_bytes())
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _dispatch(self, request: http.Request) -> http.Response:
        route = (request.method, request.path)
        if route == ("POST", roles.API + "/heartbeat"):
            return self._heartbeat(request)
        if route == ("POST", roles.API + "/reports"):
            return await self._hand_off(request)
        if route == ("POST", roles.API + "/answers"):
            return await self._answers(request)
        if route == ("GET", roles.API + "/ping"):
            return http.Response.json(200, {"hub": True})
        if request.path == "/console" or request.path.startswith("/console/"):
            if self.config.cafe.hub_console != "lan" and not is_loopback(request.peer):
                raise http.HttpError(403, "the console is open on the hub PC only")
            return await self.console.handle(request, self.registry, time.time())
        raise http.HttpError(404, "no such endpoint")

    def _heartbeat(self, request: http.Request) -> http.Response:
        try:
            beat = parse_heartbeat(request.json())
        except HeartbeatError as e:
            raise http.HttpError(400, str(e)) from None
        now = time.time()
        previous, seen = self.registry.update(beat, now)
        self.link.add(beat, previous, None if seen is None else now - seen)
        reading = self.link.monitor.reading()
        return http.Response.json(
            200,
            {"link": None if reading is None else asdict(reading), "pcs": len(self.registry.pcs)},
        )

    async def _hand_off(self, request: http.Request) -> http.Response:
        assert self.outbox is not None
        if self.config.reporting.server is None:
            raise http.HttpError(503, "this hub has no regional server to relay to")
        try:
            h = relay.parse_hand_off(request.headers, request.body)
            state = await asyncio.to_thread(self.outbox.hold, h, time.time())
        except relay.RelayError as e:
            raise http.HttpError(400 if "too many" not in str(e) else 503, str(e)) from None
        return http.Response.json(202, {"status": state})

    async def _answers(self, request: http.Request) -> http.Response:
        assert self.outbox is not None
        body = request.json()
        kiosk_id, ids = body.get("kiosk_id"), body.get("report_ids")
        if not isinstance(kiosk_id, str) or not isinstance(ids, list):
            raise http.HttpError(400, "expected kiosk_id and report_ids")
        answers = await asyncio.to_thread(self.outbox.answers, kiosk_id, ids)
        return http.Response.json(200, {"answers": answers})

    async def _send_feed_file(self, request: http.Request, writer: asyncio.StreamWriter) -> None:
        assert self.mirror is not None
        rest = request.path.removeprefix(roles.API + "/feeds/")
        key, _, name = rest.partition("/")
        served: Served = await self.mirror.get(key, name)
        if served.status != 200 or served.path is None:
            error = http.Response.json(served.status, {"error": served.message})
            if served.status == 503:  # a release the hub is fetching for the café
                error.headers["Retry-After"] = str(int(RELEASE_ROUND_EVERY))
            writer.write(error.to_bytes())
            await writer.drain()
            return
        if served.etag and request.headers.get("if-none-match") == served.etag:
            writer.write(http.Response(304, headers={"ETag": served.etag}).to_bytes())
            await writer.drain()
            return
        path = served.path
        size = path.stat().st_size
        headers = {"ETag": served.etag or "", "Accept-Ranges": "bytes"}
        answer = ranges.whole(size)
        if name != manifest.MANIFEST and request.method == "GET":
            # A ~25 MB release cut on the café's link resumes (docs/cafe-hub.md).
            answer = ranges.plan_range(
                request.headers.get("range"), request.headers.get("if-range"), headers["ETag"], size
            )
        content_range = answer.content_range(size)
        if content_range is not None:
            headers["Content-Range"] = content_range
        writer.write(_file_head(answer.status, answer.length, headers))
        if request.method == "HEAD" or answer.status == 416:
            await writer.drain()
            return
        with path.open("rb") as f:  # streamed: a full bundle never sits whole in memory
            f.seek(answer.start)
            left = answer.length
            while left > 0 and (chunk := await asyncio.to_thread(f.read, min(left, 1 << 16))):
                left -= len(chunk)
                writer.write(chunk)
                await writer.drain()


_FILE_REASONS = {200: "OK", 206: "Partial Content", 416: "Range Not Satisfiable"}


def _file_head(status: int, length: int, headers: dict[str, str]) -> bytes:
    """The head of a mirrored file's answer (``http.Response`` knows no 206/416)."""
    lines = [f"HTTP/1.1 {status} {_FILE_REASONS[status]}"]
    lines += ["Content-Type: application/octet-stream", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _local_day(now: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(now).date().isoformat()


def _local_time(now: float) -> Any:
    from datetime import datetime

    return datetime.fromtimestamp(now).time()


def create_hub(ctx: ServiceContext) -> HubComponent | None:
    """The hub component when ``cafe.hub: this``."""
    if ctx.config.cafe.hub != "this":
        return None
    return HubComponent(ctx)
