"""The feed updater: keeps each list's index current, never losing the last good one.

For each ``filter.feeds[]`` URL, every ``filter.update_every`` (with ±10% jitter, so a
region's kiosks do not all call at once) and on demand (``request_update``), one check
(``kiosk_agent.filter.feed_check``: fetch with ETags, verify the signature, rollback,
base and expiry, write the new index file atomically) runs in a short-lived worker
process (``kiosk_agent.service.worker``), so the long-running service never imports
``cryptography``, ``requests`` or ``ssl`` and never builds an index in its own heap
(docs/worker-process.md). The worker answers with one JSON line; the service opens the
new index file (a memory map) and swaps it into the ``IndexHolder`` that the resolver
and proxy read through, in one assignment, while they keep answering.

Any failure keeps the last good index, emits ``FeedRejected(reason)`` (a ``FeedError``
code, or ``unreachable``, ``bad_manifest``, ``index_error``, or ``worker_crashed``,
``worker_timeout``, ``worker_bad_output`` when the worker failed) and is retried at the
next check. The worker's HTTP goes through ``direct_http`` (names resolved through the
upstream DNS servers directly, never the local or system resolver), so updates work at
boot and when the local resolver is broken. ``file://`` URLs read a directory on disk.
State (list id, applied version, ETag, times, last result per feed) is written
atomically to ``state_dir/feeds.json``; it holds URLs and versions, never list entries.

Injected fetchers or clock (tests) run the same check in a thread of this process; so
does a config that was not read from a file (the worker needs its path).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kiosk_agent.atomic import write_text_atomic
from kiosk_agent.config import FeedConfig
from kiosk_agent.filter import index
from kiosk_agent.filter.feed_check import (
    CheckResult,
    FeedCheck,
    Fetcher,
    check_params,
    default_fetchers,
    parse_check_result,
)
from kiosk_agent.reporting.events import FeedRejected
from kiosk_agent.service.context import ServiceContext

log = logging.getLogger(__name__)

STATE_FILE = "feeds.json"
CHECK_TIMEOUT = 3600.0
"""Seconds a feed check's worker may take before it is killed: a full 1M-entry bundle
(≈ 8 MB) over a slow 2G link takes many minutes; a hung worker must still end."""
FIRST_CHECK_DELAY = (2.0, 20.0)  # seconds after start: boot first, then the network
JITTER = 0.1

RESULT_WORDS = {
    "applied": "a new list version was applied",
    "up_to_date": "the list was already up to date",
    "rejected": "an update was refused; the previous list stays in force",
    "unreachable": "the feed server could not be reached; the previous list stays in force",
}


@dataclass
class FeedState:
    """What the kiosk knows about one feed (persisted in ``feeds.json``)."""

    url: str
    list_id: str | None = None
    version: int | None = None
    manifest_etag: str | None = None
    bundle_etag: str | None = None
    applied_at: float | None = None
    last_check: float | None = None
    last_result: str | None = None
    last_reason: str | None = None
    first_seen: float | None = None
    direct_at: float | None = None
    """The last check the regional server itself answered (docs/cafe-hub.md)."""

    @classmethod
    def from_dict(cls, url: str, data: object) -> FeedState:
        state = cls(url)
        if isinstance(data, dict):
            for name in ("list_id", "manifest_etag", "bundle_etag", "last_result", "last_reason"):
                if isinstance(data.get(name), str):
                    setattr(state, name, data[name])
            if isinstance(data.get("version"), int):
                state.version = data["version"]
            for name in ("applied_at", "last_check", "first_seen", "direct_at"):
                if isinstance(data.get(name), int | float):
                    setattr(state, name, float(data[name]))
        return state


def load_state(state_dir: Path) -> dict[str, FeedState]:
    try:
        data = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    feeds = data.get("feeds") if isinstance(data, dict) else None
    if not isinstance(feeds, dict):
        return {}
    return {url: FeedState.from_dict(url, item) for url, item in feeds.items()}


def save_state(state_dir: Path, states: dict[str, FeedState]) -> None:
    data = {"feeds": {url: asdict(s) for url, s in states.items()}}
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    write_text_atomic(state_dir / STATE_FILE, text, 0o600)


def allowed_lists(feed_config: FeedConfig, state: FeedState) -> tuple[str, ...]:
    """The lists a feed may carry: its configured ``lists``, else the list first applied
    from it (pinned in ``feeds.json``), else any (nothing applied from it yet)."""
    if feed_config.lists:
        return feed_config.lists
    return (state.list_id,) if state.list_id else ()


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def next_delay(every: float, rng: random.Random) -> float:
    """``every`` with ±10% jitter."""
    return every * (1 + rng.uniform(-JITTER, JITTER))


@dataclass
class Outcome:
    """The result of checking one feed, as the service applied it."""

    result: str  # applied | up_to_date | rejected | unreachable
    reason: str | None = None
    new_index: index.BlocklistIndex | None = None
    detail: str | None = None


def remove_leftovers(state_dir: Path) -> None:
    """Remove the temporary files a killed worker leaves (index and download halves)."""
    for pattern in ("index/.*.tmp", "downloads/.download.*"):
        for leftover in state_dir.glob(pattern):
            with contextlib.suppress(OSError):
                leftover.unlink()


@dataclass
class FeedUpdater:
    """The ``updater`` component: holds the indexes and keeps them current.

    ``fetchers`` and ``clock`` replace the worker's network and clock (tests); given
    either, checks run in a thread of this process instead of a worker.
    """

    ctx: ServiceContext
    fetchers: dict[str, Fetcher] = field(default_factory=dict)
    clock: Callable[[], float] | None = None
    rng: random.Random = field(default_factory=random.Random)
    name: str = "updater"
    check_timeout: float = CHECK_TIMEOUT

    def __post_init__(self) -> None:
        self.config = self.ctx.config
        self.state_dir = self.config.state_dir
        self.index_dir = self.state_dir / "index"
        self.holder = index.IndexHolder()
        self.states: dict[str, FeedState] = {}
        self.last_update: dict[str, Any] | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._operator = False
        self.waiting_for_link: list[str] = []
        """Feeds whose last scheduled check waited for a busy café link."""
        self.link_deferrals = 0
        injected = bool(self.fetchers) or self.clock is not None
        from kiosk_agent.service.worker import config_file

        self.config_path = None if injected else config_file(self.config.source)
        """The worker's config file; None: checks run in this process (see the class)."""

    # -- what readers call -------------------------------------------------------------

    def current_index(self) -> index.IndexHolder | None:
        """The holder the resolver and proxy look up through; None while no list is loaded."""
        return self.holder if self.holder.indexes else None

    def versions(self) -> dict[str, int]:
        return self.holder.versions()

    # -- component -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the last good indexes (so the resolver blocks from its first query), then
        check the feeds in the background."""
        self.states = load_state(self.state_dir)
        # A worker killed at the last stop (or by a power cut) may have left temporary
        # files; no check runs yet, so none of them is in use.
        await asyncio.to_thread(remove_leftovers, self.state_dir)
        self.holder = await asyncio.to_thread(index.IndexHolder.open_dir, self.index_dir)
        log.info("blocklist: %d entries in %d list(s)", len(self.holder), len(self.holder.indexes))
        self._wake = asyncio.Event()
        if self.config.filter.feeds:
            if self.config_path is None and not self.fetchers and self.clock is None:
                log.warning(
                    "the config was not read from a file: feed checks run inside the service"
                )
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()  # a running worker is killed (worker.run_worker)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def request_update(self) -> None:
        """Check every feed now (operator's "update now": the café's link is not asked)."""
        if self._wake is not None:
            self._operator = True
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        # A kiosk without any list checks at once; one with a list lets the boot settle.
        delay = self.rng.uniform(*FIRST_CHECK_DELAY) if self.holder.indexes else 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()
            operator, self._operator = self._operator, False
            try:
                await self.update_all(link_gate=not operator)
            except Exception:  # a bug here must not stop future updates
                log.exception("feed update failed")
            delay = next_delay(self.config.filter.update_every, self.rng)
            if self.waiting_for_link:
                from kiosk_agent.hub.gates import busy_retry

                delay = min(delay, busy_retry(self.config.filter.update_every))

    # -- updating -----------------------------------------------------------------------

    async def update_all(self, *, link_gate: bool = False) -> list[Outcome]:
        """Check every configured feed once; returns each feed's outcome. With
        ``link_gate``, a feed whose check may wait for a busy café link
        (``hub.gates.feed_gate``) is left for a retry soon, and has no outcome."""
        async with self._lock:
            outcomes = []
            self.waiting_for_link = []
            for feed_config in self.config.filter.feeds:
                if link_gate and not self._link_allows(feed_config):
                    self.waiting_for_link.append(feed_config.url)
                    continue
                outcomes.append(await self.update_feed(feed_config))
            return outcomes

    def _link_allows(self, feed_config: FeedConfig) -> bool:
        """Whether this feed's check may use the café's uplink now (protection first:
        ``hub.gates.feed_gate``). Only a kiosk with a hub has the café's reading."""
        client = self.ctx.components.get("hub-client")
        reading = getattr(client, "cafe_link", None)
        if client is None or reading is None:
            return True
        from kiosk_agent.hub.gates import busy_retry, feed_gate, last_current

        state = self.states.get(feed_config.url) or FeedState(feed_config.url)
        gate = feed_gate(
            now=time.time(),
            utilization=reading.utilization,
            max_utilization=self.config.reporting.max_link_utilization,
            has_list=state.list_id is not None and state.list_id in self.holder.versions(),
            last_current=last_current(state.applied_at, state.last_check, state.last_result),
            update_every=self.config.filter.update_every,
        )
        if not gate.go:
            self.link_deferrals += 1
            log.info(
                "feed %s: the café's link is busy; checking again in %.0f s",
                _origin(feed_config.url),
                busy_retry(self.config.filter.update_every),
            )
        return gate.go

    async def update_feed(self, feed_config: FeedConfig) -> Outcome:
        state = self.states.setdefault(feed_config.url, FeedState(feed_config.url))
        checked = await self._check(feed_config, state)
        outcome = await self._take(checked)
        if outcome.result == checked.result:
            # Not when the new index could not be opened here: the next check must fetch
            # again rather than hear "not modified".
            for name, value in checked.etags.items():
                setattr(state, name, value)
        if outcome.new_index is not None:
            self.holder.swap(outcome.new_index)  # one assignment: readers see old or new
            state.list_id = outcome.new_index.list_id
            state.version = outcome.new_index.version
            state.applied_at = time.time()
            log.info(
                "list %s version %d applied (%d entries in all lists)",
                state.list_id,
                state.version,
                len(self.holder),
            )
        now = time.time()
        state.last_check = now
        state.last_result = outcome.result
        state.last_reason = outcome.reason
        self.last_update = {
            "at": now,
            "result": outcome.result,
            "reason": outcome.reason,
            "result_words": RESULT_WORDS.get(outcome.result, outcome.result)
            + (f" ({outcome.reason})" if outcome.reason else ""),
        }
        if checked.via is None and outcome.result in ("applied", "up_to_date"):
            state.direct_at = now
        if checked.hub_reason is not None and checked.hub_reason != "unreachable":
            # The café hub offered something this kiosk refused: counted, then the
            # regional server was asked (the outcome above).
            log.warning(
                "feed %s: the café hub's answer was refused (%s)",
                _origin(feed_config.url),
                checked.hub_reason,
            )
            self.ctx.bus.publish(FeedRejected(checked.hub_reason))
        if outcome.result in ("rejected", "unreachable"):
            log.warning(
                "feed %s: %s (%s)", _origin(feed_config.url), outcome.result, outcome.detail
            )
            self.ctx.bus.publish(FeedRejected(outcome.reason or outcome.result))
        try:
            await asyncio.to_thread(save_state, self.state_dir, self.states)
        except OSError as e:
            log.error("cannot save %s: %s", STATE_FILE, e)
        return outcome

    async def _check(self, feed_config: FeedConfig, state: FeedState) -> CheckResult:
        """One check, in a worker process (or in a thread, see the class)."""
        applied = self.holder.versions()
        hub, bundle_hub = await self._hub_for(state)
        if self.config_path is None:
            check = FeedCheck(
                feed_config,
                self.state_dir,
                {**default_fetchers(self.config, self.state_dir), **self.fetchers},
                self._now,
                applied,
                list_id=state.list_id,
                manifest_etag=state.manifest_etag,
                bundle_etag=state.bundle_etag,
                allowed_lists=allowed_lists(feed_config, state),
                hub=hub,
                bundle_hub=bundle_hub,
            )
            return await asyncio.to_thread(check.run)
        from kiosk_agent.service.worker import WorkerError, run_worker

        params = check_params(
            feed_config,
            self.state_dir,
            applied,
            state.list_id,
            state.manifest_etag,
            state.bundle_etag,
            allowed_lists(feed_config, state),
            hub,
            bundle_hub,
        )
        try:
            answer = await run_worker(
                "feed-check", self.config_path, params, timeout=self.check_timeout
            )
            return parse_check_result(answer, self.state_dir)
        except WorkerError as e:
            await asyncio.to_thread(remove_leftovers, self.state_dir)
            return CheckResult("rejected", e.reason, detail=e.detail)
        except ValueError as e:
            return CheckResult("rejected", "worker_bad_output", detail=f"the worker's answer: {e}")

    async def _hub_for(self, state: FeedState) -> tuple[str | None, str | None]:
        """(the café hub to ask first, the hub to take bundles from): (hub, None) while
        the list is fresh; (None, hub) once it is too old to wait for the hub
        (``hub.roles.use_hub_for_feed``): the manifest then comes from the server, which
        a withholding hub cannot fake, and the bundle it names from the hub first."""
        client = self.ctx.components.get("hub-client")
        if client is None:
            return None, None
        now = time.time()
        if state.first_seen is None:
            state.first_seen = now
        wait_ready = getattr(client, "wait_ready", None)
        if wait_ready is not None:
            await wait_ready(40.0)  # a kiosk's first check waits for the hub to be found
        hub = getattr(client, "current_hub", lambda: None)()
        if not isinstance(hub, str):
            return None, None
        from kiosk_agent.hub.roles import use_hub_for_feed

        fresh = use_hub_for_feed(
            now=now,
            first_seen=state.first_seen,
            applied_at=state.applied_at,
            direct_at=state.direct_at,
            update_every=self.config.filter.update_every,
        )
        return (hub, None) if fresh else (None, hub)

    async def _take(self, checked: CheckResult) -> Outcome:
        """Open the index a check wrote (a memory map: no entries are read here)."""
        if checked.result != "applied" or checked.index_path is None:
            return Outcome(checked.result, checked.reason, detail=checked.detail)
        try:
            new = await asyncio.to_thread(index.BlocklistIndex.open, checked.index_path)
        except (index.IndexError_, OSError, ValueError) as e:
            return Outcome("rejected", "index_error", detail=str(e)[:200])
        if (new.list_id, new.version) != (checked.list_id, checked.version):
            # Another writer replaced the file since the check: take what is there only
            # if it is what the check reported.
            new.close()
            return Outcome("rejected", "index_error", detail="the new index is not the one checked")
        return Outcome("applied", new_index=new)

    def _now(self) -> float:
        if self.clock is not None:
            return self.clock()
        from kiosk_agent.net.clock import clock_for

        return clock_for(self.state_dir).now()

    def status(self) -> dict[str, object]:
        lists = []
        by_list = {s.list_id: s for s in self.states.values() if s.list_id}
        for idx in self.holder.indexes:
            s = by_list.get(idx.list_id)
            lists.append(
                {
                    "list_id": idx.list_id,
                    "version": idx.version,
                    "entries": len(idx),
                    "updated_at": s.applied_at if s else None,
                }
            )
        return {
            "feeds": len(self.config.filter.feeds),
            "index_entries": len(self.holder),
            "feed_versions": self.holder.versions(),  # read by reporting for each report
            "lists": lists,
            "last_update": self.last_update,
            "waiting_for_link": len(self.waiting_for_link),
            "link_deferrals": self.link_deferrals,
        }


def create_updater(ctx: ServiceContext) -> FeedUpdater:
    """Always present: with no feeds it still opens indexes left on disk."""
    return FeedUpdater(ctx)
