"""P2P sightings: known file-sharing clients in the process list, tracker names in DNS.

Abuse material travels on peer-to-peer networks disguised as ordinary downloads. The
agent cannot see what is shared, but it can count that sharing happened: a process
named like a known client (sampled every ``filter.p2p.sample_every``), or a DNS query
for a BitTorrent DHT bootstrap or tracker name (seen by the resolver). Each kind is
reported once per customer session as ``P2PSeen(kind)``: counts of sessions with P2P,
not of packets. Nothing about which process or which name is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kiosk_agent.config import P2PConfig
from kiosk_agent.reporting.events import Event, EventBus, P2PSeen, SessionStarted

if TYPE_CHECKING:
    from kiosk_agent.service.context import ServiceContext

log = logging.getLogger(__name__)

# Client families -> process names as the OS shows them (lowercase, without ".exe").
# Java-based clients (FrostWire, Vuze, LimeWire run as "java"/"javaw") are only seen
# through their native launchers; see docs/p2p.md.
KNOWN_CLIENTS: Mapping[str, tuple[str, ...]] = {
    "bittorrent": (
        "qbittorrent",
        "qbittorrent-nox",
        "utorrent",
        "utorrentie",
        "utweb",
        "bittorrent",
        "bittorrentie",
        "transmission",
        "transmission-gtk",
        "transmission-qt",
        "transmission-daemon",
        "transmission-cli",
        "deluge",
        "deluged",
        "deluge-gtk",
        "deluge-console",
        "vuze",
        "azureus",
        "biglybt",
        "tixati",
        "bitcomet",
        "frostwire",
        "bitlord",
        "ktorrent",
        "rtorrent",
        "tribler",
        "webtorrent",
        "halite",
        "bitspirit",
        "qqdownload",
        "thunder",
        "xunlei",
        "picotorrent",
    ),
    "ed2k": ("emule", "amule", "amuled", "amulegui", "xmule", "mldonkey", "mlnet", "edonkey2000"),
    "gnutella": (
        "ares",
        "aresgalaxy",
        "limewire",
        "wirelimewire",
        "shareaza",
        "bearshare",
        "morpheus",
        "gtk-gnutella",
        "phex",
        "kazaa",
        "imesh",
        "cabos",
    ),
    "soulseek": ("soulseekqt", "slsk", "nicotine"),
}

# BitTorrent DHT bootstrap routers and widely used public trackers. A query for one of
# these names, or a subdomain of one, is a sighting of kind "tracker".
KNOWN_TRACKER_HOSTS: tuple[str, ...] = (
    "router.bittorrent.com",
    "router.utorrent.com",
    "dht.transmissionbt.com",
    "router.bitcomet.com",
    "dht.aelitis.com",
    "dht.libtorrent.org",
    "dht.vuze.com",
    "router.silotis.us",
    "tracker.opentrackr.org",
    "tracker.openbittorrent.com",
    "open.stealth.si",
    "exodus.desync.com",
    "tracker.torrent.eu.org",
    "open.demonii.com",
    "tracker.coppersurfer.tk",
    "tracker.leechers-paradise.org",
    "tracker.internetwarriors.net",
    "tracker.cyberia.is",
    "explodie.org",
    "tracker.tiny-vps.com",
    "tracker.moeking.me",
    "opentracker.i2p.rocks",
    "tracker.dler.org",
    "open.tracker.cl",
    "tracker1.bt.moack.co.kr",
    "tracker.theoks.net",
)

TRACKER_KIND = "tracker"
P2P_CATEGORY = "p2p"
"""The block category of tracker / DHT names under ``policy: block``."""

LINUX_COMM_LEN = 15  # Linux truncates a process's name (comm) to 15 bytes


def normalize_process_name(name: str) -> str:
    """``"uTorrent.exe"`` -> ``"utorrent"``: lowercase, without a Windows ``.exe``."""
    name = name.strip().lower()
    return name[:-4] if name.endswith(".exe") else name


class ClientMatcher:
    """Maps a process name to a client family, or None. Pure; built once from the lists."""

    def __init__(
        self,
        families: Mapping[str, Iterable[str]] = KNOWN_CLIENTS,
        extra: Iterable[str] = (),
    ) -> None:
        self._by_name: dict[str, str] = {}
        self._by_prefix: dict[str, str] = {}
        for family, names in families.items():
            for raw in names:
                self._add(normalize_process_name(raw), family)
        for raw in extra:
            self._add(normalize_process_name(raw), "other")

    def _add(self, name: str, family: str) -> None:
        self._by_name.setdefault(name, family)
        if len(name) > LINUX_COMM_LEN:
            self._by_prefix.setdefault(name[:LINUX_COMM_LEN], family)

    def family(self, process_name: str) -> str | None:
        name = normalize_process_name(process_name)
        found = self._by_name.get(name)
        if found is None and len(name) == LINUX_COMM_LEN:
            found = self._by_prefix.get(name)  # a truncated Linux comm
        return found


class TrackerMatcher:
    """True for a query name that is a tracker / DHT name or a subdomain of one."""

    def __init__(self, hosts: Iterable[str] = KNOWN_TRACKER_HOSTS, extra: Iterable[str] = ()):
        self.hosts = frozenset(h.strip(".").lower() for h in (*hosts, *extra))
        # A match is the name itself or a parent of it with two labels or more; the
        # resolver asks for every query, so: one set lookup and one C-level endswith.
        self._names = frozenset(h for h in self.hosts if "." in h)
        self._suffixes = tuple("." + h for h in self._names)

    def matches(self, name: str) -> bool:
        name = name.rstrip(".").lower()
        return name in self._names or name.endswith(self._suffixes)


class SessionGate:
    """Lets each kind through once per customer session; ``reset`` starts a new session.

    Thread-safe: the sampler runs in a worker thread, session events arrive from the
    control API.
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def first(self, kind: str) -> bool:
        with self._lock:
            if kind in self._seen:
                return False
            self._seen.add(kind)
            return True

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()


class SessionSightings:
    """Publishes ``P2PSeen(kind)`` once per session per kind; resets on ``SessionStarted``."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.gate = SessionGate()
        self.total: dict[str, int] = {}
        self._unsubscribe = bus.subscribe(self._on_event, types=(SessionStarted,))

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self.gate.reset()

    def seen(self, kind: str) -> bool:
        """Record a sighting; True if it was the first of its kind this session."""
        self.total[kind] = self.total.get(kind, 0) + 1
        if self.gate.first(kind):
            self.bus.publish(P2PSeen(kind))
            return True
        return False

    def close(self) -> None:
        self._unsubscribe()


ProcessNames = Callable[[], Iterable[str]]


def running_process_names() -> list[str]:
    """Names of the running processes, as cheaply as psutil can list them.

    ``process_iter(["name"])`` reads one small file per process on Linux and one
    system call snapshot on Windows; processes that vanish or deny access are skipped.
    """
    import psutil

    names: list[str] = []
    for proc in psutil.process_iter(["name"]):
        name = proc.info.get("name")
        if name:
            names.append(name)
    return names


def families_in(names: Iterable[str], matcher: ClientMatcher) -> set[str]:
    """The client families among ``names`` (pure: what one sample found)."""
    found: set[str] = set()
    for name in names:
        family = matcher.family(name)
        if family is not None:
            found.add(family)
    return found


class P2PSampler:
    """The service component that samples the process list every ``sample_every`` seconds.

    Sampling runs in a worker thread so a slow process table never holds up the resolver
    sharing the event loop.
    """

    name = "p2p"

    def __init__(
        self,
        config: P2PConfig,
        bus: EventBus,
        *,
        process_names: ProcessNames = running_process_names,
    ) -> None:
        self.config = config
        self.matcher = ClientMatcher(extra=config.processes)
        self.sightings = SessionSightings(bus)
        self.process_names = process_names
        self.samples = 0
        self.sample_seconds = 0.0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def sample_once(self) -> set[str]:
        """Take one sample (blocking) and report what it found."""
        started = time.thread_time()
        try:
            found = families_in(self.process_names(), self.matcher)
        finally:
            self.sample_seconds += time.thread_time() - started
            self.samples += 1
        for family in sorted(found):
            self.sightings.seen(family)
        return found

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.sample_once)
                self.last_error = None
            except Exception as e:  # psutil on a locked-down PC: keep trying, say so
                self.last_error = type(e).__name__
                log.warning("p2p sample failed: %s", type(e).__name__)
            await asyncio.sleep(self.config.sample_every)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="p2p-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self.sightings.close()

    def status(self) -> dict[str, Any]:
        mean_ms = 1000 * self.sample_seconds / self.samples if self.samples else 0.0
        return {
            "policy": self.config.policy,
            "sample_every": self.config.sample_every,
            "samples": self.samples,
            "mean_sample_cpu_ms": round(mean_ms, 2),
            "sightings": dict(self.total_by_kind()),
            "last_error": self.last_error,
        }

    def total_by_kind(self) -> dict[str, int]:
        return dict(self.sightings.total)


def p2p_component(ctx: ServiceContext) -> P2PSampler:
    """The sampler for the service (always on: ``count`` is the default policy)."""
    return P2PSampler(ctx.config.filter.p2p, ctx.bus)
