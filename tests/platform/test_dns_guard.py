"""Outbound DNS guard: address list, counting, nft ruleset and Windows Firewall commands."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.config import Config, FilterConfig, HostPort
from kiosk_agent.filter.watchdog import DnsWatchdog
from kiosk_agent.platform.base import CommandResult, DnsSnapshot
from kiosk_agent.platform.dns_guard import (
    BypassCounts,
    DnsGuard,
    DohAddresses,
    GuardState,
    load_doh_addresses,
    parse_doh_addresses,
    shipped_doh_addresses,
)
from kiosk_agent.platform.linux import LinuxPlatform
from kiosk_agent.platform.linux_firewall import (
    COMMENT_PREFIX,
    RULES,
    parse_table,
    render_ruleset,
)
from kiosk_agent.platform.windows import WindowsPlatform
from kiosk_agent.platform.windows_firewall import (
    LOCAL_USER_ALL_BUT_SYSTEM,
    install_command,
    parse_read_output,
    read_command,
    remove_command,
)
from kiosk_agent.reporting.events import Event, TamperDetected
from kiosk_agent.service.context import ServiceContext
from tests.platform.fake_runner import FakeRunner

SMALL = DohAddresses(("192.0.2.53", "198.51.100.0/24"), ("2001:db8::53",))

# -- the address list -------------------------------------------------------------------


def test_parse_doh_addresses() -> None:
    got = parse_doh_addresses(
        [
            "# comment",
            "",
            "192.0.2.53  # a resolver",
            "198.51.100.7/24",
            "2001:DB8::53",
            "192.0.2.53",
        ]
    )
    assert got == DohAddresses(("192.0.2.53", "198.51.100.0/24"), ("2001:db8::53",))
    with pytest.raises(ValueError, match="line 2"):
        parse_doh_addresses(["192.0.2.1", "dns.google"])


@given(st.lists(st.text(max_size=45), max_size=6))
def test_parse_doh_addresses_fuzz(lines: list[str]) -> None:
    try:
        got = parse_doh_addresses(lines)
    except ValueError:
        return
    for text in (*got.v4, *got.v6):
        ipaddress.ip_network(text)  # canonical and readable again


@given(st.lists(st.ip_addresses(), max_size=10))
def test_parse_doh_addresses_keeps_every_address(addresses: list[object]) -> None:
    got = parse_doh_addresses([str(a) for a in addresses])
    assert {str(a) for a in addresses} == {*got.v4, *got.v6}


def test_shipped_list_is_public_resolvers_only() -> None:
    doh = shipped_doh_addresses()
    assert "8.8.8.8" in doh.v4 and "1.1.1.1" in doh.v4 and "9.9.9.9" in doh.v4
    assert "2606:4700:4700::1111" in doh.v6
    for text in (*doh.v4, *doh.v6):
        net = ipaddress.ip_network(text)
        assert net.is_global, text  # never loopback, a LAN or documentation range


def test_a_content_update_replaces_the_list(tmp_path: Path) -> None:
    assert load_doh_addresses(tmp_path) == shipped_doh_addresses()
    (tmp_path / "doh_addresses.txt").write_text("192.0.2.53\n")
    assert load_doh_addresses(tmp_path) == DohAddresses(("192.0.2.53",))
    (tmp_path / "doh_addresses.txt").write_text("not an address\n")  # damaged: shipped
    assert load_doh_addresses(tmp_path) == shipped_doh_addresses()


# -- counting -----------------------------------------------------------------------------


def test_bypass_counts_once_a_minute_per_kind() -> None:
    counts = BypassCounts(every=60)
    assert counts.observe({"dns": 0, "dot": 0, "doh": 0}, 0) == []
    assert counts.observe({"dns": 3, "dot": 0, "doh": 1}, 10) == ["dns", "doh"]
    assert counts.observe({"dns": 9, "dot": 1, "doh": 5}, 40) == ["dot"]  # a looping client
    assert counts.observe({"dns": 9, "dot": 1, "doh": 5}, 100) == []  # nothing new
    assert counts.observe({"dns": 10, "dot": 1, "doh": 5}, 101) == ["dns"]
    assert counts.observe({"dns": 2, "dot": 0, "doh": 0}, 500) == []  # replaced: baseline
    assert counts.observe({"dns": 3, "dot": 0, "doh": 0}, 501) == ["dns"]
    counts.restart()
    assert counts.observe({"dns": 1}, 600) == ["dns"]  # fresh rules count from 0


# -- Linux: nftables ------------------------------------------------------------------------


def test_ruleset_text() -> None:
    text = render_ruleset(SMALL)
    assert text.startswith(
        "table inet kiosk_agent\ndelete table inet kiosk_agent\ntable inet kiosk_agent {\n"
    )
    assert "set doh_v4 { type ipv4_addr; flags interval; auto-merge; elements = " in text
    assert "{ 192.0.2.53, 198.51.100.0/24 }" in text and "{ 2001:db8::53 }" in text
    for name, rule in RULES:
        assert f'        {rule} comment "{COMMENT_PREFIX}{name}"\n' in text
    assert 'oifname "lo" accept' in text and "meta mark 0x00004b41 accept" in text
    # loopback and the agent first: nothing of theirs reaches a reject
    assert text.index("oifname") < text.index("meta mark") < text.index("reject")
    empty = render_ruleset(DohAddresses())
    assert "set doh_v4 { type ipv4_addr; flags interval; auto-merge; }" in empty


def _table_json(comments: list[str], packets: int = 0, policy: str = "accept") -> str:
    items: list[dict[str, object]] = [{"metainfo": {"version": "1.0.6"}}]
    items += [
        {"counter": {"family": "inet", "name": k, "table": "kiosk_agent", "packets": packets}}
        for k in ("dns", "dot", "doh")
    ]
    items.append(
        {
            "chain": {
                "family": "inet",
                "table": "kiosk_agent",
                "name": "output",
                "hook": "output",
                "policy": policy,
            }
        }
    )
    items += [
        {"rule": {"table": "kiosk_agent", "chain": "output", "comment": c, "expr": []}}
        for c in comments
    ]
    return json.dumps({"nftables": items})


def test_parse_table() -> None:
    every = [COMMENT_PREFIX + name for name, _ in RULES]
    assert parse_table(_table_json(every, 4)) == GuardState(True, {"dns": 4, "dot": 4, "doh": 4})
    assert not parse_table(_table_json(every[:-1])).intact  # a rule deleted
    assert not parse_table(_table_json(every, policy="drop")).intact
    for junk in ("", "[]", '{"nftables": 3}', "not json"):
        assert parse_table(junk) == GuardState(False)


def test_linux_commands_through_a_fake_runner() -> None:
    scripts: list[str] = []

    def answer(argv: list[str]) -> CommandResult:
        if argv[:2] == ["nft", "-f"]:
            scripts.append(Path(argv[2]).read_text())
        if argv[:3] == ["nft", "-j", "list"]:
            return CommandResult(1, "", "Error: No such file or directory")
        if argv[:2] == ["nft", "delete"]:
            return CommandResult(1, "", "Error: Could not process rule: No such file or directory")
        return CommandResult(0)

    plat = LinuxPlatform()
    plat.runner = FakeRunner(answer)  # type: ignore[attr-defined]
    assert isinstance(plat, DnsGuard)
    plat.install_dns_guard(SMALL)
    assert scripts == [render_ruleset(SMALL)]
    assert not Path(plat.runner.calls[0][2]).exists()  # type: ignore[attr-defined]
    assert plat.read_dns_guard() == GuardState(False)  # no table
    plat.remove_dns_guard()  # nothing to remove is fine
    assert plat.runner.calls[1:] == [  # type: ignore[attr-defined]
        ["nft", "-j", "list", "table", "inet", "kiosk_agent"],
        ["nft", "delete", "table", "inet", "kiosk_agent"],
    ]


def test_a_platform_on_a_temporary_root_never_touches_the_firewall(tmp_path: Path) -> None:
    plat = LinuxPlatform()
    plat.runner = FakeRunner()  # type: ignore[attr-defined]
    plat.dns_root = tmp_path  # type: ignore[attr-defined]
    plat.install_dns_guard(SMALL)
    plat.remove_dns_guard()
    assert plat.read_dns_guard().intact and plat.runner.calls == []  # type: ignore[attr-defined]


# -- Windows: Windows Firewall --------------------------------------------------------------


def test_windows_install_command_exactly() -> None:
    argv = install_command(DohAddresses(("192.0.2.53",), ("2001:db8::53",)))
    assert argv[:4] == ["powershell.exe", "-NoProfile", "-NonInteractive", "-Command"]
    statements = argv[4].split("; ")
    not_loopback = (
        "@('0.0.0.0-126.255.255.255','128.0.0.0-255.255.255.255','::',"
        "'::2-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')"
    )
    common = (
        "-Group 'kiosk-agent DNS guard' -Direction Outbound -Action Block -Profile Any "
        "-Enabled True"
    )
    user = "-LocalUser 'D:(D;;CC;;;SY)(A;;CC;;;WD)' | Out-Null"
    assert statements == [
        "$ErrorActionPreference = 'Stop'",
        "Remove-NetFirewallRule -Group 'kiosk-agent DNS guard' -ErrorAction SilentlyContinue",
        "New-NetFirewallRule -Name 'kiosk-agent-dns-udp' -DisplayName 'kiosk-agent: DNS only "
        f"through the agent (UDP 53)' {common} -Protocol UDP -RemotePort 53 "
        f"-RemoteAddress {not_loopback} {user}",
        "New-NetFirewallRule -Name 'kiosk-agent-dns-tcp' -DisplayName 'kiosk-agent: DNS only "
        f"through the agent (TCP 53)' {common} -Protocol TCP -RemotePort 53 "
        f"-RemoteAddress {not_loopback} {user}",
        "New-NetFirewallRule -Name 'kiosk-agent-dot-tcp' -DisplayName 'kiosk-agent: DNS over "
        f"TLS only through the agent (TCP 853)' {common} -Protocol TCP -RemotePort 853 "
        f"-RemoteAddress {not_loopback} {user}",
        "New-NetFirewallRule -Name 'kiosk-agent-doq-udp' -DisplayName 'kiosk-agent: DNS over "
        f"QUIC only through the agent (UDP 853)' {common} -Protocol UDP -RemotePort 853 "
        f"-RemoteAddress {not_loopback} {user}",
        "New-NetFirewallRule -Name 'kiosk-agent-doh-tcp' -DisplayName 'kiosk-agent: DNS over "
        f"HTTPS only through the agent (TCP 443)' {common} -Protocol TCP -RemotePort 443 "
        f"-RemoteAddress @('192.0.2.53','2001:db8::53') {user}",
        "New-NetFirewallRule -Name 'kiosk-agent-doh-udp' -DisplayName 'kiosk-agent: DNS over "
        f"HTTPS (HTTP/3) only through the agent (UDP 443)' {common} -Protocol UDP "
        f"-RemotePort 443 -RemoteAddress @('192.0.2.53','2001:db8::53') {user}",
    ]
    assert LOCAL_USER_ALL_BUT_SYSTEM == "D:(D;;CC;;;SY)(A;;CC;;;WD)"
    assert remove_command()[-1] == statements[1]
    assert "Get-NetFirewallRule -Group 'kiosk-agent DNS guard'" in read_command()[-1]


def test_windows_read_output() -> None:
    names = [f"kiosk-agent-{n}" for n in ("dns-udp", "dns-tcp", "dot-tcp", "doq-udp")]
    doh = ["kiosk-agent-doh-tcp", "kiosk-agent-doh-udp"]
    assert parse_read_output(json.dumps(names + doh), SMALL) == GuardState(True)
    assert not parse_read_output(json.dumps(names), SMALL).intact
    assert parse_read_output(json.dumps(names), DohAddresses()).intact
    assert not parse_read_output('"kiosk-agent-dns-udp"', SMALL).intact
    assert not parse_read_output("", SMALL).intact and not parse_read_output("{", SMALL).intact


def test_windows_platform_runs_them() -> None:
    plat = WindowsPlatform()
    plat.runner = FakeRunner()  # type: ignore[attr-defined]
    plat.install_dns_guard(SMALL)
    plat.remove_dns_guard()
    assert [c[-1][:22] for c in plat.runner.calls] == [  # type: ignore[attr-defined]
        "$ErrorActionPreference",
        "Remove-NetFirewallRule",
    ]


# -- the watchdog -----------------------------------------------------------------------------


class FakeGuardedDns:
    """DNS settings that stay pointed at the agent, and a guard whose state a test sets."""

    def __init__(self) -> None:
        self.state = GuardState(True, {"dns": 0, "dot": 0, "doh": 0})
        self.installed: list[DohAddresses] = []

    def read_dns(self) -> DnsSnapshot:
        return DnsSnapshot("fake", ("127.0.0.1",))

    def point_dns_at(self, servers: object) -> None:
        raise AssertionError("already pointed at the agent")

    def restore_dns(self, snapshot: DnsSnapshot) -> None:
        raise AssertionError("never restored by the watchdog")

    def install_dns_guard(self, doh: DohAddresses) -> None:
        self.installed.append(doh)
        self.state = GuardState(True, {"dns": 0, "dot": 0, "doh": 0})

    def remove_dns_guard(self) -> None:
        raise AssertionError("never removed by the watchdog")

    def read_dns_guard(self) -> GuardState:
        return self.state


def test_watchdog_installs_restores_and_counts(tmp_path: Path) -> None:
    config = Config(
        state_dir=tmp_path,
        filter=FilterConfig(
            listen=(HostPort("127.0.0.1", 53),), manage_system_dns=True, watchdog_every=3600
        ),
    )
    ctx = ServiceContext(config)
    events: list[Event] = []
    ctx.bus.subscribe(events.append)
    (tmp_path / "doh_addresses.txt").write_text("192.0.2.53\n")
    dns = FakeGuardedDns()
    now = [1000.0]

    async def main() -> None:
        dog = DnsWatchdog(ctx, dns, clock=lambda: now[0])
        await dog.start()
        try:
            assert dns.installed == [DohAddresses(("192.0.2.53",))]
            dns.state = GuardState(True, {"dns": 5, "dot": 0, "doh": 2})
            assert await dog.check_guard()
            now[0] += 30
            dns.state = GuardState(True, {"dns": 9, "dot": 0, "doh": 2})
            assert await dog.check_guard()  # within the minute: not again
            now[0] += 31
            assert await dog.check_guard()  # nothing new
            dns.state = GuardState(True, {"dns": 10, "dot": 0, "doh": 2})
            assert await dog.check_guard()
            dns.state = GuardState(False)  # someone deleted a rule
            assert not await dog.check_guard()
            assert len(dns.installed) == 2 and dog.guard_restored == 1
            assert dog.status()["dns_guard"] == {
                "intact": True,
                "restored": 1,
                "bypass_counted": 3,
                "last_error": None,
            }
        finally:
            await dog.stop()

    asyncio.run(main())
    tamper = [e for e in events if isinstance(e, TamperDetected)]
    assert tamper == [TamperDetected("dns_bypass")] * 3 + [TamperDetected("dns_firewall")]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["nftables", "counter", "chain", "rule", "table", "name", "packets"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(_json)
def test_nft_and_windows_readers_take_any_json(data: object) -> None:
    """Whatever `nft -j` or PowerShell prints, the readers answer a state, never raise."""
    text = json.dumps(data)
    assert isinstance(parse_table(text), GuardState)
    assert isinstance(parse_read_output(text, SMALL), GuardState)
    assert not parse_table(text).intact  # nothing random has every rule of the table


def test_status_names_missing_rules(tmp_path: Path) -> None:
    from kiosk_agent.service.status import service_status

    class Watchdog:
        name = "watchdog"

        def __init__(self, intact: bool | None) -> None:
            self.intact = intact

        def status(self) -> dict[str, object]:
            return {"system_points_at_agent": True, "dns_guard": {"intact": self.intact}}

    config = Config(state_dir=tmp_path, filter=FilterConfig(manage_system_dns=True))
    problem = "other programs can send DNS around the filter (the firewall rules are missing)"
    for intact, shown in ((False, True), (True, False), (None, False)):
        ctx = ServiceContext(config)
        ctx.components["watchdog"] = Watchdog(intact)  # type: ignore[assignment]
        assert (problem in service_status(ctx, 0.0, now=1.0)["problems"]) is shown
