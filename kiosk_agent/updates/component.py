"""The ``updates`` component: checks the regional server's signed directories now and then.

Each check runs in a short-lived worker (``kiosk-agent worker updates-check``), like feed
checks, so ``cryptography`` and ``requests`` stay out of the service. The answer becomes
events: ``SignedRejected(kind, reason)`` for a refusal (an unreachable server is not a
refusal and is not counted), ``KeyChanged(how)`` for each accepted announcement.

A program release staged by the worker is switched by a helper process that this
component starts (``kiosk-agent update apply-release``, ``switch.py``); at start it
settles a switch a power cut interrupted (``release_state.settle``) and counts the
switches the helper finished (``ReleaseSwitched``: ``updates.applied`` /
``updates.rolled_back``).

A new content pack is drawn at once by the UI and the block page (they re-read
``state_dir/content/current.json``, ``content/active.py``). A new settings overlay is
saved, and its live keys (``config_live.LIVE_KEYS``: the upload window and budget, the
languages, ...) are taken into the running service at once: ``ctx.config`` is replaced
and each component with a ``reconfigure(config)`` is told. Other changed keys wait for
the next start (``status`` lists them). The UI takes the same keys itself.
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

from kiosk_agent.config_live import take_live
from kiosk_agent.reporting.events import KeyChanged, ReleaseSwitched, SignedRejected
from kiosk_agent.service.context import ServiceContext
from kiosk_agent.updates.check import CheckAnswer, KindResult, parse_answer

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 1800.0
FIRST_CHECK_DELAY = (1.0, 10.0)
RESUME_AFTER = 300.0
"""A release download paused at the end of a check goes on this soon, not a whole
``check_every`` later."""
SOONER = ("download_paused", "download_again", "hub_fetching")
"""Release reasons after which the next check comes ``RESUME_AFTER`` later."""
SWITCH_RETRY = 300.0
HUB_READY_WAIT = 40.0
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
        self.restart_keys: list[str] = []
        """Changed settings that wait for the next start of the service."""
        self.live_keys: list[str] = []
        """Settings the last overlay changed in the running service."""
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._last_check: float | None = None  # monotonic
        self._switch_started: float | None = None  # monotonic
        self._direct_at = time.monotonic()
        """When a check last read the regional server itself (monotonic; the start counts:
        a kiosk that restarts gives a withholding hub one more bound at most)."""

    async def start(self) -> None:
        try:
            await asyncio.to_thread(self.settle_release)
        except Exception:  # never keep the resolver from starting
            log.exception("cannot settle the program switch state")
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
            # A paused download, or the café hub fetching the release for the café.
            if self.last.get("release", {}).get("reason") in SOONER:
                every = min(every, RESUME_AFTER)
            due = time.monotonic() + every * (1 + self.rng.uniform(-0.1, 0.1))

    def may_check_on_request(self, now: float) -> bool:
        """Whether a requested check runs now (``MIN_REQUEST_GAP`` since the last one)."""
        return self._last_check is None or now - self._last_check >= MIN_REQUEST_GAP

    async def check_once(self) -> CheckAnswer:
        answer = await self._answer()
        self.take(answer)
        # A switch the helper confirmed after this service started is counted here.
        from kiosk_agent.updates import release_state as rs

        self.count_switches(rs.load(self.ctx.state_dir))
        return answer

    async def _answer(self) -> CheckAnswer:
        if self.run_check is not None:
            return await asyncio.to_thread(self.run_check)
        from kiosk_agent import __version__
        from kiosk_agent.reporting.identity import load_enrollment
        from kiosk_agent.service.worker import WorkerError, config_file, run_worker

        path = config_file(self.ctx.config.source.split(" + ")[0])
        if path is None:
            return CheckAnswer([KindResult(k, "off") for k in ("keys", "content", "settings")])
        # A check right after the PC starts waits (bounded) for the café hub to be found,
        # as the first feed check does: PCs booting together would otherwise each
        # download a new program release from the regional server.
        wait_ready = getattr(self.ctx.components.get("hub-client"), "wait_ready", None)
        if wait_ready is not None:
            await wait_ready(HUB_READY_WAIT)
        enrollment = load_enrollment(self.ctx.state_dir)
        params = {
            "kiosk_id": enrollment.kiosk_id if enrollment else None,
            "link_room": self.link_room(),
            "running_version": __version__,  # the service's program, not the worker's
            "hub": self._hub(),
            # The program itself from the hub even past the withholding bound (the
            # server's manifest then names the version the hub must serve).
            "release_hub": self._hub(bounded=False),
        }
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

    def _hub(self, *, bounded: bool = True) -> str | None:
        """The café hub to read through first: while one answers, and (``bounded``) the
        regional server itself was read less than ``STALE_FACTOR`` × ``check_every`` ago
        (a hub that withholds a new version delays this kiosk by that bound at most)."""
        from kiosk_agent.hub.roles import STALE_FACTOR

        client = self.ctx.components.get("hub-client")
        hub = getattr(client, "current_hub", lambda: None)()
        if not isinstance(hub, str):
            return None
        if not bounded:
            return hub
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
                    self.take_settings()
            elif r.result == "staged" and r.kind == "release":
                log.warning("program release %s staged: starting the switch", r.detail)
                self.start_switch()
            elif r.kind == "release" and r.reason == "switch_in_progress":
                self.resume_switch()

    # -- program releases -------------------------------------------------------------

    def link_room(self) -> bool:
        """Whether a release may be downloaded now: the reporting component's gate for
        the café's link (off-peak window, utilization), without its byte budget."""
        from datetime import datetime

        from kiosk_agent.reporting.uploader import decide

        reporting = getattr(self.ctx.components.get("reporting"), "reporting", None)
        link = getattr(reporting, "link", None)
        reading = link.reading() if link is not None else None
        cfg = self.ctx.config.reporting
        decision = decide(
            utilization=None if reading is None else reading.utilization,
            max_utilization=cfg.max_link_utilization,
            local_time=datetime.now().time(),
            offpeak=cfg.offpeak,
            bytes_sent_today=0,
            next_bytes=0,
            daily_budget=1,
        )
        # A link not measured yet (the first minutes after a start) does not hold a
        # release back: only a busy link or the hours outside off-peak do.
        return decision.send or decision.reason == "link_unmeasured"

    def settle_release(self) -> None:
        """At start: finish a switch whose helper is gone, count switches it finished."""
        from kiosk_agent.installer import release
        from kiosk_agent.updates import release_state as rs
        from kiosk_agent.updates.service_control import control_for

        state_dir = self.ctx.state_dir
        state = rs.load(state_dir)
        control = control_for(self.ctx.config)
        if control is not None:
            running = release.current_release(control.program_dir, control.executable_name)
            # Windows: the helper's task is asked (no pid probe there: windows_control).
            alive = getattr(control, "helper_running", rs.helper_alive)(state.helper)
            settled = rs.settle(state, running, alive)
            if settled.state != state:
                if settled.point_at is not None:
                    control.point_at(settled.point_at)
                rs.save(state_dir, settled.state)
                for note in settled.notes:
                    log.warning("program switch: %s", note)
                state = settled.state
            if state.phase == "staged":
                self.start_switch()
        self.count_switches(state)

    def count_switches(self, state: Any) -> None:
        """Publish ``ReleaseSwitched`` for each switch finished since the last count
        (``release/counted.json``: the helper never writes it, the service never writes
        the helper's state, so neither overwrites the other)."""
        import json

        from kiosk_agent.atomic import write_text_atomic
        from kiosk_agent.updates import release_state as rs

        path = rs.folder(self.ctx.state_dir) / "counted.json"
        try:
            counted = json.loads(path.read_text("utf-8"))
            done = (int(counted["applied"]), int(counted["rolled_back"]))
        except (OSError, ValueError, KeyError, TypeError):
            done = (0, 0)
        now = (state.applied_count, state.rolled_back_count)
        if now == done:
            return
        for outcome, new, old in zip(("applied", "rolled_back"), now, done, strict=True):
            for _ in range(max(0, min(new - old, 10))):
                self.ctx.bus.publish(ReleaseSwitched(outcome))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps({"applied": now[0], "rolled_back": now[1]}) + "\n")

    def resume_switch(self) -> None:
        """A release still ``staged`` (postponed when it was staged, or a helper that did
        not start): start the switch again, at most once per ``SWITCH_RETRY``."""
        from kiosk_agent.updates import release_state as rs

        if rs.load(self.ctx.state_dir).phase != "staged":
            return  # a helper is at work
        started = self._switch_started
        if started is not None and time.monotonic() - started < SWITCH_RETRY:
            return
        self.start_switch()

    def start_switch(self) -> None:
        """Start the switch helper (from the stable command, outside this service)."""
        from kiosk_agent.service.worker import config_file
        from kiosk_agent.updates import release_state as rs
        from kiosk_agent.updates.service_control import control_for

        now = time.time()
        if rs.is_postponed(rs.postponed_until(self.ctx.state_dir), now):
            log.info("program update postponed by the operator")
            return
        control = control_for(self.ctx.config)
        path = config_file(self.ctx.config.source.split(" + ")[0])
        if control is None or path is None:
            return
        program = control.program_dir / control.executable_name
        argv = [str(program), "update", "apply-release", "--config", str(path)]
        self._switch_started = time.monotonic()
        try:
            control.spawn_helper(argv)
        except Exception as e:
            log.error("cannot start the program switch: %s", e)

    def take_settings(self) -> None:
        """Take the applied overlays' live keys into the running service."""
        taken = take_live(self.ctx.config)
        if taken is None:  # not read from a file: everything waits for a restart
            self.overlay_pending = True
            return
        self.ctx.config = taken.config
        for component in list(self.ctx.components.values()):
            reconfigure = getattr(component, "reconfigure", None)
            if taken.live and callable(reconfigure):
                try:
                    reconfigure(taken.config)
                except Exception:  # one component's bug must not stop the others
                    log.exception("%s could not take the new settings", component.name)
        if taken.live:
            log.info("settings taken without a restart: %s", ", ".join(taken.live))
            self.live_keys = taken.live
        if taken.restart:
            log.info("settings waiting for the next start: %s", ", ".join(taken.restart))
        self.restart_keys = taken.restart
        self.overlay_pending = bool(taken.restart)

    def status(self) -> dict[str, object]:
        from kiosk_agent import __version__
        from kiosk_agent.content import active
        from kiosk_agent.updates import release_state as rs

        state = rs.load(self.ctx.state_dir)
        until = rs.postponed_until(self.ctx.state_dir)
        return {
            "content_version": active.applied_version(),
            "settings_overlay_pending_restart": self.overlay_pending,
            "settings_restart_keys": list(self.restart_keys),
            "settings_live_keys": list(self.live_keys),
            "program_version": __version__,
            "release": {
                "phase": state.phase,
                "candidate": None if state.candidate is None else state.candidate.program_version,
                "bad": list(state.bad),
                "postponed_until": until if rs.is_postponed(until, time.time()) else None,
            },
            "last": dict(self.last),
        }


def create_updates(ctx: ServiceContext) -> UpdatesComponent:
    return UpdatesComponent(ctx)
