"""Linux: outbound DNS only through the agent, as one nftables table of our own.

``render_ruleset`` (pure) writes the whole table: named counters per kind of bypass,
sets of the public DoH resolvers' addresses, and an output chain that lets loopback and
the agent's marked sockets (``agent_mark.AGENT_MARK``) through and rejects the rest of
DNS, DoT/DoQ and DoH. Installing replaces the table in one nft transaction; the
watchdog reads it back as JSON (``parse_table``) to find missing rules and counters.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kiosk_agent.platform.agent_mark import AGENT_MARK
from kiosk_agent.platform.base import CommandResult, CommandRunner, PlatformError, run_command
from kiosk_agent.platform.dns_guard import KINDS, DohAddresses, GuardState

TABLE = "kiosk_agent"
FAMILY = "inet"
CHAIN = "output"

# Every rule carries one of these comments: the check finds a deleted rule by it.
RULES: tuple[tuple[str, str], ...] = (
    ("loopback", 'oifname "lo" accept'),
    ("agent", f"meta mark {AGENT_MARK:#010x} accept"),
    ("dns-udp", 'udp dport 53 counter name "dns" reject'),
    ("dns-tcp", 'tcp dport 53 counter name "dns" reject with tcp reset'),
    ("dot-tcp", 'tcp dport 853 counter name "dot" reject with tcp reset'),
    ("doq-udp", 'udp dport 853 counter name "dot" reject'),
    ("doh-tcp4", 'ip daddr @doh_v4 tcp dport 443 counter name "doh" reject with tcp reset'),
    ("doh-udp4", 'ip daddr @doh_v4 udp dport 443 counter name "doh" reject'),
    ("doh-tcp6", 'ip6 daddr @doh_v6 tcp dport 443 counter name "doh" reject with tcp reset'),
    ("doh-udp6", 'ip6 daddr @doh_v6 udp dport 443 counter name "doh" reject'),
)
COMMENT_PREFIX = "kiosk-agent:"


def _set(name: str, kind: str, elements: Sequence[str]) -> str:
    body = f"type {kind}; flags interval; auto-merge;"
    if elements:
        body += f" elements = {{ {', '.join(elements)} }};"
    return f"    set {name} {{ {body} }}\n"


def render_ruleset(doh: DohAddresses) -> str:
    """The nft script that replaces ``inet kiosk_agent`` (or creates it) atomically."""
    out = [
        # Declaring then deleting makes the delete safe when the table does not exist;
        # `nft -f` applies the whole file as one transaction.
        f"table {FAMILY} {TABLE}\n",
        f"delete table {FAMILY} {TABLE}\n",
        f"table {FAMILY} {TABLE} {{\n",
    ]
    out += [f"    counter {kind} {{ }}\n" for kind in KINDS]
    out.append(_set("doh_v4", "ipv4_addr", doh.v4))
    out.append(_set("doh_v6", "ipv6_addr", doh.v6))
    out.append(f"    chain {CHAIN} {{\n")
    out.append("        type filter hook output priority 0; policy accept;\n")
    for name, rule in RULES:
        out.append(f'        {rule} comment "{COMMENT_PREFIX}{name}"\n')
    out.append("    }\n}\n")
    return "".join(out)


def parse_table(text: str) -> GuardState:
    """Read ``nft -j list table inet kiosk_agent``: intact when the output chain is hooked
    with every rule (by comment) and every counter; counters are packet counts."""
    try:
        items = json.loads(text).get("nftables", [])
    except (ValueError, AttributeError):
        return GuardState(False)
    if not isinstance(items, list):
        return GuardState(False)
    counters: dict[str, int] = {}
    comments: set[str] = set()
    hooked = False
    for item in items:
        if not isinstance(item, Mapping):
            continue
        counter: Any = item.get("counter")
        chain: Any = item.get("chain")
        rule: Any = item.get("rule")
        if isinstance(counter, Mapping) and counter.get("table") == TABLE:
            packets = counter.get("packets")
            if isinstance(packets, int) and counter.get("name") in KINDS:
                counters[str(counter["name"])] = packets
        if (
            isinstance(chain, Mapping)
            and chain.get("table") == TABLE
            and chain.get("name") == CHAIN
            and chain.get("hook") == "output"
        ):
            hooked = chain.get("policy", "accept") == "accept"
        if (
            isinstance(rule, Mapping)
            and rule.get("table") == TABLE
            and rule.get("chain") == CHAIN
            and isinstance(rule.get("comment"), str)
        ):
            comments.add(rule["comment"])
    wanted = {COMMENT_PREFIX + name for name, _ in RULES}
    intact = hooked and wanted <= comments and set(KINDS) <= set(counters)
    return GuardState(intact, counters)


def install_command(path: str) -> list[str]:
    return ["nft", "-f", path]


def remove_command() -> list[str]:
    return ["nft", "delete", "table", FAMILY, TABLE]


def list_command() -> list[str]:
    return ["nft", "-j", "list", "table", FAMILY, TABLE]


def _missing(result: CommandResult) -> bool:
    return "No such file or directory" in result.stderr


class LinuxDnsGuard:
    """``DnsGuard`` for Linux with nftables; commands go through ``self.runner`` when set.

    Like ``LinuxDns`` with systemd-resolved, a platform working on a prefix other than
    ``/`` (``dns_root``: tests' temporary roots) never touches the system-wide firewall.
    """

    def _prefixed(self) -> bool:
        return Path(getattr(self, "dns_root", None) or "/") != Path("/")

    def _nft(self, argv: Sequence[str]) -> CommandResult:
        runner: CommandRunner = getattr(self, "runner", run_command)
        try:
            return runner(argv)
        except FileNotFoundError:
            raise PlatformError("nft not found: install Debian's nftables package") from None

    def install_dns_guard(self, doh: DohAddresses) -> None:
        if self._prefixed():
            return
        fd, path = tempfile.mkstemp(prefix="kiosk-agent-", suffix=".nft")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(render_ruleset(doh))
            result = self._nft(install_command(path))
        finally:
            os.unlink(path)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip() or f"exit {result.returncode}"
            raise PlatformError(f"nft could not install the DNS rules: {detail}")

    def remove_dns_guard(self) -> None:
        if self._prefixed():
            return
        result = self._nft(remove_command())
        if result.returncode != 0 and not _missing(result):
            detail = (result.stderr or result.stdout).strip() or f"exit {result.returncode}"
            raise PlatformError(f"nft could not remove the DNS rules: {detail}")

    def read_dns_guard(self) -> GuardState:
        if self._prefixed():
            return GuardState(True)
        result = self._nft(list_command())
        if result.returncode != 0:
            if _missing(result):
                return GuardState(False)
            detail = (result.stderr or result.stdout).strip() or f"exit {result.returncode}"
            raise PlatformError(f"nft could not list the DNS rules: {detail}")
        return parse_table(result.stdout)
