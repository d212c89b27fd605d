"""The kiosk's side of the hub, in its service (``cafe.hub`` other than ``off``).

Finds the hub (a fixed address, this PC for ``this``, or mDNS through a ``hub-find``
worker for ``auto``), sends it a heartbeat every few seconds (status in brief and the
network card's byte counters) and keeps the café's link reading from the answer.
``current_hub()`` is what the feed updater and the reporting part ask: None while no hub
answers, and then they work straight with the regional server, as without a hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
import time
from pathlib import Path
from typing import Any

from kiosk_agent.atomic import write_text_atomic
from kiosk_agent.hub import http
from kiosk_agent.hub.registry import HEARTBEAT_EVERY, heartbeat_from_status
from kiosk_agent.hub.roles import API
from kiosk_agent.reporting.uploader import LinkReading
from kiosk_agent.service.context import ServiceContext

log = logging.getLogger(__name__)

PC_ID_FILE = "hub-pc.id"
FAILURES_BEFORE_LOST = 3
FIND_EVERY = 300.0
FIND_TIMEOUT = 30.0
STARTUP_SEARCH = 30.0
"""For this long after start, discovery is tried at every heartbeat (a busy PC at boot can
miss the first answers); the first feed check waits for it (``wait_ready``)."""


def pc_id(state_dir: Path) -> str:
    """A random id for this PC on the café's LAN (never the kiosk's enrollment id)."""
    path = Path(state_dir) / PC_ID_FILE
    with contextlib.suppress(OSError):
        text = path.read_text(encoding="utf-8").strip()
        if text:
            return text
    new = secrets.token_hex(6)
    with contextlib.suppress(OSError):
        write_text_atomic(path, new + "\n")
    return new


def link_from(data: object) -> LinkReading | None:
    if not isinstance(data, dict):
        return None
    try:
        values = {k: float(data[k]) for k in ("rx_rate", "tx_rate", "rx_capacity", "tx_capacity")}
    except (KeyError, TypeError, ValueError):
        return None
    if values["rx_capacity"] <= 0 or values["tx_capacity"] <= 0 or min(values.values()) < 0:
        return None
    return LinkReading(**values)


class HubClient:
    name = "hub-client"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.hub: str | None = None
        self.cafe_link: LinkReading | None = None
        self.failures = 0
        self.last_ok: float | None = None
        self.started = time.time()
        self._task: asyncio.Task[None] | None = None
        self._candidates: list[str] = []
        self._last_find = -1e9
        from kiosk_agent.service.worker import config_file

        self.config_path = config_file(ctx.config.source)

    def current_hub(self) -> str | None:
        return self.hub

    async def wait_ready(self, timeout: float) -> None:
        """Wait (bounded) until the first attempt to reach a hub has ended."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._ready.wait()

    async def start(self) -> None:
        self._ready = asyncio.Event()
        self.pc = await asyncio.to_thread(pc_id, self.ctx.state_dir)
        # With the id: cafés clone one disk image onto every PC, host names included.
        self.pc_name = f"{socket.gethostname()[:40] or 'PC'} ({self.pc[:6]})"
        self._task = asyncio.create_task(self._run(), name="hub-client")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def status(self) -> dict[str, Any]:
        return {
            "mode": self.config.cafe.hub,
            "hub": self.hub,
            "last_ok": self.last_ok,
            "notices_today": self._notices_today(),
            "ui_running": self._ui_running(),
        }

    def _ui_running(self) -> bool | None:
        control = self.ctx.components.get("control")
        running = getattr(control, "ui_running", None)
        return running() if callable(running) else None

    async def _candidates_now(self) -> list[str]:
        mode = self.config.cafe.hub
        if mode == "this":
            port = self.config.cafe.hub_listen.port
            hub = self.ctx.components.get("hub")
            address = getattr(hub, "address", None)
            if address is not None:
                port = address[1]
            return [f"http://127.0.0.1:{port}"]
        if mode.startswith("http://"):
            return [mode]
        if mode != "auto":
            return []
        if self.hub is not None:
            return [self.hub]
        every = FIND_EVERY if time.time() - self.started > STARTUP_SEARCH else 0.0
        if time.monotonic() - self._last_find < every:
            return self._candidates
        self._last_find = time.monotonic()
        self._candidates = await self._find()
        return self._candidates

    async def _find(self) -> list[str]:
        try:
            if self.config_path is None:
                from kiosk_agent.hub.discovery import browse

                return await asyncio.to_thread(browse)
            from kiosk_agent.service.worker import run_worker

            answer = await run_worker(
                "hub-find", self.config_path, {"seconds": 3.0}, timeout=FIND_TIMEOUT
            )
        except Exception as e:
            log.debug("hub discovery failed: %s", e)
            return []
        hubs = answer.get("hubs")
        return [h for h in hubs if isinstance(h, str)] if isinstance(hubs, list) else []

    async def _run(self) -> None:
        while True:
            try:
                await self.beat_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub heartbeat failed")
            if self.hub is not None or not self._keep_searching():
                self._ready.set()
            await asyncio.sleep(HEARTBEAT_EVERY if self._ready.is_set() else 1.0)

    def _keep_searching(self) -> bool:
        """Whether the first feed check should still wait for a hub: only in ``auto``
        mode, with mDNS allowed, during the first ``STARTUP_SEARCH`` seconds (a fixed
        address answers at once or not)."""
        if self.config.cafe.hub != "auto" or time.time() - self.started > STARTUP_SEARCH:
            return False
        from kiosk_agent.hub.discovery import mdns_allowed

        return mdns_allowed()

    def _notices_today(self) -> int:
        control = self.ctx.components.get("control")
        today = getattr(control, "today", None)
        if today is None:
            return 0
        with contextlib.suppress(Exception):
            counts = today.snapshot().get("counts", {})
            return sum(n for k, n in counts.items() if k.startswith("notices.shown"))
        return 0

    async def beat_once(self) -> bool:
        """One heartbeat to the hub (or the first candidate that answers)."""
        from kiosk_agent.reporting.uploader import read_link_counters
        from kiosk_agent.service.status import service_status

        candidates = await self._candidates_now()
        if not candidates:
            return False
        try:
            rx, tx = await asyncio.to_thread(read_link_counters)
        except Exception:
            rx = tx = 0
        status = service_status(self.ctx, self.started)
        beat = heartbeat_from_status(self.pc, self.pc_name, rx, tx, status)
        body = json.dumps(beat).encode()
        for url in candidates:
            try:
                host, port = http.split_hub(url)
                code, _, data = await http.request(
                    host,
                    port,
                    "POST",
                    API + "/heartbeat",
                    body=body,
                    headers={"Content-Type": "application/json"},
                    timeout=3.0,
                )
            except (OSError, TimeoutError, ValueError):
                continue
            if code != 200:
                continue
            if self.hub != url:
                log.info("café hub: %s", url)
            self.hub = url
            self.failures = 0
            self.last_ok = time.time()
            with contextlib.suppress(ValueError):
                answer = json.loads(data)
                self.cafe_link = link_from(answer.get("link")) if isinstance(answer, dict) else None
            return True
        self.failures += 1
        if self.failures >= FAILURES_BEFORE_LOST and self.hub is not None:
            log.warning(
                "café hub %s is silent: working straight with the regional server", self.hub
            )
            self.hub = None
            self.cafe_link = None
        return False


def hub_for_cli(config: Any) -> str | None:
    """The hub for a command run by hand (``report upload --now``): the fixed address,
    this PC, or the first found by mDNS, if it answers; else None (direct)."""
    import urllib.request

    mode = config.cafe.hub
    if mode == "off":
        return None
    if mode == "this":
        candidates = [f"http://127.0.0.1:{config.cafe.hub_listen.port}"]
    elif mode.startswith("http://"):
        candidates = [mode]
    else:
        try:
            from kiosk_agent.hub.discovery import browse

            candidates = browse()
        except Exception as e:
            log.debug("hub discovery failed: %s", e)
            return None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for url in candidates:
        try:
            with opener.open(url + API + "/ping", timeout=3) as r:
                if r.status == 200:
                    return str(url)
        except OSError:
            continue
    return None


def create_hub_client(ctx: ServiceContext) -> HubClient | None:
    if ctx.config.cafe.hub == "off":
        return None
    return HubClient(ctx)
