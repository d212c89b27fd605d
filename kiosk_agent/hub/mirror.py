"""The hub's mirror: a pull-through cache of the regional server's signed directories.

The hub mirrors the directories of its own config, each under ``feed_key(url)`` (kiosks
of the café share the config, so they know the key; a kiosk cannot make the hub fetch
any other URL): the feeds (``filter.feeds``) and the signed directories of
``updates`` (key announcements, content packs, the region's and the café's settings
overlays, ``updates.check.source_urls``) whose trust keys are set. What each kind of
directory holds and how the hub checks it is one ``DirKind`` in ``DIR_KINDS``; the
signed kinds mirrored are ``SIGNED_DIRS`` (adding a kind is one entry in each).

``manifest.json`` is fetched again, with its ETag, when the cached copy is older than
``fresh_for`` (at most ``MANIFEST_FRESH``); any other file is fetched the first time a
kiosk asks for it and then served from disk, so a full bundle and each delta cross the
café's uplink once whatever the number of PCs. Fetches run in a worker
(``mirror_fetch_job``: ``requests`` and TLS stay out of the service), one at a time per
file (the PCs asking at once wait for the same download). The hub checks every bundle
against its own trusted keys before serving it, and every signed file for its kind and
shape (its signature may need key announcements the hub has not applied: each kiosk
checks it with its own keys and chain, as it would from the server).

Program releases (``DirKind.background``) are not fetched while a kiosk waits: a kiosk's
request marks the release wanted (503 meanwhile) and the hub's release round
(``release_round``) downloads it once for the café when the link has room, resumable,
verifies it with the hub's own release keys, and only then offers it
(docs/cafe-hub.md, "Program releases through the hub").
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
from kiosk_agent.contracts import manifest, signed_dir
from kiosk_agent.hub.roles import feed_key

log = logging.getLogger(__name__)

MIRROR_DIR = "hub-mirror"
MANIFEST_FRESH = 900.0
"""At most this many seconds a mirrored manifest is served before the hub asks the server
again (``fresh_for``: a quarter of ``update_every``, so a new version reaches the café's
PCs within 1.25 × ``update_every``, and the café's PCs checking at different moments
cost the uplink one revalidation per quarter interval, not one each)."""
FETCH_TIMEOUT = 3600.0
RELEASE_SLICE = 1200.0
"""One release fetch downloads for at most this long (as a kiosk's check does); the rest
comes at the next round, resumed from the partial file."""
REFUSED_RETRY = 6 * 3600.0
"""A release the hub refused (bad signature, wrong version: a hostile or broken server)
is not downloaded again for this long; kiosks asking for it go to the server meanwhile."""

FetchJob = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class DirKind:
    """A kind of mirrored directory: the files it may hold (besides ``manifest.json``)
    and the size limits; the checks are ``_check_manifest`` and ``_check_file``."""

    name: str
    files: re.Pattern[str]
    max_manifest: int
    max_file: int
    background: bool = False
    """Files fetched by the hub's own release round (``Mirror.release_round``: resumable,
    when the café's link has room) instead of while a kiosk waits: a program release is
    minutes over a café's link, longer than a kiosk waits for an answer."""


DIR_KINDS = {
    k.name: k
    for k in (
        DirKind(
            "feed",
            re.compile(r"^(?:full-\d{1,19}\.bundle|delta-\d{1,19}-\d{1,19}\.bundle)\Z"),
            manifest.MAX_MANIFEST,
            512 * 1024 * 1024,
        ),
        DirKind("keys", re.compile(r"^keys-\d{1,19}\.signed\Z"), signed_dir.MAX_MANIFEST, 1 << 20),
        DirKind(
            "content",
            re.compile(r"^content-\d{1,19}\.signed\Z"),
            signed_dir.MAX_MANIFEST,
            16 << 20,
        ),
        DirKind(
            "settings",
            re.compile(r"^settings-\d{1,19}\.signed\Z"),
            signed_dir.MAX_MANIFEST,
            1 << 20,
        ),
        DirKind(
            "release",
            re.compile(r"^release-\d{1,19}\.signed\Z"),
            signed_dir.MAX_MANIFEST,
            80 * 1024 * 1024,  # updates.check.MAX_RELEASE (kiosks read no larger one)
            background=True,
        ),
    )
}
SIGNED_DIRS = {
    "keys": "keys",
    "content": "content",
    "settings": "settings",
    "cafe_settings": "settings",  # a café's own overlay: a settings directory
    "release": "release",  # program releases: fetched in the hub's release round
}
"""The ``updates`` sources the hub mirrors (``updates.check.source_urls`` names) → their
``DIR_KINDS`` kind; mirrored when the kiosks would read it (``updates.<kind>.trust``, or
``updates.keys.roots`` for announcements, set)."""


@dataclass(frozen=True)
class MirroredDir:
    """One directory the hub mirrors: its URL, kind and the hub's trust keys for it."""

    url: str
    kind: str
    trust: tuple[str, ...]


def mirrored_dirs(config: Any) -> dict[str, MirroredDir]:
    """The directories of the hub's own config, by ``feed_key(url)``: its feeds, and the
    signed directories whose kind has trust keys (kiosks ignore a kind without them)."""
    from kiosk_agent.updates.check import source_urls

    dirs = {
        feed_key(f.url): MirroredDir(f.url, "feed", tuple(f.trust))
        for f in config.filter.feeds
        if not f.url.endswith(".bundle")
    }
    urls = source_urls(config)
    for source, kind in SIGNED_DIRS.items():
        url = urls.get(source)
        section = getattr(config.updates, kind)
        trust = tuple(section.roots if kind == "keys" else section.trust)
        if url and trust:
            dirs[feed_key(url)] = MirroredDir(url, kind, trust)
    return dirs


def fresh_for(config: Any, kind: str) -> float:
    """How long a mirrored manifest of ``kind`` is served before the hub revalidates it:
    a quarter of how often kiosks check it, at most ``MANIFEST_FRESH``."""
    every = config.filter.update_every if kind == "feed" else config.updates.check_every
    return float(min(MANIFEST_FRESH, every / 4))


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
        dirs: Mapping[str, MirroredDir],
        state_dir: Path,
        fetch: FetchJob,
        fresh: Mapping[str, float] | None = None,
    ) -> None:
        self.fresh = dict(fresh or {})
        """Seconds a manifest is served before revalidation, per kind (``fresh_for``)."""
        self.feeds = dict(dirs)
        self.root = Path(state_dir) / MIRROR_DIR
        self.fetch = fetch
        self.checked: dict[str, float] = {}
        self._flights: dict[tuple[str, str], asyncio.Future[Served]] = {}
        self._etags: dict[Path, tuple[int, int, str]] = {}
        self.upstream_fetches = 0
        self.fetched: list[str] = []
        """Bundle files fetched from upstream, in order (status, tests)."""
        self.wanted: dict[str, set[str]] = {}
        """Release files a kiosk asked for and the hub has not got yet, per directory."""
        self.refused: dict[tuple[str, str], float] = {}
        """(key, name) of releases the hub refused, with when (monotonic)."""
        self.release_deferred: str | None = None
        """Why the last release round waited (``link_busy``, ``outside_offpeak``), or None."""
        self.release_results: list[dict[str, Any]] = []
        """The last release fetches' results (status; at most 10)."""
        self.release_wake: asyncio.Event | None = None

    def status(self) -> dict[str, Any]:
        mirrored = {}
        for key, d in self.feeds.items():
            with contextlib.suppress(OSError, manifest.ManifestError, signed_dir.ManifestError):
                if d.kind == "feed":
                    m = manifest.read_manifest(self.root / key)
                    if m is not None:
                        mirrored[m.list_id] = m.latest
                else:
                    s = signed_dir.read_manifest(self.root / key)
                    if s is not None:
                        mirrored[s.subject] = s.latest
        return {
            "directories": len(self.feeds),
            "feeds": sum(d.kind == "feed" for d in self.feeds.values()),
            "mirrored": mirrored,
            "fetches": self.upstream_fetches,
            "releases": {
                "wanted": sorted(n for names in self.wanted.values() for n in names),
                "deferred": self.release_deferred,
                "refused": sorted(name for _, name in self.refused),
                "last": self.release_results[-3:],
            },
        }

    async def get(self, key: str, name: str) -> Served:
        feed = self.feeds.get(key)
        if feed is None or not (
            name == manifest.MANIFEST or DIR_KINDS[feed.kind].files.match(name)
        ):
            return Served(404, message="this hub does not mirror that directory")
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

    async def _get(self, feed: MirroredDir, key: str, name: str) -> Served:
        directory = self.root / key
        path = directory / name
        if name == manifest.MANIFEST:
            fresh_for = self.fresh.get(feed.kind, MANIFEST_FRESH)
            fresh = time.monotonic() - self.checked.get(key, -1e9) < fresh_for
            if not fresh or not path.exists():
                await self._refresh_manifest(feed, key, directory)
        elif not path.exists() and DIR_KINDS[feed.kind].background:
            return self._want(key, directory, name)
        elif not path.exists():
            result = await self._run_fetch(feed, directory, name, None)
            if result.get("result") != "fetched":
                return Served(502, message=str(result.get("detail") or "cannot fetch"))
            self.fetched.append(name)
        if not path.exists():
            return Served(502, message="the regional server could not be reached")
        return Served(200, path, await asyncio.to_thread(self._etag, path))

    def _want(self, key: str, directory: Path, name: str) -> Served:
        """A kiosk asked for a release the hub has not got: the release round fetches it
        if the mirrored manifest offers it (503 meanwhile: the kiosk waits a bounded time
        for the hub, docs/cafe-hub.md); 404 (the kiosk goes to the server) otherwise."""
        if name not in release_keep(directory):
            return Served(404, message="this hub does not offer that release")
        refused = self.refused.get((key, name))
        if refused is not None and time.monotonic() - refused < REFUSED_RETRY:
            return Served(502, message="the hub refused that release from upstream")
        self.wanted.setdefault(key, set()).add(name)
        if self.release_wake is not None:
            self.release_wake.set()
        return Served(503, message="the hub is fetching this release; ask again later")

    async def release_round(self, gate: Callable[[], tuple[bool, str]]) -> None:
        """Fetch the releases kiosks asked for (and partial ones a power cut left), one
        at a time, each in slices of ``RELEASE_SLICE``, while ``gate`` says the café's
        link has room; prune releases the manifest no longer offers."""
        for key, d in self.feeds.items():
            if not DIR_KINDS[d.kind].background:
                continue
            directory = self.root / key
            keep = await asyncio.to_thread(release_keep, directory)
            await asyncio.to_thread(_prune, directory, d.kind)
            partial = {p.name[1:-5] for p in _partials(directory)}
            wanted = self.wanted.setdefault(key, set())
            wanted &= keep
            for name in sorted((wanted | partial) & keep):
                if (directory / name).exists():
                    wanted.discard(name)
                    continue
                refused = self.refused.get((key, name))
                if refused is not None and time.monotonic() - refused < REFUSED_RETRY:
                    wanted.discard(name)
                    continue
                go, reason = gate()
                if not go:
                    self.release_deferred = reason
                    return
                self.release_deferred = None
                result = await self._run_fetch(d, directory, name, None)
                self.release_results = [*self.release_results[-9:], {"file": name, **result}]
                if result.get("result") == "fetched":
                    self.fetched.append(name)
                    wanted.discard(name)
                elif result.get("result") == "rejected":
                    log.warning("hub mirror: release %s refused: %s", name, result.get("detail"))
                    self.refused[(key, name)] = time.monotonic()
                    wanted.discard(name)

    async def _refresh_manifest(self, feed: MirroredDir, key: str, directory: Path) -> None:
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
            await asyncio.to_thread(_prune, directory, feed.kind)

    async def _run_fetch(
        self, feed: MirroredDir, directory: Path, name: str, etag: str | None
    ) -> dict[str, Any]:
        self.upstream_fetches += 1
        started = time.monotonic()
        params = {
            "url": f"{feed.url.rstrip('/')}/{name}",
            "dest": str(directory / name),
            "etag": etag,
            "trust": list(feed.trust),
            "kind": feed.kind,
        }
        try:
            result = await self.fetch(params)
        except Exception as e:  # a crashed or killed worker: the kiosks go direct
            log.warning("hub mirror: fetching %s failed: %s", name, e)
            return {"result": "failed", "detail": str(e)[:300]}
        log.info(
            "hub mirror: %s %s in %.1f s",
            name,
            result.get("result"),
            time.monotonic() - started,
        )
        return result

    def _etag(self, path: Path) -> str:
        st = path.stat()
        cached = self._etags.get(path)
        if cached is not None and cached[:2] == (st.st_size, st.st_mtime_ns):
            return cached[2]
        etag = file_etag(path)
        self._etags[path] = (st.st_size, st.st_mtime_ns, etag)
        return etag


def release_keep(directory: Path) -> set[str]:
    """The release files the hub offers: the mirrored manifest's latest and, while a new
    release is staged, its stable one (every kiosk's target is one of the two:
    ``signed_dir.target_version``). Older releases are never a kiosk's target."""
    try:
        m = signed_dir.read_manifest(directory)
    except (OSError, signed_dir.ManifestError):
        return set()
    if m is None:
        return set()
    versions = {m.latest} | ({m.rollout.stable} if m.rollout is not None else set())
    return {m.files[v] for v in versions if v in m.files}


def _partials(directory: Path) -> list[Path]:
    """Release downloads in progress (``.<name>.part``, never served)."""
    files = DIR_KINDS["release"].files
    try:
        return [
            p
            for p in directory.iterdir()
            if p.name.startswith(".") and p.name.endswith(".part") and files.match(p.name[1:-5])
        ]
    except OSError:
        return []


def _prune(directory: Path, kind: str = "feed") -> None:
    """Remove the files the mirrored manifest no longer names (for releases: that it no
    longer offers, ``release_keep``, partial downloads included: the disk bound)."""
    if kind == "release":
        keep = release_keep(directory)
        if not keep:
            return
        partial = {p.name: p.name[1:-5] for p in _partials(directory)}
        with contextlib.suppress(OSError):
            for path in directory.iterdir():
                name = partial.get(path.name, path.name)
                if DIR_KINDS[kind].files.match(name) and name not in keep:
                    with contextlib.suppress(OSError):
                        path.unlink()
        return
    try:
        if kind == "feed":
            m = manifest.read_manifest(directory)
            keep = set() if m is None else set(m.files())
        else:
            s = signed_dir.read_manifest(directory)
            keep = set() if s is None else set(s.files.values())
    except (OSError, manifest.ManifestError, signed_dir.ManifestError):
        return
    if not keep:
        return
    files = DIR_KINDS[kind].files
    for path in directory.iterdir():
        if files.match(path.name) and path.name not in keep:
            with contextlib.suppress(OSError):
                path.unlink()


def _check_manifest(kind: str, data: bytes) -> None:
    if kind == "feed":
        manifest.parse_manifest(data)
        return
    m = signed_dir.parse_manifest(data)
    if m.kind != kind:
        raise signed_dir.ManifestError(f"a {m.kind} manifest where {kind} was expected")


def _check_file(kind: str, path: Path, trust: tuple[str, ...]) -> None:
    """A feed bundle: its signature with the hub's keys. A signed file: its kind and
    shape (kiosks verify the signature with their own keys and announcements)."""
    from kiosk_agent.contracts import feed, signed

    if kind == "feed":
        feed.verify_signature(path, trust)
        return
    claims = signed.read_signed_header(path.read_bytes()).claims
    if claims.kind != kind:
        raise signed.SignedError("wrong_kind", f"a {claims.kind} file where {kind} was expected")


def mirror_fetch(config: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Fetch one feed file into the mirror (blocking): a manifest is checked for shape,
    a bundle for its signature with the hub's trusted keys, before it is moved in."""
    from kiosk_agent.contracts import signed
    from kiosk_agent.filter.feed_check import FetchError, default_fetchers

    url = params.get("url")
    dest = params.get("dest")
    etag = params.get("etag")
    trust = params.get("trust")
    kind = params.get("kind", "feed")
    if kind not in DIR_KINDS:
        raise ValueError("job parameter kind is not a mirrored kind")
    if not isinstance(url, str) or not isinstance(dest, str):
        raise ValueError("job parameters url and dest must be strings")
    if etag is not None and not isinstance(etag, str):
        raise ValueError("job parameter etag must be a string")
    if not isinstance(trust, list) or not all(isinstance(k, str) for k in trust):
        raise ValueError("job parameter trust must be a list of keys")
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    if DIR_KINDS[kind].background and target.name != manifest.MANIFEST:
        seconds = params.get("seconds", RELEASE_SLICE)
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
            raise ValueError("job parameter seconds must be a positive number")
        return fetch_release(config, url, target, tuple(trust), float(seconds))
    scheme = url.split(":", 1)[0]
    fetcher = default_fetchers(config, target.parent / ".downloads").get(scheme)
    if fetcher is None:
        return {"result": "failed", "detail": f"unsupported scheme {scheme}"}
    spec = DIR_KINDS[kind]
    limit = spec.max_manifest if target.name == manifest.MANIFEST else spec.max_file
    try:
        fetched = fetcher.fetch(url, etag, limit)
    except FetchError as e:
        return {"result": "failed", "detail": str(e)}
    if fetched.path is None:
        return {"result": "not_modified", "etag": fetched.etag}
    try:
        if target.name == manifest.MANIFEST:
            _check_manifest(kind, fetched.path.read_bytes())
        else:
            _check_file(kind, fetched.path, tuple(trust))
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(fetched.path, tmp)
        os.replace(tmp, target)
    except (manifest.ManifestError, signed_dir.ManifestError, signed.SignedError, OSError) as e:
        return {"result": "failed", "detail": f"{target.name}: {e}"[:300]}
    finally:
        fetched.discard()
    return {"result": "fetched", "etag": fetched.etag}


def fetch_release(
    config: Any, url: str, target: Path, trust: tuple[str, ...], seconds: float
) -> dict[str, Any]:
    """Download a program release into ``.<name>.part`` (resuming what a cut or a power
    cut left, for at most ``seconds``), verify it as a kiosk would (the hub's release
    keys as its announcements left them, signature, size, SHA-256, expiry, and the
    version its name says), and only then move it to ``target``: a kiosk is never
    served a partial or unverified file. Blocking; runs in the ``hub-fetch`` worker."""
    from kiosk_agent.contracts import keys, release, signed
    from kiosk_agent.net.clock import clock_for
    from kiosk_agent.updates import download
    from kiosk_agent.updates.check import load_trust_state

    part = target.with_name(f".{target.name}.part")
    opener: download.Opener | None = None
    if url.startswith(("http://", "https://")):
        from kiosk_agent.filter.feed_check import HttpFetcher

        fetcher = HttpFetcher(config, target.parent / ".downloads")

        def open_(url: str, headers: dict[str, str]) -> Any:
            return download.requests_opener(fetcher.session())(url, headers)

        opener = open_
    resumed = part.is_file() and part.stat().st_size > 0
    try:
        download.download(
            url, part, DIR_KINDS["release"].max_file, opener,
            deadline=time.monotonic() + seconds,
        )  # fmt: skip
    except download.DownloadPaused as e:
        return {"result": "paused", "detail": str(e)[:300]}
    except download.DownloadError as e:
        return {"result": "failed", "detail": str(e)[:300]}
    now = clock_for(config.state_dir).now()
    trusted = keys.effective_keys(trust, load_trust_state(config.state_dir), now)
    try:
        f = release.read_release(part.read_bytes(), trusted, floor=None, now=now)
        if target.name != f"release-{f.claims.version}.signed":
            raise signed.Rollback(f"{target.name} holds version {f.claims.version}")
        size = part.stat().st_size
        os.replace(part, target)
    except signed.SignedError as e:
        part.unlink(missing_ok=True)  # never resume onto bytes that failed the checks
        if resumed:
            # The partial bytes may be what a power cut damaged, not the server's fault:
            # the next round downloads it whole before the hub refuses it for hours.
            return {"result": "failed", "detail": f"resumed file refused ({e.code}): again"}
        return {"result": "rejected", "reason": e.code, "detail": str(e)[:300]}
    except OSError as e:
        return {"result": "failed", "detail": f"{target.name}: {e}"[:300]}
    return {"result": "fetched", "bytes": size}


def mirror_fetch_job(config: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """``kiosk-agent worker hub-fetch``."""
    return mirror_fetch(config, params)
