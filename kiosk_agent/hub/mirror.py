"""The hub's feed mirror: a pull-through cache of the regional server's feed directories.

The hub mirrors the feeds of its own config (``filter.feeds``), each under
``feed_key(url)`` (kiosks of the café share the config, so they know the key; a kiosk
cannot make the hub fetch any other URL). ``manifest.json`` is fetched again, with its
ETag, when the cached copy is older than ``MANIFEST_FRESH``; a bundle file is fetched the
first time any kiosk asks for it and then served from disk, so a full bundle and each
delta cross the café's uplink once whatever the number of PCs. Fetches run in a worker
(``mirror_fetch_job``: ``requests`` and TLS stay out of the service), one at a time per
file (the PCs asking at once wait for the same download). The hub checks every bundle
against its own trusted keys before serving it; kiosks check again with theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk_agent.atomic import write_atomic
from kiosk_agent.config import FeedConfig
from kiosk_agent.contracts import manifest
from kiosk_agent.hub.roles import feed_key

log = logging.getLogger(__name__)

MIRROR_DIR = "hub-mirror"
MANIFEST_FRESH = 900.0
"""At most this many seconds a mirrored manifest is served before the hub asks the server
again (``fresh_for``: a quarter of ``update_every``, so a new version reaches the café's
PCs within 1.25 × ``update_every``, and the café's PCs checking at different moments
cost the uplink one revalidation per quarter interval, not one each)."""
FETCH_TIMEOUT = 3600.0
_FILE = re.compile(r"^(?:manifest\.json|full-\d{1,19}\.bundle|delta-\d{1,19}-\d{1,19}\.bundle)\Z")

FetchJob = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass
class Served:
    """A mirrored file to send: its path and ETag, or None and an HTTP status."""

    status: int
    path: Path | None = None
    etag: str | None = None
    message: str = ""


def file_etag(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return '"' + h.hexdigest()[:32] + '"'


class Mirror:
    """The hub's side of ``GET /hub/v1/feeds/<key>/<file>``."""

    def __init__(
        self,
        feeds: tuple[FeedConfig, ...],
        state_dir: Path,
        fetch: FetchJob,
        update_every: float = 4 * MANIFEST_FRESH,
    ) -> None:
        self.fresh_for = min(MANIFEST_FRESH, update_every / 4)
        self.feeds = {feed_key(f.url): f for f in feeds if not f.url.endswith(".bundle")}
        self.root = Path(state_dir) / MIRROR_DIR
        self.fetch = fetch
        self.checked: dict[str, float] = {}
        self._flights: dict[tuple[str, str], asyncio.Future[Served]] = {}
        self._etags: dict[Path, tuple[int, int, str]] = {}
        self.upstream_fetches = 0
        self.fetched: list[str] = []
        """Bundle files fetched from upstream, in order (status, tests)."""

    def status(self) -> dict[str, Any]:
        mirrored = {}
        for key in self.feeds:
            with contextlib.suppress(OSError, manifest.ManifestError):
                m = manifest.read_manifest(self.root / key)
                if m is not None:
                    mirrored[m.list_id] = m.latest
        return {"feeds": len(self.feeds), "mirrored": mirrored, "fetches": self.upstream_fetches}

    async def get(self, key: str, name: str) -> Served:
        feed = self.feeds.get(key)
        if feed is None or not _FILE.match(name):
            return Served(404, message="this hub does not mirror that feed")
        flight = (key, name)
        if flight in self._flights:  # another PC asked for the same file: share the fetch
            return await asyncio.shield(self._flights[flight])
        future: asyncio.Future[Served] = asyncio.get_running_loop().create_future()
        self._flights[flight] = future
        try:
            served = await self._get(feed, key, name)
            future.set_result(served)
            return served
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: no "never retrieved" warning
            raise
        finally:
            del self._flights[flight]

    async def _get(self, feed: FeedConfig, key: str, name: str) -> Served:
        directory = self.root / key
        path = directory / name
        if name == manifest.MANIFEST:
            fresh = time.monotonic() - self.checked.get(key, -1e9) < self.fresh_for
            if not fresh or not path.exists():
                await self._refresh_manifest(feed, key, directory)
        elif not path.exists():
            result = await self._run_fetch(feed, directory, name, None)
            if result.get("result") != "fetched":
                return Served(502, message=str(result.get("detail") or "cannot fetch"))
            self.fetched.append(name)
        if not path.exists():
            return Served(502, message="the regional server could not be reached")
        return Served(200, path, await asyncio.to_thread(self._etag, path))

    async def _refresh_manifest(self, feed: FeedConfig, key: str, directory: Path) -> None:
        path = directory / manifest.MANIFEST
        etag_file = directory / ".manifest-etag"
        etag = None
        if path.exists():
            with contextlib.suppress(OSError):
                etag = etag_file.read_text(encoding="utf-8").strip() or None
        result = await self._run_fetch(feed, directory, manifest.MANIFEST, etag)
        if result.get("result") in ("fetched", "not_modified"):
            self.checked[key] = time.monotonic()
        if result.get("result") == "fetched":
            new_etag = result.get("etag")
            with contextlib.suppress(OSError):
                write_atomic(etag_file, str(new_etag or "").encode())
            await asyncio.to_thread(_prune, directory)

    async def _run_fetch(
        self, feed: FeedConfig, directory: Path, name: str, etag: str | None
    ) -> dict[str, Any]:
        self.upstream_fetches += 1
        params = {
            "url": f"{feed.url.rstrip('/')}/{name}",
            "dest": str(directory / name),
            "etag": etag,
            "trust": list(feed.trust),
        }
        try:
            return await self.fetch(params)
        except Exception as e:  # a crashed or killed worker: the kiosks go direct
            log.warning("hub mirror: fetching %s failed: %s", name, e)
            return {"result": "failed", "detail": str(e)[:300]}

    def _etag(self, path: Path) -> str:
        st = path.stat()
        cached = self._etags.get(path)
        if cached is not None and cached[:2] == (st.st_size, st.st_mtime_ns):
            return cached[2]
        etag = file_etag(path)
        self._etags[path] = (st.st_size, st.st_mtime_ns, etag)
        return etag


def _prune(directory: Path) -> None:
    """Remove bundle files the mirrored manifest no longer names."""
    try:
        m = manifest.read_manifest(directory)
    except (OSError, manifest.ManifestError):
        return
    if m is None:
        return
    keep = set(m.files())
    for path in directory.glob("*.bundle"):
        if path.name not in keep:
            with contextlib.suppress(OSError):
                path.unlink()


def mirror_fetch(config: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Fetch one feed file into the mirror (blocking): a manifest is checked for shape,
    a bundle for its signature with the hub's trusted keys, before it is moved in."""
    from kiosk_agent.contracts import feed
    from kiosk_agent.filter.feed_check import FetchError, default_fetchers

    url = params.get("url")
    dest = params.get("dest")
    etag = params.get("etag")
    trust = params.get("trust")
    if not isinstance(url, str) or not isinstance(dest, str):
        raise ValueError("job parameters url and dest must be strings")
    if etag is not None and not isinstance(etag, str):
        raise ValueError("job parameter etag must be a string")
    if not isinstance(trust, list) or not all(isinstance(k, str) for k in trust):
        raise ValueError("job parameter trust must be a list of keys")
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    scheme = url.split(":", 1)[0]
    fetcher = default_fetchers(config, target.parent / ".downloads").get(scheme)
    if fetcher is None:
        return {"result": "failed", "detail": f"unsupported scheme {scheme}"}
    limit = manifest.MAX_MANIFEST if target.name == manifest.MANIFEST else 512 * 1024 * 1024
    try:
        fetched = fetcher.fetch(url, etag, limit)
    except FetchError as e:
        return {"result": "failed", "detail": str(e)}
    if fetched.path is None:
        return {"result": "not_modified", "etag": fetched.etag}
    try:
        if target.name == manifest.MANIFEST:
            manifest.parse_manifest(fetched.path.read_bytes())
        else:
            feed.verify_signature(fetched.path, tuple(trust))
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(fetched.path, tmp)
        os.replace(tmp, target)
    except (manifest.ManifestError, feed.FeedError, OSError) as e:
        return {"result": "failed", "detail": f"{target.name}: {e}"[:300]}
    finally:
        fetched.discard()
    return {"result": "fetched", "etag": fetched.etag}


def mirror_fetch_job(config: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """``kiosk-agent worker hub-fetch``."""
    return mirror_fetch(config, params)
