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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

T = TypeVar("T")

DEFAULT_STATE_DIR = "/var/lib/kiosk-agent"
NOTICE_TRIGGERS = ("login", "idle_reset", "billing_hook", "agent_start")
BLOCK_ANSWERS = ("nxdomain", "sinkhole")
REPORT_PERIODS = ("day", "hour")
P2P_POLICIES = ("count", "block")
HUB_MODES = ("auto", "this", "off")
HUB_CONSOLES = ("loopback", "lan")

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


@dataclass(frozen=True)
class CafeConfig:
    name: str = "Demo Café"
    country: str = "KE"
    region: str = "KE-NBO"
    languages: tuple[str, ...] = ("en",)
    hub: str = "auto"
    """``auto`` (find the café hub by mDNS), ``this`` (this PC is the hub), ``off``, or
    the hub's ``http://ADDRESS:PORT`` (docs/cafe-hub.md)."""
    hub_listen: HostPort = HostPort("0.0.0.0", 8054)
    hub_console: Literal["loopback", "lan"] = "loopback"


@dataclass(frozen=True)
class OperatorConfig:
    pin_scrypt: str | None = None


@dataclass(frozen=True)
class FeedConfig:
    url: str
    trust: tuple[str, ...]


@dataclass(frozen=True)
class CacheConfig:
    max_entries: int = 10_000
    min_ttl: float = 0.0
    max_ttl: float = 86_400.0
    negative_ttl: float = 300.0
    stale_for: float = 86_400.0


@dataclass(frozen=True)
class ProxyConfig:
    enabled: bool = False
    http_listen: HostPort = HostPort("127.0.0.10", 80)
    https_listen: HostPort = HostPort("127.0.0.10", 443)
    max_connections: int = 256
    idle_timeout: float = 60.0


@dataclass(frozen=True)
class P2PConfig:
    policy: Literal["count", "block"] = "count"
    sample_every: float = 30.0
    processes: tuple[str, ...] = ()
    tracker_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class FilterConfig:
    listen: tuple[HostPort, ...] = (HostPort("127.0.0.1", 53),)
    upstreams: tuple[str, ...] = ("auto",)
    upstream_timeout: float = 2.0
    block_answer: Literal["nxdomain", "sinkhole"] = "nxdomain"
    block_ttl: int = 60
    blockpage_listen: HostPort = HostPort("127.0.0.9", 80)
    manage_system_dns: bool = False
    watchdog_every: float = 30.0
    feeds: tuple[FeedConfig, ...] = ()
    update_every: float = 6 * 3600.0
    doh_hosts: tuple[str, ...] = DEFAULT_DOH_HOSTS
    cache: CacheConfig = field(default_factory=CacheConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    p2p: P2PConfig = field(default_factory=P2PConfig)


@dataclass(frozen=True)
class NoticesConfig:
    triggers: tuple[str, ...] = ("login", "idle_reset", "billing_hook")
    idle_reset_after: float = 600.0
    min_display: float = 8.0
    min_gap: float = 120.0
    font_size: int = 22


@dataclass(frozen=True)
class ReportingConfig:
    server: str | None = None
    period: Literal["day", "hour"] = "day"
    max_link_utilization: float = 0.3
    daily_budget_bytes: int = 200_000
    offpeak: tuple[str, str] | None = None
    ca_bundle: str | None = None
    flush_every: float = 5.0
    upload_every: float = 900.0
    max_reports: int = 400


@dataclass(frozen=True)
class ControlConfig:
    listen: HostPort = HostPort("127.0.0.1", 8053)


@dataclass(frozen=True)
class Config:
    state_dir: Path = Path(DEFAULT_STATE_DIR)
    demo: bool = False
    cafe: CafeConfig = field(default_factory=CafeConfig)
    operator: OperatorConfig = field(default_factory=OperatorConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    notices: NoticesConfig = field(default_factory=NoticesConfig)
    reporting: ReportingConfig = field(default_factory=ReportingConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    source: str = "<defaults>"


class _Reader:
    """Walks a YAML mapping, converting values and recording every problem with its path."""

    def __init__(self) -> None:
        self.problems: list[str] = []
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

    def mapping(
        self, data: Mapping[str, Any], key: str, known: tuple[str, ...]
    ) -> Mapping[str, Any]:
        """The sub-mapping at ``key`` (empty if absent), after flagging unknown keys."""
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(key, value, "expected a mapping of keys")
            return {}
        with self.section(key):
            self.check_keys(value, known)
        return value

    def check_keys(self, data: Mapping[str, Any], known: tuple[str, ...]) -> None:
        for k in data:
            if k not in known:
                self.problems.append(
                    f"{self.where(str(k))}: unknown key; known keys here: {', '.join(known)}"
                )

    def get(
        self,
        data: Mapping[str, Any],
        key: str,
        default: T,
        convert: Callable[[Any], T],
        allowed: str,
    ) -> T:
        if key not in data or data[key] is None:
            return default
        try:
            return convert(data[key])
        except (ValueError, TypeError):
            self.problem(key, data[key], allowed)
            return default


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


def _hub(value: Any) -> str:
    """``auto``, ``this``, ``off``, or ``http://IP:PORT`` (an address: the LAN has no
    names the agent trusts, and the agent's own lookups never use the local resolver)."""
    if value in HUB_MODES:
        return str(value)
    if not isinstance(value, str) or not value.startswith("http://"):
        raise ValueError
    hp = parse_host_port(value.removeprefix("http://").rstrip("/"))
    return f"http://{hp}"


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


def _build(data: Mapping[str, Any], r: _Reader, source: str) -> Config:
    top = (
        "state_dir",
        "demo",
        "cafe",
        "operator",
        "filter",
        "notices",
        "reporting",
        "control",
    )
    r.check_keys(data, top)
    state_dir = r.get(data, "state_dir", DEFAULT_STATE_DIR, _str, "expected a folder path")
    demo = r.get(data, "demo", False, _bool, "expected true or false")

    d = CafeConfig()
    c = r.mapping(
        data,
        "cafe",
        ("name", "country", "region", "languages", "hub", "hub_listen", "hub_console"),
    )
    with r.section("cafe"):
        cafe = CafeConfig(
            name=r.get(c, "name", d.name, _str, "expected the café's name"),
            country=r.get(c, "country", d.country, _country, "expected an ISO 3166 code like KE"),
            region=r.get(c, "region", d.region, _str, "expected a region code like KE-NBO"),
            languages=r.get(
                c,
                "languages",
                d.languages,
                _list_of(_lang, non_empty=True),
                "expected a non-empty list of language codes like [sw, en]",
            ),
            hub=r.get(
                c,
                "hub",
                d.hub,
                _hub,
                "expected auto, this, off or the hub's address like http://192.0.2.10:8054",
            ),
            hub_listen=r.get(
                c,
                "hub_listen",
                d.hub_listen,
                _host_port(8054),
                "expected an address like 0.0.0.0:8054 (where this PC serves as the hub)",
            ),
            hub_console=r.get(
                c, "hub_console", d.hub_console, _choice(HUB_CONSOLES), "expected loopback or lan"
            ),
        )

    o = r.mapping(data, "operator", ("pin_scrypt",))
    with r.section("operator"):
        operator = OperatorConfig(
            pin_scrypt=r.get(
                o, "pin_scrypt", None, _scrypt_hash, "expected a hash written by the install wizard"
            )
        )

    fd = FilterConfig()
    f = r.mapping(
        data,
        "filter",
        (
            "listen",
            "upstreams",
            "upstream_timeout",
            "block_answer",
            "block_ttl",
            "blockpage_listen",
            "manage_system_dns",
            "watchdog_every",
            "feeds",
            "update_every",
            "doh_hosts",
            "cache",
            "proxy",
            "p2p",
        ),
    )
    with r.section("filter"):
        feeds: list[FeedConfig] = []
        raw_feeds = f.get("feeds") or []
        if not isinstance(raw_feeds, list):
            r.problem("feeds", raw_feeds, "expected a list of {url, trust}")
            raw_feeds = []
        for i, item in enumerate(raw_feeds):
            with r.section(f"feeds[{i}]"):
                if not isinstance(item, Mapping):
                    r.problem(None, item, "expected a mapping with url and trust")
                    continue
                r.check_keys(item, ("url", "trust"))
                url = r.get(
                    item,
                    "url",
                    "",
                    _url(("https", "http", "file")),
                    "expected an https:// or file:// URL",
                )
                no_keys: tuple[str, ...] = ()
                trust = r.get(
                    item,
                    "trust",
                    no_keys,
                    _list_of(_trust_key, non_empty=True),
                    "expected a non-empty list of 'ed25519:BASE64' public keys",
                )
                if "url" not in item:
                    r.problem("url", None, "a feed needs a url")
                if "trust" not in item:
                    r.problem("trust", None, "a feed needs at least one trusted key")
                for key in trust:
                    if key in DEMO_FEED_KEYS and not demo:
                        r.problem(
                            "trust",
                            key,
                            "this is the published DEMO key (anyone can sign with it); "
                            "only a config with demo: true may trust it",
                        )
                feeds.append(FeedConfig(url=url, trust=trust))

        cd = CacheConfig()
        cm = r.mapping(
            f, "cache", ("max_entries", "min_ttl", "max_ttl", "negative_ttl", "stale_for")
        )
        with r.section("cache"):
            cache = CacheConfig(
                max_entries=r.get(
                    cm,
                    "max_entries",
                    cd.max_entries,
                    _int_range(0, 10_000_000),
                    "expected 0-10000000",
                ),
                min_ttl=r.get(
                    cm,
                    "min_ttl",
                    cd.min_ttl,
                    _duration_range(0, 86400),
                    "expected a duration up to 1d",
                ),
                max_ttl=r.get(
                    cm,
                    "max_ttl",
                    cd.max_ttl,
                    _duration_range(0, 7 * 86400),
                    "expected a duration up to 7d",
                ),
                negative_ttl=r.get(
                    cm,
                    "negative_ttl",
                    cd.negative_ttl,
                    _duration_range(0, 86400),
                    "expected a duration up to 1d",
                ),
                stale_for=r.get(
                    cm,
                    "stale_for",
                    cd.stale_for,
                    _duration_range(0, 7 * 86400),
                    "expected a duration up to 7d",
                ),
            )
            if cache.min_ttl > cache.max_ttl:
                r.problem("min_ttl", cm.get("min_ttl"), "must not exceed max_ttl")

        pd = ProxyConfig()
        pm = r.mapping(
            f,
            "proxy",
            ("enabled", "http_listen", "https_listen", "max_connections", "idle_timeout"),
        )
        with r.section("proxy"):
            proxy = ProxyConfig(
                enabled=r.get(pm, "enabled", pd.enabled, _bool, "expected true or false"),
                http_listen=r.get(
                    pm,
                    "http_listen",
                    pd.http_listen,
                    _host_port(80),
                    "expected an address like 127.0.0.10:80",
                ),
                https_listen=r.get(
                    pm,
                    "https_listen",
                    pd.https_listen,
                    _host_port(443),
                    "expected an address like 127.0.0.10:443",
                ),
                max_connections=r.get(
                    pm,
                    "max_connections",
                    pd.max_connections,
                    _int_range(1, 10_000),
                    "expected 1-10000",
                ),
                idle_timeout=r.get(
                    pm,
                    "idle_timeout",
                    pd.idle_timeout,
                    _duration_range(1, 3600),
                    "expected a duration from 1s to 1h",
                ),
            )

        qd = P2PConfig()
        qm = r.mapping(f, "p2p", ("policy", "sample_every", "processes", "tracker_hosts"))
        with r.section("p2p"):
            p2p = P2PConfig(
                policy=r.get(
                    qm, "policy", qd.policy, _choice(P2P_POLICIES), "expected count or block"
                ),
                sample_every=r.get(
                    qm,
                    "sample_every",
                    qd.sample_every,
                    _duration_range(1, 3600),
                    "expected a duration from 1s to 1h",
                ),
                processes=r.get(
                    qm,
                    "processes",
                    qd.processes,
                    _list_of(_str),
                    "expected a list of process names",
                ),
                tracker_hosts=r.get(
                    qm,
                    "tracker_hosts",
                    qd.tracker_hosts,
                    _list_of(_hostname),
                    "expected a list of host names",
                ),
            )

        filt = FilterConfig(
            listen=r.get(
                f,
                "listen",
                fd.listen,
                _list_of(_host_port(53), non_empty=True),
                "expected a list of addresses like 127.0.0.1:53",
            ),
            upstreams=r.get(
                f,
                "upstreams",
                fd.upstreams,
                _list_of(_upstream, non_empty=True),
                "expected a list of 'auto' or addresses like 192.0.2.1:53",
            ),
            upstream_timeout=r.get(
                f,
                "upstream_timeout",
                fd.upstream_timeout,
                _duration_range(0.05, 30),
                "expected a duration from 50ms to 30s",
            ),
            block_answer=r.get(
                f,
                "block_answer",
                fd.block_answer,
                _choice(BLOCK_ANSWERS),
                "expected nxdomain or sinkhole",
            ),
            block_ttl=r.get(
                f, "block_ttl", fd.block_ttl, _int_range(0, 86400), "expected 0-86400 seconds"
            ),
            blockpage_listen=r.get(
                f,
                "blockpage_listen",
                fd.blockpage_listen,
                _host_port(80),
                "expected an address like 127.0.0.9:80",
            ),
            manage_system_dns=r.get(
                f, "manage_system_dns", fd.manage_system_dns, _bool, "expected true or false"
            ),
            watchdog_every=r.get(
                f,
                "watchdog_every",
                fd.watchdog_every,
                _duration_range(1, 3600),
                "expected a duration from 1s to 1h",
            ),
            feeds=tuple(feeds),
            update_every=r.get(
                f,
                "update_every",
                fd.update_every,
                _duration_range(60, 30 * 86400),
                "expected a duration from 1m to 30d, like 6h",
            ),
            doh_hosts=r.get(
                f, "doh_hosts", fd.doh_hosts, _list_of(_hostname), "expected a list of host names"
            ),
            cache=cache,
            proxy=proxy,
            p2p=p2p,
        )

    nd = NoticesConfig()
    n = r.mapping(
        data, "notices", ("triggers", "idle_reset_after", "min_display", "min_gap", "font_size")
    )
    with r.section("notices"):
        notices = NoticesConfig(
            triggers=r.get(
                n,
                "triggers",
                nd.triggers,
                _list_of(_choice(NOTICE_TRIGGERS)),
                f"expected a list of: {', '.join(NOTICE_TRIGGERS)}",
            ),
            idle_reset_after=r.get(
                n,
                "idle_reset_after",
                nd.idle_reset_after,
                _duration_range(30, 86400),
                "expected a duration from 30s to 1d, like 10m",
            ),
            min_display=r.get(
                n,
                "min_display",
                nd.min_display,
                _duration_range(0, 120),
                "expected a duration from 0s to 2m, like 8s",
            ),
            min_gap=r.get(
                n, "min_gap", nd.min_gap, _duration_range(0, 86400), "expected a duration up to 1d"
            ),
            font_size=r.get(n, "font_size", nd.font_size, _int_range(12, 48), "expected 12-48"),
        )

    rd = ReportingConfig()
    rp = r.mapping(
        data,
        "reporting",
        (
            "server",
            "period",
            "max_link_utilization",
            "daily_budget_bytes",
            "offpeak",
            "ca_bundle",
            "flush_every",
            "upload_every",
            "max_reports",
        ),
    )
    with r.section("reporting"):
        reporting = ReportingConfig(
            server=r.get(
                rp, "server", rd.server, _url(("https", "http")), "expected an https:// URL"
            ),
            period=r.get(rp, "period", rd.period, _choice(REPORT_PERIODS), "expected day or hour"),
            max_link_utilization=r.get(
                rp,
                "max_link_utilization",
                rd.max_link_utilization,
                _float_range(0.01, 1.0),
                "expected a fraction from 0.01 to 1.0",
            ),
            daily_budget_bytes=r.get(
                rp,
                "daily_budget_bytes",
                rd.daily_budget_bytes,
                _int_range(1000, 10**10),
                "expected a byte count of at least 1000",
            ),
            offpeak=r.get(
                rp,
                "offpeak",
                rd.offpeak,
                _offpeak,
                "expected a local time window like '22:00-06:00'",
            ),
            ca_bundle=r.get(rp, "ca_bundle", rd.ca_bundle, _str, "expected a path to a PEM file"),
            flush_every=r.get(
                rp,
                "flush_every",
                rd.flush_every,
                _duration_range(1, 3600),
                "expected a duration from 1s to 1h",
            ),
            upload_every=r.get(
                rp,
                "upload_every",
                rd.upload_every,
                _duration_range(10, 86400),
                "expected a duration from 10s to 1d",
            ),
            max_reports=r.get(
                rp, "max_reports", rd.max_reports, _int_range(10, 100_000), "expected 10-100000"
            ),
        )

    ctl = r.mapping(data, "control", ("listen",))
    with r.section("control"):
        control = ControlConfig(
            listen=r.get(
                ctl,
                "listen",
                ControlConfig().listen,
                _host_port(None),
                "expected a loopback address like 127.0.0.1:8053",
            ),
        )
        if not ipaddress.ip_address(control.listen.host).is_loopback:
            r.problem("listen", str(control.listen), "the control API must listen on loopback")

    if demo and filt.manage_system_dns:
        r.problems.append(
            "filter.manage_system_dns: True is not allowed; a demo config (demo: true) "
            "never manages the system's DNS"
        )
    return Config(
        state_dir=Path(state_dir),
        demo=demo,
        cafe=cafe,
        operator=operator,
        filter=filt,
        notices=notices,
        reporting=reporting,
        control=control,
        source=source,
    )


def _trust_key(value: Any) -> str:
    if not isinstance(value, str) or not _TRUST_KEY.match(value):
        raise ValueError
    return value


def config_from_mapping(data: object, source: str = "config") -> Config:
    """Validate an already-parsed YAML document; raises ``ConfigError`` listing every problem."""
    r = _Reader()
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            [f"(top level): {_show(data)} is not allowed; expected a mapping of keys"], source
        )
    config = _build(data, r, source)
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
