"""The agent's YAML config, loaded into typed, frozen objects.

Validation collects every problem before failing: each names the key path, the bad
value and what is allowed, so an operator fixes the whole file in one pass. Unknown
keys are errors too (a typo must not silently switch a protection off).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

T = TypeVar("T")
S = TypeVar("S")

DEFAULT_STATE_DIR = "/var/lib/kiosk-agent"
NOTICE_TRIGGERS = ("login", "idle_reset", "billing_hook", "agent_start")
BLOCK_ANSWERS = ("nxdomain", "sinkhole")
REPORT_PERIODS = ("day",)
P2P_POLICIES = ("count", "block")
HUB_MODES = ("auto", "this", "off")
HUB_CONSOLES = ("loopback", "lan")
YOUTUBE_MODES = ("moderate", "strict", "off")

# Public DNS-over-HTTPS endpoints that browsers can use to bypass the local resolver.
DEFAULT_DOH_HOSTS = (
    "dns.google",
    "dns.google.com",
    "cloudflare-dns.com",
    "mozilla.cloudflare-dns.com",
    "chrome.cloudflare-dns.com",
    "1dot1dot1dot1.cloudflare-dns.com",
    "one.one.one.one",
    "security.cloudflare-dns.com",
    "family.cloudflare-dns.com",
    "doh.opendns.com",
    "doh.familyshield.opendns.com",
    "dns.quad9.net",
    "dns9.quad9.net",
    "dns10.quad9.net",
    "dns11.quad9.net",
    "doh.cleanbrowsing.org",
    "dns.adguard.com",
    "dns.adguard-dns.com",
    "dns.nextdns.io",
    "doh.dns.sb",
    "dns.alidns.com",
    "doh.pub",
    "dns.controld.com",
    "doh.mullvad.net",
)

# The published DEMO feed key (config/demo/DEMO-feed-signing.pub): its private key is in
# the repository, so anyone can sign with it. Only a config marked ``demo: true`` may trust
# it, and such a config may never manage an installed kiosk's DNS.
DEMO_FEED_KEYS = frozenset({"ed25519:rhp28ZHKQKvTFLRmViAt5opfJXTY6tfgSeZ2B0Ny4TI="})

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_LANG = re.compile(r"^[a-z]{2,3}$")
_TRUST_KEY = re.compile(r"^ed25519:[A-Za-z0-9+/]{43}=$")


class ConfigError(Exception):
    """Every problem found in a config, one line each in ``problems``."""

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n{lines}")


def parse_duration(value: object) -> float:
    """Seconds from ``30``, ``"8s"``, ``"10m"``, ``"6h"``, ``"30d"``, ``"250ms"``.

    Raises ``ValueError`` for anything else (negative values included).
    """
    if isinstance(value, bool):
        raise ValueError("not a duration")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("negative duration")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("not a duration")
    m = _DURATION.match(value)
    if not m:
        raise ValueError("not a duration")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_host_port(value: str, default_port: int | None = None) -> HostPort:
    """``"127.0.0.1:53"``, ``"[::1]:53"``, or a bare address with ``default_port``.

    The host must be an IP address literal: the agent never needs a name to find
    its own sockets or its upstream resolvers.
    """
    value = value.strip()
    host: str
    port_text: str | None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError("unclosed '['")
        host, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError("expected ':port' after ']'")
        port_text = rest[1:] if rest else None
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    else:
        host, port_text = value, None
    ipaddress.ip_address(host)  # raises ValueError
    if port_text is None:
        if default_port is None:
            raise ValueError("missing ':port'")
        return HostPort(host, default_port)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("port must be 1-65535")
    return HostPort(host, int(port_text))


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[Any], Any]:
    def convert(value: Any) -> str:
        if value not in choices:
            raise ValueError
        return str(value)

    return convert


def _youtube_mode(value: Any) -> Any:
    """``filter.safe_search.youtube``; YAML reads a bare ``off`` as false."""
    return "off" if value is False else str(_choice(YOUTUBE_MODES)(value))


def _hub(value: Any) -> str:
    """``auto``, ``this``, ``off``, or ``http://IP:PORT`` (an address: the LAN has no
    names the agent trusts, and the agent's own lookups never use the local resolver)."""
    if value in HUB_MODES:
        return str(value)
    if not isinstance(value, str) or not value.startswith("http://"):
        raise ValueError
    hp = parse_host_port(value.removeprefix("http://").rstrip("/"))
    return f"http://{hp}"


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value


def _int_range(lo: int, hi: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError
        return value

    return convert


def _float_range(lo: float, hi: float) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise ValueError
        return float(value)

    return convert


def _duration_range(lo: float, hi: float) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        seconds = parse_duration(value)
        if not lo <= seconds <= hi:
            raise ValueError
        return seconds

    return convert


def _list_of(
    item: Callable[[Any], T], *, non_empty: bool = False
) -> Callable[[Any], tuple[T, ...]]:
    def convert(value: Any) -> tuple[T, ...]:
        if isinstance(value, str) or not isinstance(value, list):
            raise ValueError
        if non_empty and not value:
            raise ValueError
        return tuple(item(v) for v in value)

    return convert


def _host_port(default_port: int | None) -> Callable[[Any], HostPort]:
    def convert(value: Any) -> HostPort:
        if not isinstance(value, str):
            raise ValueError
        return parse_host_port(value, default_port)

    return convert


def _upstream(value: Any) -> str:
    if value == "auto":
        return "auto"
    return str(_host_port(53)(value))


def _country(value: Any) -> str:
    if not isinstance(value, str) or not _COUNTRY.match(value):
        raise ValueError
    return value


def _lang(value: Any) -> str:
    if not isinstance(value, str) or not _LANG.match(value):
        raise ValueError
    return value


def _hostname(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", value.strip(".")):
        raise ValueError
    return value.strip(".").lower()


def _url(schemes: tuple[str, ...]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or not any(value.startswith(s + "://") for s in schemes):
            raise ValueError
        if len(value) <= len(value.split("://")[0]) + 3:
            raise ValueError
        return value.rstrip("/") if not value.startswith("file://") else value

    return convert


def _offpeak(value: Any) -> tuple[str, str]:
    if not isinstance(value, str) or value.count("-") != 1:
        raise ValueError
    start, end = (p.strip() for p in value.split("-"))
    if not _HHMM.match(start) or not _HHMM.match(end) or start == end:
        raise ValueError
    return (start, end)


def _scrypt_hash(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("scrypt$"):
        raise ValueError
    return value


_LIST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


def _list_id(value: Any) -> str:
    if not isinstance(value, str) or not _LIST_ID.match(value):
        raise ValueError
    return value


def _trust_key(value: Any) -> str:
    if not isinstance(value, str) or not _TRUST_KEY.match(value):
        raise ValueError
    return value


def _path(value: Any) -> Path:
    return Path(_str(value))


# Each config key is declared once, as a field of the dataclass of its section: its type
# and default are the field's, and its metadata says how to read it from YAML and what is
# allowed (the text every problem message ends with). The loader below walks the fields,
# so the known keys, the unknown-key check and the errors all follow from the fields.
# A field without this metadata (Config.source) is not a config key. docs/config.md.
_META = "kiosk_agent.config"


class Key:
    """How one config key is read: ``convert`` raises ValueError/TypeError for a bad value.

    ``section``: the field is a nested mapping read as that dataclass (``convert`` unused);
    ``items``: the field is a list of mappings, each read as that dataclass;
    ``required``: the problem reported when the key is absent (null counts as absent);
    ``switch``: a section that may also be written as ``true``/``false``, which sets this
    one field of it (``filter.safe_search: false``).
    ``overlay``: the region may set it through a signed settings overlay (docs/config.md);
    a key without it is local-only (state folder, listen addresses, PIN, trust roots).
    """

    # A plain class with slots: one per key lives as long as the process, so it is kept
    # small (a dataclass would add generated methods and a __dict__ per key).
    __slots__ = ("allowed", "convert", "items", "overlay", "required", "section", "switch")

    def __init__(
        self,
        allowed: str,
        convert: Callable[[Any], Any] | None = None,
        *,
        section: type | None = None,
        items: type | None = None,
        required: str | None = None,
        switch: str | None = None,
        overlay: bool = False,
    ) -> None:
        self.allowed = allowed
        self.switch = switch
        self.convert = convert
        self.section = section
        self.items = items
        self.required = required
        self.overlay = overlay


def key(
    convert: Callable[[Any], Any],
    allowed: str,
    *,
    required: str | None = None,
    overlay: bool = False,
) -> dict[str, Key]:
    """Field metadata for a plain key (``overlay``: a region's settings overlay may set it)."""
    return {_META: Key(allowed, convert, required=required, overlay=overlay)}


def section(cls: type, *, switch: str | None = None) -> dict[str, Key]:
    """Field metadata for a nested section (the field's default_factory is ``cls``);
    with ``switch``, ``true``/``false`` in place of the mapping sets that field alone."""
    allowed = "expected a mapping of keys" + (", true or false" if switch else "")
    return {_META: Key(allowed, section=cls, switch=switch)}


def items(cls: type, allowed: str, *, overlay: bool = False) -> dict[str, Key]:
    """Field metadata for a list of mappings, each read as ``cls`` (``overlay``: the
    region's overlay may replace the whole list)."""
    return {_META: Key(allowed, items=cls, overlay=overlay)}


def declared_keys(cls: type) -> list[tuple[Field[Any], Key]]:
    """The config keys of a section dataclass with their declarations, in field order."""
    # Not cached: a config is read a few times per process, and a cache would stay in memory.
    return [(f, f.metadata[_META]) for f in fields(cls) if _META in f.metadata]


@dataclass(frozen=True)
class CafeConfig:
    name: str = field(default="Demo Café", metadata=key(_str, "expected the café's name"))
    country: str = field(default="KE", metadata=key(_country, "expected an ISO 3166 code like KE"))
    region: str = field(default="KE-NBO", metadata=key(_str, "expected a region code like KE-NBO"))
    languages: tuple[str, ...] = field(
        default=("en",),
        metadata=key(
            _list_of(_lang, non_empty=True),
            "expected a non-empty list of language codes like [sw, en]",
            overlay=True,
        ),
    )
    hub: str = field(
        default="auto",
        metadata=key(
            _hub, "expected auto, this, off or the hub's address like http://192.0.2.10:8055"
        ),
    )
    """``auto`` (find the café hub by mDNS), ``this`` (this PC is the hub), ``off``, or
    the hub's ``http://ADDRESS:PORT`` (docs/cafe-hub.md)."""
    hub_listen: HostPort = field(
        default=HostPort("0.0.0.0", 8055),
        metadata=key(
            _host_port(8055),
            "expected an address like 0.0.0.0:8055 (where this PC serves as the hub)",
        ),
    )
    hub_console: Literal["loopback", "lan"] = field(
        default="loopback", metadata=key(_choice(HUB_CONSOLES), "expected loopback or lan")
    )


@dataclass(frozen=True)
class OperatorConfig:
    # Only the scrypt hash of the operator's PIN is ever stored, never the PIN.
    pin_scrypt: str | None = field(
        default=None, metadata=key(_scrypt_hash, "expected a hash written by the install wizard")
    )


@dataclass(frozen=True)
class FeedConfig:
    url: str = field(
        metadata=key(
            _url(("https", "http", "file")),
            "expected an https:// or file:// URL",
            required="a feed needs a url",
        )
    )
    trust: tuple[str, ...] = field(
        metadata=key(
            _list_of(_trust_key, non_empty=True),
            "expected a non-empty list of 'ed25519:BASE64' public keys",
            required="a feed needs at least one trusted key",
        )
    )
    lists: tuple[str, ...] = field(
        default=(),
        metadata=key(
            _list_of(_list_id, non_empty=True),
            "expected a non-empty list of list ids (letters, digits, . _ -)",
        ),
    )
    """The list ids this feed may carry; empty: the first one applied from it (pinned in
    ``feeds.json``). A bundle for any other list is rejected (``wrong_list``)."""


@dataclass(frozen=True)
class CacheConfig:
    max_entries: int = field(
        default=10_000, metadata=key(_int_range(0, 10_000_000), "expected 0-10000000")
    )
    min_ttl: float = field(
        default=0.0, metadata=key(_duration_range(0, 86400), "expected a duration up to 1d")
    )
    max_ttl: float = field(
        default=86_400.0,
        metadata=key(_duration_range(0, 7 * 86400), "expected a duration up to 7d"),
    )
    negative_ttl: float = field(
        default=300.0, metadata=key(_duration_range(0, 86400), "expected a duration up to 1d")
    )
    stale_for: float = field(
        default=86_400.0,
        metadata=key(_duration_range(0, 7 * 86400), "expected a duration up to 7d"),
    )


@dataclass(frozen=True)
class ProxyConfig:
    enabled: bool = field(default=False, metadata=key(_bool, "expected true or false"))
    http_listen: HostPort = field(
        default=HostPort("127.0.0.10", 80),
        metadata=key(_host_port(80), "expected an address like 127.0.0.10:80"),
    )
    https_listen: HostPort = field(
        default=HostPort("127.0.0.10", 443),
        metadata=key(_host_port(443), "expected an address like 127.0.0.10:443"),
    )
    max_connections: int = field(
        default=256, metadata=key(_int_range(1, 10_000), "expected 1-10000")
    )
    idle_timeout: float = field(
        default=60.0,
        metadata=key(_duration_range(1, 3600), "expected a duration from 1s to 1h"),
    )


@dataclass(frozen=True)
class GuardConfig:
    """``filter.guard``: the browser extension's loopback API (docs/browser-guard.md)."""

    enabled: bool = field(default=True, metadata=key(_bool, "expected true or false"))
    listen: HostPort = field(
        default=HostPort("127.0.0.1", 8054),
        metadata=key(_host_port(8054), "expected a loopback address like 127.0.0.1:8054"),
    )


@dataclass(frozen=True)
class P2PConfig:
    policy: Literal["count", "block"] = field(
        default="count",
        metadata=key(_choice(P2P_POLICIES), "expected count or block", overlay=True),
    )
    sample_every: float = field(
        default=30.0,
        metadata=key(_duration_range(1, 3600), "expected a duration from 1s to 1h"),
    )
    processes: tuple[str, ...] = field(
        default=(), metadata=key(_list_of(_str), "expected a list of process names")
    )
    tracker_hosts: tuple[str, ...] = field(
        default=(), metadata=key(_list_of(_hostname), "expected a list of host names")
    )


@dataclass(frozen=True)
class SafeSearchConfig:
    """``filter.safe_search``: each engine's safe mode, all on by default (issue 17); the
    region may set it through its settings overlay."""

    enabled: bool = field(default=True, metadata=key(_bool, "expected true or false", overlay=True))
    google: bool = field(default=True, metadata=key(_bool, "expected true or false", overlay=True))
    bing: bool = field(default=True, metadata=key(_bool, "expected true or false", overlay=True))
    duckduckgo: bool = field(
        default=True, metadata=key(_bool, "expected true or false", overlay=True)
    )
    youtube: Literal["moderate", "strict", "off"] = field(
        default="moderate",
        metadata=key(_youtube_mode, "expected moderate, strict or off", overlay=True),
    )


@dataclass(frozen=True)
class FilterConfig:
    listen: tuple[HostPort, ...] = field(
        default=(HostPort("127.0.0.1", 53),),
        metadata=key(
            _list_of(_host_port(53), non_empty=True),
            "expected a list of addresses like 127.0.0.1:53",
        ),
    )
    upstreams: tuple[str, ...] = field(
        default=("auto",),
        metadata=key(
            _list_of(_upstream, non_empty=True),
            "expected a list of 'auto' or addresses like 192.0.2.1:53",
        ),
    )
    upstream_timeout: float = field(
        default=2.0,
        metadata=key(_duration_range(0.05, 30), "expected a duration from 50ms to 30s"),
    )
    block_answer: Literal["nxdomain", "sinkhole"] = field(
        default="nxdomain",
        metadata=key(_choice(BLOCK_ANSWERS), "expected nxdomain or sinkhole"),
    )
    block_ttl: int = field(
        default=60, metadata=key(_int_range(0, 86400), "expected 0-86400 seconds")
    )
    blockpage_listen: HostPort = field(
        default=HostPort("127.0.0.9", 80),
        metadata=key(_host_port(80), "expected an address like 127.0.0.9:80"),
    )
    manage_system_dns: bool = field(default=False, metadata=key(_bool, "expected true or false"))
    watchdog_every: float = field(
        default=30.0,
        metadata=key(_duration_range(1, 3600), "expected a duration from 1s to 1h"),
    )
    feeds: tuple[FeedConfig, ...] = field(
        default=(), metadata=items(FeedConfig, "expected a list of {url, trust}", overlay=True)
    )
    update_every: float = field(
        default=6 * 3600.0,
        metadata=key(
            _duration_range(60, 30 * 86400),
            "expected a duration from 1m to 30d, like 6h",
            overlay=True,
        ),
    )
    doh_hosts: tuple[str, ...] = field(
        default=DEFAULT_DOH_HOSTS,
        metadata=key(_list_of(_hostname), "expected a list of host names"),
    )
    cache: CacheConfig = field(default_factory=CacheConfig, metadata=section(CacheConfig))
    proxy: ProxyConfig = field(default_factory=ProxyConfig, metadata=section(ProxyConfig))
    p2p: P2PConfig = field(default_factory=P2PConfig, metadata=section(P2PConfig))
    guard: GuardConfig = field(default_factory=GuardConfig, metadata=section(GuardConfig))
    safe_search: SafeSearchConfig = field(
        default_factory=SafeSearchConfig, metadata=section(SafeSearchConfig, switch="enabled")
    )


def _signed_dir_url() -> Any:
    """A ``url`` key: the directory of one kind of signed file (its manifest.json)."""
    return field(
        default=None,
        metadata=key(
            _url(("https", "http", "file")),
            "expected an https:// or file:// URL of a directory with manifest.json",
        ),
    )


def _pinned_keys() -> Any:
    """A list of pinned Ed25519 public keys (``trust``, ``roots``)."""
    return field(
        default=(),
        metadata=key(_list_of(_trust_key), "expected a list of 'ed25519:BASE64' public keys"),
    )


@dataclass(frozen=True)
class SignedSourceConfig:
    """Where a kiosk reads one kind of signed file, and the keys pinned for it."""

    url: str | None = _signed_dir_url()
    trust: tuple[str, ...] = _pinned_keys()


@dataclass(frozen=True)
class KeysConfig:
    """Key announcements (docs/keys.md): where to read them, and the region's root keys."""

    url: str | None = _signed_dir_url()
    roots: tuple[str, ...] = _pinned_keys()


SERVICE_MANAGERS = ("auto", "command")


@dataclass(frozen=True)
class ReleaseConfig:
    """Program releases (docs/fleet.md, "Program releases"): where to read them, the
    release keys, and how this PC's service is stopped and started for the switch."""

    url: str | None = _signed_dir_url()
    trust: tuple[str, ...] = _pinned_keys()
    program_dir: Path | None = field(
        default=None,
        metadata=key(_path, "expected the folder of the installed program (default: the OS's)"),
    )
    service: str = field(
        default="auto",
        metadata=key(
            _choice(SERVICE_MANAGERS),
            "expected auto (systemd; on Windows the task) or command (stop_command, start_command)",
        ),
    )
    stop_command: tuple[str, ...] = field(
        default=(), metadata=key(_list_of(_str), "expected a command as a list of words")
    )
    start_command: tuple[str, ...] = field(
        default=(), metadata=key(_list_of(_str), "expected a command as a list of words")
    )
    health_timeout: float = field(
        default=60.0,
        metadata=key(_duration_range(5, 600), "expected a duration from 5s to 10m, like 60s"),
    )


@dataclass(frozen=True)
class UpdatesConfig:
    """Signed content packs, settings overlays and key announcements from the regional
    server (docs/fleet.md). A URL left out is the reporting server's ``/feeds/content``,
    ``/feeds/settings-<region>``, ``/feeds/keys``; nothing is accepted without trust keys."""

    content: SignedSourceConfig = field(
        default_factory=SignedSourceConfig, metadata=section(SignedSourceConfig)
    )
    settings: SignedSourceConfig = field(
        default_factory=SignedSourceConfig, metadata=section(SignedSourceConfig)
    )
    keys: KeysConfig = field(default_factory=KeysConfig, metadata=section(KeysConfig))
    release: ReleaseConfig = field(default_factory=ReleaseConfig, metadata=section(ReleaseConfig))
    check_every: float = field(
        default=6 * 3600.0,
        metadata=key(
            _duration_range(10, 30 * 86400),
            "expected a duration from 10s to 30d, like 6h",
            overlay=True,
        ),
    )


@dataclass(frozen=True)
class NoticesConfig:
    triggers: tuple[str, ...] = field(
        default=("login", "idle_reset", "billing_hook"),
        metadata=key(
            _list_of(_choice(NOTICE_TRIGGERS)),
            f"expected a list of: {', '.join(NOTICE_TRIGGERS)}",
            overlay=True,
        ),
    )
    idle_reset_after: float = field(
        default=600.0,
        metadata=key(_duration_range(30, 86400), "expected a duration from 30s to 1d, like 10m"),
    )
    min_display: float = field(
        default=8.0,
        metadata=key(
            _duration_range(0, 120), "expected a duration from 0s to 2m, like 8s", overlay=True
        ),
    )
    min_gap: float = field(
        default=120.0, metadata=key(_duration_range(0, 86400), "expected a duration up to 1d")
    )
    font_size: int = field(default=22, metadata=key(_int_range(12, 48), "expected 12-48"))


@dataclass(frozen=True)
class ReportingConfig:
    server: str | None = field(
        default=None, metadata=key(_url(("https", "http")), "expected an https:// URL")
    )
    # Days only: no time finer than the day leaves the kiosk, and the server refuses
    # shorter periods (422).
    period: Literal["day"] = field(
        default="day", metadata=key(_choice(REPORT_PERIODS), "expected day (reports are daily)")
    )
    max_link_utilization: float = field(
        default=0.3,
        metadata=key(_float_range(0.01, 1.0), "expected a fraction from 0.01 to 1.0", overlay=True),
    )
    daily_budget_bytes: int = field(
        default=200_000,
        metadata=key(
            _int_range(1000, 10**10), "expected a byte count of at least 1000", overlay=True
        ),
    )
    offpeak: tuple[str, str] | None = field(
        default=None,
        metadata=key(_offpeak, "expected a local time window like '22:00-06:00'", overlay=True),
    )
    ca_bundle: str | None = field(default=None, metadata=key(_str, "expected a path to a PEM file"))
    flush_every: float = field(
        default=5.0,
        metadata=key(_duration_range(1, 3600), "expected a duration from 1s to 1h"),
    )
    upload_every: float = field(
        default=900.0,
        metadata=key(
            _duration_range(10, 86400), "expected a duration from 10s to 1d", overlay=True
        ),
    )
    max_reports: int = field(
        default=400, metadata=key(_int_range(10, 100_000), "expected 10-100000")
    )


@dataclass(frozen=True)
class ControlConfig:
    listen: HostPort = field(
        default=HostPort("127.0.0.1", 8053),
        metadata=key(_host_port(None), "expected a loopback address like 127.0.0.1:8053"),
    )


@dataclass(frozen=True)
class Config:
    state_dir: Path = field(
        default=Path(DEFAULT_STATE_DIR), metadata=key(_path, "expected a folder path")
    )
    demo: bool = field(default=False, metadata=key(_bool, "expected true or false"))
    cafe: CafeConfig = field(default_factory=CafeConfig, metadata=section(CafeConfig))
    operator: OperatorConfig = field(
        default_factory=OperatorConfig, metadata=section(OperatorConfig)
    )
    filter: FilterConfig = field(default_factory=FilterConfig, metadata=section(FilterConfig))
    notices: NoticesConfig = field(default_factory=NoticesConfig, metadata=section(NoticesConfig))
    reporting: ReportingConfig = field(
        default_factory=ReportingConfig, metadata=section(ReportingConfig)
    )
    control: ControlConfig = field(default_factory=ControlConfig, metadata=section(ControlConfig))
    updates: UpdatesConfig = field(default_factory=UpdatesConfig, metadata=section(UpdatesConfig))
    source: str = "<defaults>"  # where the config came from; not a key


class _Reader:
    """Walks a YAML mapping, converting values and recording every problem with its path."""

    def __init__(self, demo: bool) -> None:
        self.problems: list[str] = []
        self.demo = demo  # the document's own ``demo: true``, which some checks depend on
        self._path: list[str] = []

    def where(self, key: str | None = None) -> str:
        parts = [*self._path, key] if key is not None else self._path
        return ".".join(parts) or "(top level)"

    def problem(self, key: str | None, value: object, allowed: str) -> None:
        self.problems.append(f"{self.where(key)}: {_show(value)} is not allowed; {allowed}")

    @contextmanager
    def section(self, key: str) -> Iterator[None]:
        self._path.append(key)
        try:
            yield
        finally:
            self._path.pop()

    def read(self, cls: type[S], data: Mapping[Any, Any], **extra: Any) -> S:
        """``cls`` built from ``data`` by its declared keys; bad values keep their default."""
        declared = declared_keys(cls)
        known = [f.name for f, _ in declared]
        for k in data:
            if k not in known:
                self.problems.append(
                    f"{self.where(str(k))}: unknown key; known keys here: {', '.join(known)}"
                )
        values = {f.name: self.value(f, spec, data) for f, spec in declared}
        built = cls(**values, **extra)
        for check in _CHECKS.get(cls, ()):
            check(built, data, self)
        return built

    def value(self, f: Field[Any], spec: Key, data: Mapping[Any, Any]) -> Any:
        name = f.name
        raw = data.get(name)
        if spec.section is not None:
            if spec.switch is not None and isinstance(raw, bool):
                raw = {spec.switch: raw}
            if raw is not None and not isinstance(raw, Mapping):
                self.problem(name, raw, spec.allowed)
                raw = None
            with self.section(name):
                return self.read(spec.section, raw or {})
        if spec.items is not None:
            return self.items(name, spec.items, raw, spec.allowed)
        if raw is None:
            if spec.required is not None:
                self.problem(name, None, spec.required)
                return None  # the document is refused; the placeholder is never returned
            return f.default if f.default_factory is MISSING else f.default_factory()
        convert = spec.convert
        if convert is None:
            raise TypeError(f"{name}: a Key without convert needs section= or items=")
        try:
            return convert(raw)
        except (ValueError, TypeError):
            self.problem(name, raw, spec.allowed)
            return None if f.default is MISSING else f.default

    def items(self, name: str, cls: type[S], raw: object, allowed: str) -> tuple[S, ...]:
        if not raw:  # absent, null or empty
            return ()
        if not isinstance(raw, list):
            self.problem(name, raw, allowed)
            return ()
        needs = " and ".join(f.name for f, _ in declared_keys(cls))
        out = []
        for i, item in enumerate(raw):
            with self.section(f"{name}[{i}]"):
                if not isinstance(item, Mapping):
                    self.problem(None, item, f"expected a mapping with {needs}")
                    continue
                out.append(self.read(cls, item))
        return tuple(out)


_Check = Callable[[S, Mapping[Any, Any], _Reader], None]

# Checks that involve more than one key, run right after their section is read.
_CHECKS: dict[type, list[_Check[Any]]] = {}


def _check(cls: type[S]) -> Callable[[_Check[S]], _Check[S]]:
    def register(check: _Check[S]) -> _Check[S]:
        _CHECKS.setdefault(cls, []).append(check)
        return check

    return register


@_check(FeedConfig)
def _feed_trust(feed: FeedConfig, data: Mapping[Any, Any], r: _Reader) -> None:
    for trusted in feed.trust or ():  # None when trust was missing or bad
        if trusted in DEMO_FEED_KEYS and not r.demo:
            r.problem(
                "trust",
                trusted,
                "this is the published DEMO key (anyone can sign with it); "
                "only a config with demo: true may trust it",
            )


def _no_demo_keys(name: str, keys: tuple[str, ...] | None, r: _Reader) -> None:
    for trusted in keys or ():
        if trusted in DEMO_FEED_KEYS and not r.demo:
            r.problem(name, trusted, "a published DEMO key; only a demo config may trust it")


@_check(SignedSourceConfig)
def _signed_trust(source: SignedSourceConfig, data: Mapping[Any, Any], r: _Reader) -> None:
    _no_demo_keys("trust", source.trust, r)


@_check(ReleaseConfig)
def _release_source(source: ReleaseConfig, data: Mapping[Any, Any], r: _Reader) -> None:
    _no_demo_keys("trust", source.trust, r)
    if source.service == "command" and not (source.stop_command and source.start_command):
        r.problem("service", "command", "needs stop_command and start_command")


@_check(KeysConfig)
def _root_keys(source: KeysConfig, data: Mapping[Any, Any], r: _Reader) -> None:
    _no_demo_keys("roots", source.roots, r)


@_check(CacheConfig)
def _cache_ttls(cache: CacheConfig, data: Mapping[Any, Any], r: _Reader) -> None:
    if cache.min_ttl > cache.max_ttl:
        r.problem("min_ttl", data.get("min_ttl"), "must not exceed max_ttl")


@_check(ControlConfig)
def _control_on_loopback(control: ControlConfig, data: Mapping[Any, Any], r: _Reader) -> None:
    if not ipaddress.ip_address(control.listen.host).is_loopback:
        r.problem("listen", str(control.listen), "the control API must listen on loopback")


@_check(GuardConfig)
def _guard_on_loopback(guard: GuardConfig, data: Mapping[Any, Any], r: _Reader) -> None:
    # Web pages may call it (the extension's requests carry a header pages cannot set);
    # other PCs never.
    if not ipaddress.ip_address(guard.listen.host).is_loopback:
        r.problem("listen", str(guard.listen), "the browser guard API must listen on loopback")


@_check(Config)
def _demo_keeps_off_system_dns(config: Config, data: Mapping[Any, Any], r: _Reader) -> None:
    if config.demo and config.filter.manage_system_dns:
        r.problem(
            "filter.manage_system_dns",
            True,
            "a demo config (demo: true) never manages the system's DNS",
        )


def config_from_mapping(data: object, source: str = "config") -> Config:
    """Validate an already-parsed YAML document; raises ``ConfigError`` listing every problem."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            [f"(top level): {_show(data)} is not allowed; expected a mapping of keys"], source
        )
    r = _Reader(demo=data.get("demo") is True)
    config = r.read(Config, data, source=source)
    if r.problems:
        raise ConfigError(r.problems, source)
    return config


def parse_config(text: str, source: str = "config") -> Config:
    """Parse YAML text into a ``Config``; raises ``ConfigError`` for YAML or value problems."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise ConfigError([f"(YAML) {where}: {problem}"], source) from None
    return config_from_mapping(data, source)


def load_config(path: Path | str) -> Config:
    """Read and validate the config file at ``path``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"file not found: {p}"], str(p)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"cannot read {p}: {e}"], str(p)) from None
    return parse_config(text, str(p))
