"""The ``updates`` component: checks the regional server's signed directories now and then.

Each check runs in a short-lived worker (``kiosk-agent worker updates-check``), like feed
checks, so ``cryptography`` and ``requests`` stay out of the service. The answer becomes
events: ``SignedRejected(kind, reason)`` for a refusal (an unreachable server is not a
refusal and is not counted), ``KeyChanged(how)`` for each accepted announcement.

A new content pack is drawn at once by the UI and the block page (they re-read
``state_dir/content/current.json``, ``content/active.py``). A new settings overlay is
saved and applies from the service's and the UI's next start (``status`` says so):
components read their settings once, at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kiosk_agent.reporting.events import KeyChanged, SignedRejected
from kiosk_agent.service.context import ServiceContext
from kiosk_agent.updates.check import CheckAnswer, KindResult, parse_answer

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 1800.0
FIRST_CHECK_DELAY = (1.0, 10.0)
MIN_REQUEST_GAP = 300.0
"""An operator's "update now" (or the café hub's tests, pressing it every few seconds
while they wait for a list) adds a check at most this long after the last one: each check
is a TLS connection to the regional server over the café's metered link, and packs,
overlays and key announcements change seldom. Feeds are checked at every press."""


@dataclass
class UpdatesComponent:
    ctx: ServiceContext
    run_check: Callable[[], CheckAnswer] | None = None
    """Tests: the check in a thread of this process instead of a worker."""
    rng: random.Random = field(default_factory=random.Random)
    name: str = "updates"

    def __post_init__(self) -> None:
        self.last: dict[str, dict[str, Any]] = {}
        self.overlay_pending = False
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._last_check: float | None = None  # monotonic
        self._direct_at = time.monotonic()
        """When a check last read the regional server itself (monotonic; the start counts:
        a kiosk that restarts gives a withholding hub one more bound at most)."""

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def request_update(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _loop(self) -> None:
        assert self._wake is not None
        delay = self.rng.uniform(*FIRST_CHECK_DELAY)
        due = time.monotonic() + delay
        while True:
            requested = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, due - time.monotonic())):
                    await self._wake.wait()
                    requested = True
            self._wake.clear()
            if requested and not self.may_check_on_request(time.monotonic()):
                continue  # the regular check stays at ``due``
            self._last_check = time.monotonic()
            try:
                await self.check_once()
            except Exception:  # a bug here must not stop later checks
                log.exception("updates check failed")
            every = self.ctx.config.updates.check_every
            due = time.monotonic() + every * (1 + self.rng.uniform(-0.1, 0.1))

    def may_check_on_request(self, now: float) -> bool:
        """Whether a requested check runs now (``MIN_REQUEST_GAP`` since the last one)."""
        return self._last_check is None or now - self._last_check >= MIN_REQUEST_GAP

    async def check_once(self) -> CheckAnswer:
        answer = await self._answer()
        self.take(answer)
        return answer

    async def _answer(self) -> CheckAnswer:
        if self.run_check is not None:
            return await asyncio.to_thread(self.run_check)
        from kiosk_agent.reporting.identity import load_enrollment
        from kiosk_agent.service.worker import WorkerError, config_file, run_worker

        path = config_file(self.ctx.config.source.split(" + ")[0])
        if path is None:
            return CheckAnswer([KindResult(k, "off") for k in ("keys", "content", "settings")])
        enrollment = load_enrollment(self.ctx.state_dir)
        params = {"kiosk_id": enrollment.kiosk_id if enrollment else None, "hub": self._hub()}
        try:
            raw = await run_worker("updates-check", path, params, timeout=CHECK_TIMEOUT)
            answer = parse_answer(raw)
            if not answer.via_hub:
                self._direct_at = time.monotonic()
            return answer
        except WorkerError as e:
            return CheckAnswer([KindResult("content", "rejected", e.reason, detail=e.detail)])
        except ValueError as e:
            return CheckAnswer(
                [KindResult("content", "rejected", "worker_bad_output", detail=str(e))]
            )

    def _hub(self) -> str | None:
        """The café hub to read through first: while one answers, and the regional server
        itself was read less than ``STALE_FACTOR`` × ``check_every`` ago (a hub that
        withholds a new version delays this kiosk by that bound at most)."""
        from kiosk_agent.hub.roles import STALE_FACTOR

        client = self.ctx.components.get("hub-client")
        hub = getattr(client, "current_hub", lambda: None)()
        if not isinstance(hub, str):
            return None
        every = self.ctx.config.updates.check_every
        return hub if time.monotonic() - self._direct_at < STALE_FACTOR * every else None

    def take(self, answer: CheckAnswer) -> None:
        """Publish the events of one answer and remember it for ``status``."""
        log.debug("updates check: %s", answer.to_json())
        for how in answer.key_changes:
            log.warning("a signing key changed (%s)", how)
            self.ctx.bus.publish(KeyChanged(how))
        for code in answer.key_refusals:
            self.ctx.bus.publish(SignedRejected("keys", code))
        for kind, code in answer.hub_refusals:
            log.warning("the café hub served a %s that was refused (%s)", kind, code)
            self.ctx.bus.publish(
                SignedRejected("settings" if kind == "cafe_settings" else kind, code)
            )
        for r in answer.results:
            self.last[r.kind] = r.to_json()
            if r.result == "rejected" and r.kind == "keys" and answer.key_refusals:
                log.warning("key announcement refused: %s (%s)", r.reason, r.detail)
            elif r.result == "rejected":
                log.warning("%s refused: %s (%s)", r.kind, r.reason, r.detail)
                # A café's overlay is a settings overlay for the counters.
                kind = "settings" if r.kind == "cafe_settings" else r.kind
                self.ctx.bus.publish(SignedRejected(kind, r.reason or "other"))
            elif r.result == "applied":
                log.info("%s version %s applied", r.kind, r.version)
                if r.kind in ("settings", "cafe_settings"):
                    self.overlay_pending = True

    def status(self) -> dict[str, object]:
        from kiosk_agent.content import active

        return {
            "content_version": active.applied_version(),
            "settings_overlay_pending_restart": self.overlay_pending,
            "last": dict(self.last),
        }


def create_updates(ctx: ServiceContext) -> UpdatesComponent:
    return UpdatesComponent(ctx)
