"""The reporting part of the service: counters on the bus, flushes, cuts and uploads.

``Reporting`` also backs the CLI (`kiosk-agent report show`, `report upload --now`),
which opens the same outbox from another process: SQLite's locking keeps the two
consistent, and the server's de-duplication by ``report_id`` makes a report sent by
both count once.

The service's upload rounds run the same way, in a short-lived worker process
(``kiosk-agent worker upload``, ``upload_job``), so the service never imports
``requests``, ``ssl`` or ``cryptography`` (the kiosk key is read in the worker only;
docs/worker-process.md). The service flushes its counts to the outbox just before,
passes its link reading and its clock epoch, and afterwards takes over a clock
correction the worker learned from the server's ``Date`` (``Clock.reload``), which moves
its unflushed counts exactly as a correction in the service itself does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kiosk_agent import __version__
from kiosk_agent.config import Config
from kiosk_agent.net.clock import MIN_STEP_SECONDS, Clock, clock_for
from kiosk_agent.reporting.counters import PERIOD_SECONDS, Counters
from kiosk_agent.reporting.held import held_versions
from kiosk_agent.reporting.identity import KioskKey, load_enrollment
from kiosk_agent.reporting.outbox import Outbox, OutboxError, flush_counters
from kiosk_agent.reporting.uploader import LinkMonitor, LinkReading, RoundResult, Uploader

if TYPE_CHECKING:
    import requests

    from kiosk_agent.service.context import ServiceContext

log = logging.getLogger(__name__)
T = TypeVar("T")
STOP_WAIT = 15.0
"""Seconds ``stop`` waits for a flush or upload still running in its thread or worker."""
UPLOAD_TIMEOUT = 1800.0
"""Seconds an upload round's worker may take before it is killed (a backlog of reports
over a slow link at 15 + 30 s per request at worst); its reports are sent again later."""

FeedVersions = Callable[[], dict[str, int]]


class Reporting:
    """Counters, outbox and uploader for one state dir (blocking calls; no event loop)."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        feed_versions: FeedVersions | None = None,
        session_factory: Callable[[], requests.Session] | None = None,
        link: LinkMonitor | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.state_dir = config.state_dir
        self.clock = clock or clock_for(config.state_dir)
        self.period_seconds = PERIOD_SECONDS[config.reporting.period]
        self.counters = Counters(self.clock.now, config.reporting.period)
        self.outbox = Outbox.in_state_dir(config.state_dir)
        self._key: KioskKey | None = None
        self._key_lock = threading.Lock()
        self.feed_versions = feed_versions or dict
        self._session_factory = session_factory
        self._session: requests.Session | None = None
        self.link = link or LinkMonitor(peaks=_peaks_from_meta(self.outbox.get_meta("peaks")))
        self.rng = rng
        self.last_flush_error: str | None = None
        self.last_round: RoundResult | None = None
        self.hub: str | None = None
        """The café hub's address for this round (docs/cafe-hub.md), or None: direct."""
        self.clock.add_listener(self._on_clock_corrected)

    @property
    def key(self) -> KioskKey:
        """The kiosk's key, read (or made) when an upload first needs it.

        Not at start: reading it imports the cryptography library (≈ 50-70 ms here),
        and the reporting part starts before the resolver, so that would delay the
        first answer at boot.
        """
        with self._key_lock:
            if self._key is None:
                self._key = KioskKey.load_or_create(self.state_dir)
            return self._key

    def _on_clock_corrected(self, ended_epoch: str, step: float) -> None:
        # Unflushed counts were made under the wrong clock: move them now. Flushed ones
        # carry their epoch in the outbox and are moved by ``rekey`` before a cut.
        self.counters.shift(step)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self.outbox.close()

    # -- counting and cutting -----------------------------------------------------------

    def flush(self) -> int:
        """Write counted events to the outbox; on failure keep them in memory. Returns n."""
        try:
            # Steady: no correction between taking the counts and labelling their epoch.
            with self.clock.steady():
                written = flush_counters(self.counters, self.outbox, self.clock.epoch)
        except OutboxError as e:
            if self.last_flush_error is None:
                log.error("could not write counts to the outbox (kept in memory): %s", e)
            self.last_flush_error = str(e)
            return 0
        self.last_flush_error = None
        return written

    def cut(self, *, all_periods: bool) -> list[str]:
        """Cut reports (closed periods, or all) and keep the outbox within its bound."""
        now = self.clock.now()
        self.outbox.rekey(
            self.clock.corrections, now, clock_trusted=self.clock.last_sync is not None
        )
        made = self.outbox.cut(
            now,
            all_periods=all_periods,
            agent_version=__version__,
            feed_versions=self.feed_versions(),
        )
        merged = self.outbox.enforce_bound(self.config.reporting.max_reports, now)
        if merged:
            log.info(
                "outbox over %d reports: merged %d old ones into coarser periods",
                self.config.reporting.max_reports,
                merged,
            )
        return made

    def maintain(self) -> None:
        """One tick of the service: flush, cut closed periods, sample the link."""
        self.flush()
        try:
            self.cut(all_periods=False)
        except OutboxError as e:
            log.error("could not cut reports: %s", e)
        self.sample_link()

    def sample_link(self) -> LinkReading | None:
        now = self.clock.now()
        try:
            reading = self.link.sample(time.monotonic(), int(now // 86400))
        except Exception as e:  # psutil can fail on exotic systems: then we never send
            log.debug("cannot read interface counters: %s", e)
            return None
        return reading

    # -- uploading ----------------------------------------------------------------------

    def session(self) -> requests.Session:
        if self._session is None:
            if self._session_factory is not None:
                self._session = self._session_factory()
            else:
                from kiosk_agent.net.direct_http import session_for_config

                self._session = session_for_config(self.config, clock=self.clock)
        return self._session

    def upload(
        self, *, operator: bool = False, force: bool = False, cut_all: bool = False
    ) -> RoundResult:
        """One upload round. ``operator``: the "send now" button (link gate off)."""
        result = self.upload_with(
            self.link.reading(), operator=operator, force=force, cut_all=cut_all
        )
        with contextlib.suppress(OutboxError):
            self.save_peaks()
        return result

    def save_peaks(self) -> None:
        """Keep the link's daily peaks (its capacity estimate) across restarts."""
        self.outbox.set_meta({"peaks": {str(d): p for d, p in self.link.peaks.items()}})

    def upload_with(
        self,
        link: LinkReading | None,
        *,
        operator: bool = False,
        force: bool = False,
        cut_all: bool = False,
    ) -> RoundResult:
        """One upload round with the link reading ``link`` (the worker gets the service's)."""
        server = self.config.reporting.server
        if server is None:
            return RoundResult("no_server", reason="reporting.server is not set")
        if cut_all:
            self.flush()
            self.cut(all_periods=True)
        try:
            session = self.session()
        except Exception as e:  # no upstream DNS known: a state, not a crash
            return RoundResult("failed", reason=str(e))
        held = held_versions(self.state_dir)
        uploader = Uploader(
            self.outbox,
            self.key,
            self.clock,
            session,
            server=server,
            max_utilization=self.config.reporting.max_link_utilization,
            daily_budget=self.config.reporting.daily_budget_bytes,
            offpeak=self.config.reporting.offpeak,
            rng=self.rng,
            held=held,
        )
        enrollment = load_enrollment(self.state_dir)
        skip: set[str] = set()
        if self.hub is not None and enrollment is not None:
            from kiosk_agent.hub.handoff import hand_off_round
            from kiosk_agent.hub.roles import hand_off_bound

            handed = hand_off_round(
                self.outbox,
                self.key,
                self.clock,
                session,
                hub=self.hub,
                server=server,
                enrollment=enrollment,
                bound=hand_off_bound(self.config.reporting.upload_every),
                held=held,
            )
            skip = handed.skip
            if handed.hub_error:
                log.info("%s; sending directly", handed.hub_error)
        result = uploader.run_round(
            enrollment,
            link,
            ignore_link=operator,
            ignore_budget=force,
            ignore_backoff=operator,
            skip=skip,
        )
        if result.outcome == "clock_corrected":
            # The server's Date moved the clock: move the counts to their real periods
            # and send again, once.
            self.flush()
            self.cut(all_periods=cut_all)
            again = uploader.run_round(
                enrollment,
                link,
                ignore_link=operator,
                ignore_budget=force,
                ignore_backoff=operator,
                skip=skip,
            )
            again.sent += result.sent
            again.bytes += result.bytes
            result = again
        self.last_round = result
        return result

    def today_counts(self) -> dict[str, int]:
        """Today's counts (UTC day of the corrected clock), flushed or not, sent or not."""
        day = int(self.clock.now() // 86400) * 86400
        counts = self.outbox.day_counts(day)
        for (start, name), n in self.counters.snapshot().items():
            if start // 86400 * 86400 == day:
                counts[name] = counts.get(name, 0) + n
        return dict(sorted(counts.items()))

    def status(self) -> dict[str, Any]:
        enrollment = load_enrollment(self.state_dir)
        get = self.outbox.get_meta
        meta = {
            key: get(key) for key in ("last_upload", "last_error", "deferrals", "next_attempt_at")
        }
        return {
            "enrolled": enrollment is not None,
            "kiosk_id": enrollment.kiosk_id if enrollment else None,
            "reports_waiting": self.outbox.report_count(),
            "events_in_memory": self.counters.pending_total(),
            "last_upload": meta.get("last_upload"),
            "last_error": meta.get("last_error") or self.last_flush_error,
            "deferrals": meta.get("deferrals") or {},
            "next_attempt_at": meta.get("next_attempt_at") or None,
            "clock_offset_seconds": round(self.clock.offset, 1),
            # the effective off-peak window: a settings overlay may change it while running
            "upload_window": "-".join(offpeak)
            if (offpeak := self.config.reporting.offpeak)
            else None,
        }


def _peaks_from_meta(data: object) -> dict[int, tuple[float, float]]:
    peaks: dict[int, tuple[float, float]] = {}
    if isinstance(data, dict):
        for day, pair in data.items():
            with contextlib.suppress(ValueError, TypeError):
                peaks[int(day)] = (float(pair[0]), float(pair[1]))
    return peaks


def feed_versions_from(ctx: ServiceContext) -> FeedVersions:
    """Applied feed versions from the other components' status: ``feed_versions``
    (``{list_id: version}``) or the updater's ``lists`` (``[{list_id, version}]``)."""

    def collect() -> dict[str, int]:
        versions: dict[str, int] = {}
        for name, component in ctx.components.items():
            if name == ReportingComponent.name:
                continue
            try:
                status = component.status()
            except Exception:
                continue
            found = status.get("feed_versions")
            if isinstance(found, dict):
                versions.update(
                    {str(k): v for k, v in found.items() if isinstance(v, int) and v >= 0}
                )
            # The feed updater's form: "lists": [{"list_id": ..., "version": ...}, ...]
            for item in status.get("lists") or []:
                if isinstance(item, dict):
                    list_id, version = item.get("list_id"), item.get("version")
                    if isinstance(list_id, str) and isinstance(version, int) and version >= 0:
                        versions[list_id] = version
        return versions

    return collect


class ReportingComponent:
    """The service component: subscribes counters first, flushes every ``flush_every``,
    uploads every ``upload_every`` (with jitter) and after failures per the backoff."""

    name = "reporting"

    def __init__(self, ctx: ServiceContext, **reporting_kwargs: Any) -> None:
        self.ctx = ctx
        self._kwargs = reporting_kwargs
        self.reporting: Reporting | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._in_threads: set[asyncio.Future[Any]] = set()
        self._upload_now = asyncio.Event()
        # A clock or an HTTP session given by a test cannot cross into a worker: then
        # rounds run in a thread here, as they do for a config not read from a file.
        injected = "clock" in reporting_kwargs or "session_factory" in reporting_kwargs
        self.config_path: Path | None = None
        if not injected:
            from kiosk_agent.service.worker import config_file

            self.config_path = config_file(ctx.config.source)

    async def start(self) -> None:
        kwargs = {"feed_versions": feed_versions_from(self.ctx), **self._kwargs}
        self.reporting = await asyncio.to_thread(Reporting, self.ctx.config, **kwargs)
        self._unsubscribe = self.ctx.bus.subscribe(self.reporting.counters)
        self._tasks = [
            asyncio.create_task(self._flush_loop(), name="reporting-flush"),
            asyncio.create_task(self._upload_loop(), name="reporting-upload"),
        ]

    def request_upload(self) -> None:
        """Start an upload round soon (a period closed, or the operator asked)."""
        self._upload_now.set()

    async def _flush_loop(self) -> None:
        assert self.reporting is not None
        every = self.ctx.config.reporting.flush_every
        while True:
            await asyncio.sleep(every)
            before = self.reporting.outbox.report_count()
            await self._in_thread(self.reporting.maintain)
            if self.reporting.outbox.report_count() > before:
                self.request_upload()

    def reconfigure(self, config: Config) -> None:
        """Take a settings overlay's live keys (``config_live``): the upload window, budget
        and link share apply from the next round, ``upload_every`` from the next wait."""
        if self.reporting is not None:
            self.reporting.config = config

    async def _upload_loop(self) -> None:
        assert self.reporting is not None
        every = self.ctx.config.reporting.upload_every
        # Let the link monitor see a few windows before the first decision.
        await asyncio.sleep(min(every, 3 * self.ctx.config.reporting.flush_every))
        while True:
            every = self.ctx.config.reporting.upload_every  # an overlay may change it
            try:
                result = await self.upload_round()
                log.debug("upload round: %s %s", result.outcome, result.reason)
            except Exception:
                log.exception("upload round failed")
            wait = every * (0.75 + 0.5 * self.reporting.rng())
            next_try = float(self.reporting.outbox.get_meta("next_attempt_at", 0.0))
            if next_try:
                wait = max(wait, next_try - self.reporting.clock.now())
            self._upload_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._upload_now.wait(), timeout=max(1.0, wait))

    async def upload_round(self) -> RoundResult:
        """One round of the upload loop: in a worker process, or in a thread (see
        ``__init__``). Rounds with nothing to send start no worker."""
        reporting = self.reporting
        assert reporting is not None
        if self.config_path is None:
            return await self._in_thread(reporting.upload)
        if self.ctx.config.reporting.server is None:
            return RoundResult("no_server", reason="reporting.server is not set")
        if load_enrollment(reporting.state_dir) is None:
            return RoundResult("not_enrolled", reason="the kiosk is not enrolled")
        # Flushed now, so the worker sees every count made until it starts; later ones
        # stay here and are moved if the worker corrects the clock.
        await self._in_thread(reporting.flush)
        now = reporting.clock.now()
        next_try = float(reporting.outbox.get_meta("next_attempt_at", 0.0) or 0.0)
        if next_try > now:  # as Uploader.run_round would answer, without a worker
            return RoundResult("backoff", reason=f"waiting {next_try - now:.0f} s after failures")
        if not await self._in_thread(lambda: reporting.outbox.due_reports(now)):
            return RoundResult("nothing")
        hub_client = self.ctx.components.get("hub-client")
        hub = getattr(hub_client, "current_hub", lambda: None)()
        # The café's link, summed by the hub over every PC, when a hub answers.
        link = getattr(hub_client, "cafe_link", None) or reporting.link.reading()
        params = {**upload_params(reporting, link), "hub": hub}
        offset: float | None = None
        try:
            answer = await self._tracked(self._run_worker(params))
            result, offset = parse_round_result(answer)
        except ValueError as e:
            result = RoundResult("failed", reason=f"the upload worker's answer: {e}")
        except Exception as e:  # WorkerError: crashed, killed after UPLOAD_TIMEOUT, ...
            result = RoundResult("failed", reason=str(e))
        finally:
            # Take over a correction the worker saved in clock.json: ends our epoch and
            # shifts the counts made meanwhile (Reporting._on_clock_corrected).
            reporting.clock.reload()
        if offset is not None and abs(offset - reporting.clock.offset) > MIN_STEP_SECONDS:
            # The worker could not save it (a full disk): take its word for it.
            reporting.clock.set_offset(offset)
        reporting.last_round = result
        with contextlib.suppress(OutboxError):
            await self._in_thread(reporting.save_peaks)
        return result

    async def _run_worker(self, params: dict[str, Any]) -> dict[str, Any]:
        from kiosk_agent.service import worker

        assert self.config_path is not None
        return await worker.run_worker("upload", self.config_path, params, timeout=UPLOAD_TIMEOUT)

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a worker thread; ``stop`` waits for it before closing the outbox
        (cancelling the awaiting task does not stop the thread)."""
        return await self._tracked(asyncio.to_thread(fn))

    async def _tracked(self, work: Awaitable[T]) -> T:
        """Await ``work`` so that ``stop`` can wait for it (a thread, or a worker process
        that is killed if it has not finished within ``STOP_WAIT``)."""
        future = asyncio.ensure_future(work)
        self._in_threads.add(future)
        future.add_done_callback(self._in_threads.discard)
        return await asyncio.shield(future)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._in_threads:
            # A flush or an upload round still running in its thread would otherwise
            # meet a closed outbox (or use it together with the final cut).
            _done, pending = await asyncio.wait(set(self._in_threads), timeout=STOP_WAIT)
            if pending:
                log.warning("an upload round was still running at shutdown")
                for future in pending:
                    future.cancel()  # an upload worker is killed; its reports go later
                await asyncio.wait(pending, timeout=STOP_WAIT)
        if self.reporting is None:
            return
        reporting = self.reporting

        def final() -> None:
            reporting.flush()
            try:
                reporting.cut(all_periods=True)  # a report is cut at shutdown
            except OutboxError as e:
                log.error("could not cut reports at shutdown: %s", e)
            reporting.close()

        try:
            await asyncio.to_thread(final)
        except Exception:
            log.exception("reporting shutdown failed")

    def today_counts(self) -> dict[str, int]:
        """For the operator's "today" view (control API ``GET /v1/operator/today``)."""
        return {} if self.reporting is None else self.reporting.today_counts()

    def status(self) -> dict[str, Any]:
        if self.reporting is None:
            return {"running": False}
        try:
            return {"running": True, **self.reporting.status()}
        except Exception as e:
            return {"running": True, "error": str(e)}


_OUTCOME = re.compile(r"^[a-z_]{1,32}\Z")
_ROUND_COUNTS = ("sent", "duplicates", "rejected", "bytes", "left")
MAX_CLOCK_OFFSET = 200 * 365 * 86400.0


def upload_params(reporting: Reporting, link: LinkReading | None) -> dict[str, Any]:
    """The upload worker's parameters: what the service knows and the worker cannot."""
    return {
        "link": None if link is None else asdict(link),
        "clock_epoch": reporting.clock.epoch,
        "feed_versions": reporting.feed_versions(),
    }


def _link_from(data: object) -> LinkReading | None:
    if data is None:
        return None
    if not isinstance(data, dict) or set(data) != {
        "rx_rate",
        "tx_rate",
        "rx_capacity",
        "tx_capacity",
    }:
        raise ValueError("job parameter link is not a link reading")
    values = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"job parameter link.{key} is not a rate")
        values[key] = float(value)
    if values["rx_capacity"] <= 0 or values["tx_capacity"] <= 0:
        raise ValueError("job parameter link has no capacity")
    return LinkReading(**values)


def upload_job(config: Config, params: Mapping[str, Any]) -> dict[str, Any]:
    """``kiosk-agent worker upload``: one upload round with the service's link reading.

    The worker's clock takes the service's epoch, so a correction learned here (a 401
    whose ``Date`` shows the PC clock is off) ends the epoch the service's flushed
    counts carry: the outbox moves them before they are sent again, and the service
    reads the correction from ``clock.json`` when the worker has exited.
    """
    link = _link_from(params.get("link"))
    epoch = params.get("clock_epoch")
    if not isinstance(epoch, str) or not re.fullmatch(r"[0-9a-f]{1,32}", epoch):
        raise ValueError("job parameter clock_epoch is not an epoch id")
    versions = params.get("feed_versions")
    if not isinstance(versions, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
        for k, v in versions.items()
    ):
        raise ValueError("job parameter feed_versions is not a map of versions")
    hub = params.get("hub")
    if hub is not None and (not isinstance(hub, str) or not hub.startswith("http://")):
        raise ValueError("job parameter hub is not a hub address")
    clock = clock_for(config.state_dir)
    clock.epoch = epoch
    reporting = Reporting(config, clock=clock, feed_versions=lambda: dict(versions))
    reporting.hub = hub
    try:
        result = reporting.upload_with(link)
    finally:
        reporting.close()
    return {**asdict(result), "clock_offset": clock.offset}


def parse_round_result(obj: Mapping[str, Any]) -> tuple[RoundResult, float]:
    """An upload worker's answer and its clock offset; ``ValueError`` unless it is
    exactly that."""
    known = {"outcome", "reason", "clock_offset", *_ROUND_COUNTS}
    if set(obj) != known:
        missing, extra = known - set(obj), set(obj) - known
        raise ValueError(f"fields {sorted(missing)} missing, {sorted(extra)} unknown")
    outcome, reason = obj["outcome"], obj["reason"]
    if not isinstance(outcome, str) or not _OUTCOME.match(outcome):
        raise ValueError("outcome is not a short token")
    if not isinstance(reason, str) or len(reason) > 1000:
        raise ValueError("reason is not a short text")
    counts = {}
    for key in _ROUND_COUNTS:
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
            raise ValueError(f"{key} is not a count")
        counts[key] = value
    offset = obj["clock_offset"]
    if (
        isinstance(offset, bool)
        or not isinstance(offset, int | float)
        or not math.isfinite(offset)
        or abs(offset) > MAX_CLOCK_OFFSET
    ):
        raise ValueError("clock_offset is not a plausible offset")
    return RoundResult(outcome, reason=reason, **counts), float(offset)


def make_reporting_component(ctx: ServiceContext) -> ReportingComponent:
    """``build_components`` factory: always on (counts are kept even without a server)."""
    return ReportingComponent(ctx)
