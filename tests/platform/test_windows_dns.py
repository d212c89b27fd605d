"""Windows DNS settings: the exact commands, checked with a fake runner (no Windows here)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from kiosk_agent.platform.base import CommandResult, DnsSnapshot
from kiosk_agent.platform.windows import WindowsPlatform
from kiosk_agent.platform.windows_dns import (
    POWERSHELL,
    netsh_set_commands,
    parse_read_output,
    ps_quote,
    restore_commands,
    set_commands,
)

READ = json.dumps(
    [
        {"InterfaceAlias": "Ethernet", "AddressFamily": 2, "ServerAddresses": ["192.168.1.1"]},
        {"InterfaceAlias": "Ethernet", "AddressFamily": 23, "ServerAddresses": ["fe80::1"]},
        {"InterfaceAlias": "Wi-Fi 'Café'", "AddressFamily": 2, "ServerAddresses": []},
        {
            "InterfaceAlias": "Loopback Pseudo-Interface 1",
            "AddressFamily": 2,
            "ServerAddresses": [],
        },
    ]
)


class FakeRunner:
    def __init__(self, fail_powershell_set: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail_powershell_set = fail_powershell_set

    def __call__(self, argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        self.calls.append(list(argv))
        if "Get-DnsClientServerAddress" in argv[-1]:
            return CommandResult(0, READ)
        if self.fail_powershell_set and "Set-DnsClientServerAddress" in argv[-1]:
            return CommandResult(1, "", "Access is denied")
        return CommandResult(0)


def platform(runner: FakeRunner) -> WindowsPlatform:
    p = WindowsPlatform()
    p.runner = runner  # type: ignore[attr-defined]
    return p


def test_read_per_adapter() -> None:
    snap = parse_read_output(READ)
    assert snap.interfaces == {"Ethernet": ("192.168.1.1", "fe80::1"), "Wi-Fi 'Café'": ()}
    one = parse_read_output(
        json.dumps({"InterfaceAlias": "Ethernet", "ServerAddresses": "10.0.0.1"})
    )
    assert one.interfaces == {"Ethernet": ("10.0.0.1",)}
    assert parse_read_output("") == DnsSnapshot("windows-dnsclient")


def test_set_commands_quote_and_drop_ipv6() -> None:
    assert ps_quote("Wi-Fi 'Café'") == "'Wi-Fi ''Café'''"
    assert set_commands("Wi-Fi 'Café'", ["127.0.0.1"]) == [
        [
            *POWERSHELL,
            "Set-DnsClientServerAddress -InterfaceAlias 'Wi-Fi ''Café''' "
            "-ServerAddresses ('127.0.0.1')",
        ],
        ["netsh", "interface", "ipv6", "delete", "dnsservers", "Wi-Fi 'Café'", "all"],
    ]
    both = set_commands("Ethernet", ["127.0.0.1", "::1"])
    assert len(both) == 1 and "('127.0.0.1','::1')" in both[0][-1]


def test_point_and_restore_every_adapter() -> None:
    runner = FakeRunner()
    p = platform(runner)
    before = p.read_dns()
    p.point_dns_at(["127.0.0.1"])
    sets = [c[-1] for c in runner.calls if "Set-DnsClientServerAddress" in c[-1]]
    assert len(sets) == 2 and all("('127.0.0.1')" in s for s in sets)
    runner.calls.clear()
    p.restore_dns(before)
    restores = [c[-1] for c in runner.calls if "Set-DnsClientServerAddress" in c[-1]]
    assert restores == [
        "Set-DnsClientServerAddress -InterfaceAlias 'Ethernet' "
        "-ServerAddresses ('192.168.1.1','fe80::1')",
        "Set-DnsClientServerAddress -InterfaceAlias 'Wi-Fi ''Café''' -ResetServerAddresses",
    ]


def test_netsh_fallback() -> None:
    runner = FakeRunner(fail_powershell_set=True)
    platform(runner).point_dns_at(["127.0.0.1"])
    assert ["netsh", "interface", "ip", "set", "dns", "name=Ethernet", "static", "127.0.0.1"] in (
        runner.calls
    )
    assert netsh_set_commands("E", ["127.0.0.1", "127.0.0.2"])[1] == [
        "netsh", "interface", "ip", "add", "dns", "name=E", "127.0.0.2", "index=2"
    ]  # fmt: skip
    assert restore_commands("E", [])[0][-1].endswith("-ResetServerAddresses")


def test_both_platforms_satisfy_the_whole_interface() -> None:
    from kiosk_agent.platform.base import Platform
    from kiosk_agent.platform.linux import LinuxPlatform

    platforms: list[Platform] = [WindowsPlatform(), LinuxPlatform()]  # checked by mypy
    assert [p.name for p in platforms] == ["windows", "linux"]
