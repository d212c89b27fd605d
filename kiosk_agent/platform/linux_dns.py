"""Linux DNS settings: systemd-resolved through ``resolvectl`` when it runs, else
``/etc/resolv.conf`` written atomically.

With systemd-resolved, every link gets the agent's addresses and the routing domain
``~.`` (all names go to that link's servers, so no other link's DNS is a way around the
filter); restoring is ``resolvectl revert``, which hands each link back to whatever
configured it (NetworkManager, networkd). Without it, resolv.conf gets the agent's
``nameserver`` lines, keeping its ``search`` and ``options`` lines. ``dns_root``
(default ``/``) lets tests and an install into a prefix use another tree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from kiosk_agent.atomic import write_text_atomic
from kiosk_agent.platform.base import (
    CommandResult,
    CommandRunner,
    DnsSnapshot,
    PlatformError,
    run_command,
)

RESOLV_CONF = Path("etc/resolv.conf")
METHOD_RESOLVED = "systemd-resolved"
METHOD_RESOLV_CONF = "resolv.conf"
_LINK = re.compile(r"^Link\s+\d+\s+\((?P<name>[^)]+)\):\s*(?P<servers>.*)$")
_GLOBAL = re.compile(r"^Global:\s*(?P<servers>.*)$")


def parse_resolvectl_dns(text: str) -> DnsSnapshot:
    """Parse `resolvectl dns` output (``Global: ...`` and ``Link N (name): ...`` lines)."""
    global_servers: list[str] = []
    interfaces: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        line = line.strip()
        if m := _GLOBAL.match(line):
            global_servers += _servers(m.group("servers"))
        elif m := _LINK.match(line):
            interfaces[m.group("name")] = tuple(_servers(m.group("servers")))
    return DnsSnapshot(METHOD_RESOLVED, tuple(global_servers), interfaces)


def _servers(text: str) -> list[str]:
    # resolvectl may print "1.1.1.1#cloudflare-dns.com" or "fe80::1%eth0"; keep the address.
    return [s.split("#", 1)[0].split("%", 1)[0] for s in text.split() if s]


def parse_resolv_conf(text: str) -> tuple[str, ...]:
    """The ``nameserver`` addresses of a resolv.conf, in order."""
    out: list[str] = []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(parts[1])
    return tuple(out)


def render_resolv_conf(servers: Sequence[str], previous: str = "") -> str:
    """A resolv.conf naming ``servers``, keeping ``search``/``domain``/``options`` lines."""
    kept = [
        line
        for line in previous.splitlines()
        if line.split()[:1] and line.split()[0] in ("search", "domain", "options")
    ]
    lines = ["# Written by kiosk-agent: names are resolved by the café's safety filter.", *kept]
    lines += [f"nameserver {s}" for s in servers]
    return "\n".join(lines) + "\n"


class LinuxDns:
    """``DnsSettings`` for Linux (a base of ``LinuxPlatform``)."""

    def _dns_runner(self) -> CommandRunner:
        runner: CommandRunner = getattr(self, "runner", None) or run_command
        return runner

    def _dns_root(self) -> Path:
        return Path(getattr(self, "dns_root", None) or "/")

    def _run_dns(self, argv: Sequence[str]) -> CommandResult:
        result = self._dns_runner()(argv)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            raise PlatformError(f"`{' '.join(argv)}` failed: {detail or result.returncode}")
        return result

    def uses_resolved(self) -> bool:
        """Whether systemd-resolved manages DNS here (never for a prefix other than /)."""
        if self._dns_root() != Path("/"):
            return False
        done = self._dns_runner()(["systemctl", "is-active", "--quiet", "systemd-resolved"])
        return done.returncode == 0

    def read_dns(self) -> DnsSnapshot:
        if self.uses_resolved():
            return parse_resolvectl_dns(self._run_dns(["resolvectl", "dns"]).stdout)
        path = self._dns_root() / RESOLV_CONF
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except OSError as e:
            raise PlatformError(f"cannot read {path}: {e.strerror}") from None
        return DnsSnapshot(METHOD_RESOLV_CONF, parse_resolv_conf(text))

    def point_dns_at(self, servers: Sequence[str]) -> None:
        if not servers:
            raise PlatformError("no address to point the system's DNS at")
        if self.uses_resolved():
            links = [name for name in self.read_dns().interfaces if name != "lo"]
            if not links:
                raise PlatformError("systemd-resolved lists no network link to configure")
            for link in links:
                self._run_dns(["resolvectl", "dns", link, *servers])
                self._run_dns(["resolvectl", "domain", link, "~."])
            return
        path = self._dns_root() / RESOLV_CONF
        try:
            previous = path.read_text(encoding="utf-8")
        except OSError:
            previous = ""
        try:
            write_text_atomic(path, render_resolv_conf(servers, previous))
        except OSError as e:
            raise PlatformError(f"cannot write {path}: {e.strerror}") from None

    def restore_dns(self, snapshot: DnsSnapshot) -> None:
        if snapshot.method == METHOD_RESOLVED and self.uses_resolved():
            links = set(snapshot.interfaces) | set(self.read_dns().interfaces)
            for link in sorted(links - {"lo"}):
                self._run_dns(["resolvectl", "revert", link])
            return
        path = self._dns_root() / RESOLV_CONF
        try:
            previous = path.read_text(encoding="utf-8")
        except OSError:
            previous = ""
        text = render_resolv_conf(snapshot.all_servers(), previous).replace(
            "# Written by kiosk-agent: names are resolved by the café's safety filter.",
            "# Restored by kiosk-agent: the servers in use before it was installed.",
        )
        try:
            write_text_atomic(path, text)
        except OSError as e:
            raise PlatformError(f"cannot write {path}: {e.strerror}") from None
