"""Outbound DNS only through the agent: what both platforms' firewall rules share.

The rules refuse, for every process but the agent, DNS (UDP and TCP 53), DNS over TLS
and over QUIC (853) to any address but loopback, and HTTPS (TCP and UDP 443) to the
public DNS-over-HTTPS resolvers' addresses. Each platform renders them its own way
(``linux_firewall.py``: nftables; ``windows_firewall.py``: Windows Firewall); the
watchdog installs them, checks them, and turns their counters into
``TamperDetected("dns_bypass")`` at most once a minute per kind (``BypassCounts``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Protocol, runtime_checkable

KINDS = ("dns", "dot", "doh")
"""Kinds of bypass attempt: plain DNS (53), DNS over TLS/QUIC (853), DoH (443)."""

DOH_FILE = "doh_addresses.txt"
REPORT_EVERY = 60.0  # seconds: each kind is counted at most this often


@dataclass(frozen=True)
class DohAddresses:
    """Public DoH resolvers' addresses (single addresses or networks), by family."""

    v4: tuple[str, ...] = ()
    v6: tuple[str, ...] = ()


def parse_doh_addresses(lines: Iterable[str]) -> DohAddresses:
    """Addresses or CIDR networks, one a line; ``#`` comments and blank lines skipped.

    Written back in canonical form (``2001:db8::/32``; a single address without a
    prefix). Raises ``ValueError`` naming the first bad line.
    """
    v4: list[str] = []
    v6: list[str] = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"line {number}: not an address or network") from None
        single = net.num_addresses == 1
        shown = str(net.network_address) if single else str(net)
        (v4 if net.version == 4 else v6).append(shown)
    return DohAddresses(tuple(dict.fromkeys(v4)), tuple(dict.fromkeys(v6)))


def shipped_doh_addresses() -> DohAddresses:
    """The list shipped with the agent (``kiosk_agent/filter/data/doh_addresses.txt``)."""
    text = resources.files("kiosk_agent.filter").joinpath(f"data/{DOH_FILE}").read_text()
    return parse_doh_addresses(text.splitlines())


def load_doh_addresses(state_dir: Path | None) -> DohAddresses:
    """``state_dir/doh_addresses.txt`` when a content update left a valid one there,
    else the shipped list (a damaged update never leaves the guard without a list)."""
    if state_dir is not None:
        try:
            text = (state_dir / DOH_FILE).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass
        else:
            try:
                found = parse_doh_addresses(text.splitlines())
            except ValueError:
                pass
            else:
                if found.v4 or found.v6:
                    return found
    return shipped_doh_addresses()


@dataclass(frozen=True)
class GuardState:
    """What a check of the installed rules found: all there, and the refusals per kind."""

    intact: bool
    counters: Mapping[str, int] = field(default_factory=dict)


@runtime_checkable
class DnsGuard(Protocol):
    """A platform that can keep outbound DNS to the agent (Linux, Windows)."""

    def install_dns_guard(self, doh: DohAddresses) -> None:
        """Install (or replace, atomically where the platform can) every rule."""
        ...

    def remove_dns_guard(self) -> None:
        """Remove every rule; nothing to remove is not an error."""
        ...

    def read_dns_guard(self) -> GuardState:
        """Whether every rule is in place, and the refusal counters (if the platform
        counts; Windows Firewall does not)."""
        ...


class BypassCounts:
    """Turns the rules' growing counters into reports: a kind is reported when its
    counter grew since the last reading, at most once per ``every`` seconds, so a
    looping client does not flood the counts. A counter that went down (the rules were
    replaced) starts a new baseline."""

    def __init__(self, every: float = REPORT_EVERY) -> None:
        self.every = every
        self._last: dict[str, int] = {}  # a kind not read yet starts from 0 (fresh rules)
        self._reported: dict[str, float] = {}

    def restart(self) -> None:
        """The rules were (re)installed: their counters start again from 0."""
        self._last.clear()

    def observe(self, counters: Mapping[str, int], now: float) -> list[str]:
        """The kinds to report now (pure apart from the remembered readings)."""
        out = []
        for kind in KINDS:
            value = counters.get(kind)
            if value is None:
                continue
            before = self._last.get(kind, 0)
            self._last[kind] = value
            if value <= before:
                continue
            last = self._reported.get(kind)
            if last is not None and now - last < self.every:
                continue
            self._reported[kind] = now
            out.append(kind)
        return out
