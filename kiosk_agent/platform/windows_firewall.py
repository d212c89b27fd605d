"""Windows: outbound DNS only through the agent, as Windows Firewall block rules.

Windows Firewall has no "every program but this one" condition, and a block rule beats
any allow rule (only an allow rule with ``-OverrideBlockRules``, which needs IPsec
authentication, wins over it), so "block all, allow the agent" cannot be built from two
rules. The construction used instead: each block rule carries a local-principal
condition, ``-LocalUser`` with a security descriptor that *denies* LocalSystem and
*allows* Everyone. The rule then applies to every process whose token the descriptor
grants (every account but SYSTEM) and is skipped for SYSTEM's processes: the console's
"Local principals → Exceptions: skip this rule for connections from these users". The
agent runs as SYSTEM (a scheduled task, ``windows_services.py``); a customer's programs
run as the customer's account and cannot obtain SYSTEM's token. Loopback stays open by
address (the rules' remote addresses leave out 127.0.0.0/8 and ::1).

Commands are rendered by pure functions and tested as text on Linux; they could not be
run on Windows here (docs/security.md says what that leaves open).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from kiosk_agent.platform.base import CommandResult, CommandRunner, PlatformError, run_command
from kiosk_agent.platform.dns_guard import DohAddresses, GuardState

POWERSHELL = ("powershell.exe", "-NoProfile", "-NonInteractive", "-Command")
GROUP = "kiosk-agent DNS guard"
# Deny LocalSystem (SY), allow Everyone (WD): the rule applies to every account but SYSTEM.
LOCAL_USER_ALL_BUT_SYSTEM = "D:(D;;CC;;;SY)(A;;CC;;;WD)"
# Every address but loopback (127.0.0.0/8 and ::1): the local resolver stays reachable.
NOT_LOOPBACK = (
    "0.0.0.0-126.255.255.255",
    "128.0.0.0-255.255.255.255",
    "::",
    "::2-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
)


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list(items: Sequence[str]) -> str:
    return "@(" + ",".join(_q(i) for i in items) + ")"


def rules(doh: DohAddresses) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    """(name, what, protocol, remote port, remote addresses) of each block rule."""
    out: list[tuple[str, str, str, str, tuple[str, ...]]] = [
        ("kiosk-agent-dns-udp", "DNS", "UDP", "53", NOT_LOOPBACK),
        ("kiosk-agent-dns-tcp", "DNS", "TCP", "53", NOT_LOOPBACK),
        ("kiosk-agent-dot-tcp", "DNS over TLS", "TCP", "853", NOT_LOOPBACK),
        ("kiosk-agent-doq-udp", "DNS over QUIC", "UDP", "853", NOT_LOOPBACK),
    ]
    addresses = (*doh.v4, *doh.v6)
    if addresses:
        out += [
            ("kiosk-agent-doh-tcp", "DNS over HTTPS", "TCP", "443", addresses),
            ("kiosk-agent-doh-udp", "DNS over HTTPS (HTTP/3)", "UDP", "443", addresses),
        ]
    return out


def new_rule_statement(
    name: str, what: str, protocol: str, port: str, remote: Sequence[str]
) -> str:
    """One ``New-NetFirewallRule`` statement (PowerShell)."""
    return (
        f"New-NetFirewallRule -Name {_q(name)}"
        f" -DisplayName {_q(f'kiosk-agent: {what} only through the agent ({protocol} {port})')}"
        f" -Group {_q(GROUP)} -Direction Outbound -Action Block -Profile Any -Enabled True"
        f" -Protocol {protocol} -RemotePort {port} -RemoteAddress {_list(remote)}"
        f" -LocalUser {_q(LOCAL_USER_ALL_BUT_SYSTEM)} | Out-Null"
    )


def remove_statement() -> str:
    return f"Remove-NetFirewallRule -Group {_q(GROUP)} -ErrorAction SilentlyContinue"


def install_command(doh: DohAddresses) -> list[str]:
    """One PowerShell run: remove our group, then add every rule (stops at an error)."""
    statements = ["$ErrorActionPreference = 'Stop'", remove_statement()]
    statements += [new_rule_statement(*rule) for rule in rules(doh)]
    return [*POWERSHELL, "; ".join(statements)]


def remove_command() -> list[str]:
    return [*POWERSHELL, remove_statement()]


def read_command() -> list[str]:
    return [
        *POWERSHELL,
        f"@(Get-NetFirewallRule -Group {_q(GROUP)} -ErrorAction SilentlyContinue"
        " | Where-Object { $_.Enabled -eq 'True' -and $_.Action -eq 'Block' }"
        " | Select-Object -ExpandProperty Name) | ConvertTo-Json",
    ]


def parse_read_output(text: str, doh: DohAddresses) -> GuardState:
    """Intact when every rule of ``rules(doh)`` is there, enabled and blocking. Windows
    Firewall keeps no per-rule counters: ``counters`` stays empty."""
    try:
        names = json.loads(text) if text.strip() else []
    except ValueError:
        return GuardState(False)
    if isinstance(names, str):  # ConvertTo-Json writes a one-element array as its item
        names = [names]
    if not isinstance(names, list):
        return GuardState(False)
    wanted = {name for name, *_ in rules(doh)}
    return GuardState(wanted <= {n for n in names if isinstance(n, str)})


class WindowsDnsGuard:
    """``DnsGuard`` for Windows Firewall; commands go through ``self.runner`` when set."""

    _guard_doh: DohAddresses = DohAddresses()

    def _ps(self, argv: Sequence[str], what: str) -> CommandResult:
        runner: CommandRunner = getattr(self, "runner", None) or run_command
        result = runner(argv)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip() or f"exit {result.returncode}"
            raise PlatformError(f"could not {what} the DNS firewall rules: {detail}")
        return result

    def install_dns_guard(self, doh: DohAddresses) -> None:
        self._ps(install_command(doh), "install")
        self._guard_doh = doh

    def remove_dns_guard(self) -> None:
        self._ps(remove_command(), "remove")

    def read_dns_guard(self) -> GuardState:
        return parse_read_output(self._ps(read_command(), "list").stdout, self._guard_doh)
