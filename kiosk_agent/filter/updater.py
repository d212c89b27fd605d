"""The feed updater: keeps each list's index current, never losing the last good one.

For each ``filter.feeds[]`` URL, every ``filter.update_every`` (with ±10% jitter, so a
region's kiosks do not all call at once) and on demand (``request_update``):

1. A feed directory (docs/contracts.md): GET ``manifest.json`` with ``If-None-Match``;
   304 or an unchanged version ends the check. Otherwise fetch the delta from the applied
   version when the manifest lists it, else the full bundle. A URL naming a ``.bundle``
   file is fetched (with its own ETag) and applied as it is.
2. Verify through ``feed.read_bundle`` (trusted key, signature, rollback, base, expiry
   judged with the clock corrected from servers' ``Date`` headers).
3. ``index.apply_bundle`` writes the new index file beside the old one and renames it
   into place; the new index is opened and swapped into the ``IndexHolder`` that the
   resolver and proxy read through, in one assignment, while they keep answering.

Any failure keeps the last good index, emits ``FeedRejected(reason)`` (a ``FeedError``
code, or ``unreachable``, ``bad_manifest``, ``index_error``) and is retried at the next
check. The agent's own HTTP goes through ``direct_http`` (names resolved through the
upstream DNS servers directly, never the local or system resolver), so updates work at
boot and when the local resolver is broken. ``file://`` URLs read a directory on disk.
State (list id, applied version, ETag, times, last result per feed) is written
atomically to ``state_dir/feeds.json``; it holds URLs and versions, never list entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kiosk_agent.atomic import write_text_atomic
from kiosk_agent.config import Config, FeedConfig
from kiosk_agent.filter import feed, index, manifest
from kiosk_agent.reporting.events import FeedRejected
from kiosk_agent.service import ServiceContext

log = logging.getLogger(__name__)

STATE_FILE = "feeds.json"
MAX_BUNDLE = 512 * 1024 * 1024
FIRST_CHECK_DELAY = (2.0, 20.0)  # seconds after start: boot first, then the network
JITTER = 0.1

RESULT_WORDS = {
    "applied": "a new list version was applied",
    "up_to_date": "the list was already up to date",
    "rejected": "an update was refused; the previous list stays in force",
    "unreachable": "the feed server could not be reached; the previous list stays in force",
}


class FetchError(Exception):
    """A feed file could not be fetched; the message says why in plain words."""


@dataclass(frozen=True)
class Fetched:
    """One fetched file: ``path`` is None when the server said it had not changed (304)."""

    path: Path | None
    etag: str | None
    temporary: bool = False

    def discard(self) -> None:
        if self.temporary and self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()


class Fetcher(Protocol):
    def fetch(self, url: str, etag: str | None, limit: int) -> Fetched:
        """GET ``url`` (blocking) unless its ETag is still ``etag``."""
        ...


class FileFetcher:
    """``file://`` URLs: the file itself; its ETag is its size and modification time."""

    def fetch(self, url: str, etag: str | None, limit: int) -> Fetched:
        import urllib.request  # here: it pulls in http.client and email (≈ 15 ms at start)

        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
        try:
            st = path.stat()
        except OSError as e:
            raise FetchError(f"cannot read {path}: {e.strerror}") from None
        tag = f'"{st.st_size}-{st.st_mtime_ns}"'
        if etag == tag:
            return Fetched(None, tag)
        if st.st_size > limit:
            raise FetchError(f"{path} is larger than {limit} bytes")
        return Fetched(path, tag)


class HttpFetcher:
    """``https://`` / ``http://`` through ``direct_http`` (upstream DNS, corrected clock)."""

    def __init__(self, config: Config, download_dir: Path) -> None:
        self.config = config
        self.download_dir = download_dir
        self._session: Any = None

    def session(self) -> Any:
        if self._session is None:
            from kiosk_agent.clock import clock_for
            from kiosk_agent.direct_http import session_for_config

            self._session = session_for_config(self.config, clock=clock_for(self.config.state_dir))
        return self._session

    def fetch(self, url: str, etag: str | None, limit: int) -> Fetched:
        import requests

        headers = {"If-None-Match": etag} if etag else {}
        try:
            response = self.session().get(url, headers=headers, stream=True, timeout=(15, 60))
        except (requests.RequestException, OSError) as e:
            raise FetchError(f"cannot reach {_origin(url)}: {_short(e)}") from None
        except Exception as e:  # NoUpstreamError and DNS failures from direct_http
            raise FetchError(f"cannot reach {_origin(url)}: {_short(e)}") from None
        with response:
            if response.status_code == 304:
                return Fetched(None, etag)
            if response.status_code != 200:
                raise FetchError(f"{_origin(url)} answered HTTP {response.status_code}")
            self.download_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".download.", dir=self.download_dir)
            size = 0
            try:
                with os.fdopen(fd, "wb") as f:
                    for chunk in response.iter_content(64 * 1024):
                        size += len(chunk)
                        if size > limit:
                            raise FetchError(f"{_origin(url)} sent more than {limit} bytes")
                        f.write(chunk)
            except (requests.RequestException, OSError) as e:
                with contextlib.suppress(OSError):
                    os.unlink(name)
                raise FetchError(f"download from {_origin(url)} failed: {_short(e)}") from None
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(name)
                raise
            return Fetched(Path(name), response.headers.get("ETag"), temporary=True)


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def _short(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


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

    @classmethod
    def from_dict(cls, url: str, data: object) -> FeedState:
        state = cls(url)
        if isinstance(data, dict):
            for name in ("list_id", "manifest_etag", "bundle_etag", "last_result", "last_reason"):
                if isinstance(data.get(name), str):
                    setattr(state, name, data[name])
            if isinstance(data.get("version"), int):
                state.version = data["version"]
            for name in ("applied_at", "last_check"):
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
    write_text_atomic(state_dir / STATE_FILE, json.dumps(data, indent=2, sort_keys=True) + "\n")


def next_delay(every: float, rng: random.Random) -> float:
    """``every`` with ±10% jitter."""
    return every * (1 + rng.uniform(-JITTER, JITTER))


@dataclass
class Outcome:
    """The result of checking one feed (made in a worker thread, applied on the loop)."""

    result: str  # applied | up_to_date | rejected | unreachable
    reason: str | None = None
    new_index: index.BlocklistIndex | None = None
    detail: str | None = None


@dataclass
class FeedUpdater:
    """The ``updater`` component: holds the indexes and keeps them current."""

    ctx: ServiceContext
    fetchers: dict[str, Fetcher] = field(default_factory=dict)
    clock: Callable[[], float] | None = None
    rng: random.Random = field(default_factory=random.Random)
    name: str = "updater"

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
        self.fetchers.setdefault("file", FileFetcher())
        http = HttpFetcher(self.config, self.state_dir / "downloads")
        self.fetchers.setdefault("https", http)
        self.fetchers.setdefault("http", http)

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
        self.holder = await asyncio.to_thread(index.IndexHolder.open_dir, self.index_dir)
        log.info("blocklist: %d entries in %d list(s)", len(self.holder), len(self.holder.indexes))
        self._wake = asyncio.Event()
        if self.config.filter.feeds:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def request_update(self) -> None:
        """Check every feed now (operator's "update now")."""
        if self._wake is not None:
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
            try:
                await self.update_all()
            except Exception:  # a bug here must not stop future updates
                log.exception("feed update failed")
            delay = next_delay(self.config.filter.update_every, self.rng)

    # -- updating -----------------------------------------------------------------------

    async def update_all(self) -> list[Outcome]:
        """Check every configured feed once; returns each feed's outcome."""
        async with self._lock:
            outcomes = []
            for feed_config in self.config.filter.feeds:
                outcomes.append(await self.update_feed(feed_config))
            return outcomes

    async def update_feed(self, feed_config: FeedConfig) -> Outcome:
        state = self.states.setdefault(feed_config.url, FeedState(feed_config.url))
        applied = self._applied_version(state)
        outcome = await asyncio.to_thread(self._check, feed_config, state, applied)
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

    def _applied_version(self, state: FeedState) -> int | None:
        """The version the index holds for this feed's list (None: apply a full bundle)."""
        if state.list_id is None:
            return None
        versions = self.holder.versions()
        return versions.get(state.list_id)

    def _now(self) -> float:
        if self.clock is not None:
            return self.clock()
        from kiosk_agent.clock import clock_for

        return clock_for(self.state_dir).now()

    def _fetcher(self, url: str) -> Fetcher:
        scheme = urllib.parse.urlsplit(url).scheme
        fetcher = self.fetchers.get(scheme)
        if fetcher is None:
            raise FetchError(f"unsupported feed URL scheme {scheme!r}")
        return fetcher

    def _check(self, feed_config: FeedConfig, state: FeedState, applied: int | None) -> Outcome:
        """Fetch, verify and build (blocking; runs in a worker thread)."""
        url = feed_config.url
        try:
            if url.endswith(".bundle"):
                fetched = self._fetcher(url).fetch(url, state.bundle_etag, MAX_BUNDLE)
                if fetched.path is None:
                    return Outcome("up_to_date")
                try:
                    outcome = self._apply(fetched.path, feed_config, applied, single=True)
                finally:
                    fetched.discard()
                if outcome.result in ("applied", "up_to_date"):
                    state.bundle_etag = fetched.etag
                return outcome
            return self._check_directory(feed_config, state, applied)
        except FetchError as e:
            return Outcome("unreachable", "unreachable", detail=str(e))

    def _check_directory(
        self, feed_config: FeedConfig, state: FeedState, applied: int | None
    ) -> Outcome:
        base = feed_config.url.rstrip("/")
        fetcher = self._fetcher(base)
        etag = state.manifest_etag if applied is not None else None
        fetched = fetcher.fetch(f"{base}/{manifest.MANIFEST}", etag, manifest.MAX_MANIFEST)
        if fetched.path is None:
            return Outcome("up_to_date")
        try:
            m = manifest.parse_manifest(fetched.path.read_bytes())
        except (manifest.ManifestError, OSError) as e:
            return Outcome("rejected", "bad_manifest", detail=str(e))
        finally:
            fetched.discard()
        if state.list_id is not None and m.list_id != state.list_id:
            applied = self.holder.versions().get(m.list_id)
        name = manifest.choose_file(m, applied)
        if name is None:
            state.manifest_etag = fetched.etag
            return Outcome("up_to_date")
        outcome = self._fetch_and_apply(fetcher, base, name, feed_config, applied)
        if outcome.reason == "base_mismatch" and name != m.full:
            # The delta does not fit the index on disk (a damaged or replaced index): the
            # full bundle repairs that in the same check.
            outcome = self._fetch_and_apply(fetcher, base, m.full, feed_config, None)
        if outcome.result == "applied":
            state.manifest_etag = fetched.etag
        return outcome

    def _fetch_and_apply(
        self, fetcher: Fetcher, base: str, name: str, feed_config: FeedConfig, applied: int | None
    ) -> Outcome:
        fetched = fetcher.fetch(f"{base}/{name}", None, MAX_BUNDLE)
        assert fetched.path is not None
        try:
            return self._apply(fetched.path, feed_config, applied, single=False)
        finally:
            fetched.discard()

    def _apply(
        self, path: Path, feed_config: FeedConfig, applied: int | None, *, single: bool
    ) -> Outcome:
        try:
            header = feed.read_header(path)
            if single:
                # A bare bundle URL may serve the version already applied: not a rollback.
                applied = self.holder.versions().get(header.list_id)
                if applied is not None and header.version == applied:
                    return Outcome("up_to_date")
            bundle = feed.read_bundle(
                path, feed_config.trust, applied_version=applied, now=self._now()
            )
            target = index.index_path(self.state_dir, bundle.header.list_id)
            index.apply_bundle(target, bundle)
            new = index.BlocklistIndex.open(target)
        except feed.FeedError as e:
            return Outcome("rejected", e.code, detail=str(e))
        except (index.IndexError_, OSError, ValueError) as e:
            return Outcome("rejected", "index_error", detail=_short(e))
        return Outcome("applied", new_index=new)

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
        }


def create_updater(ctx: ServiceContext) -> FeedUpdater:
    """Always present: with no feeds it still opens indexes left on disk."""
    return FeedUpdater(ctx)
