"""Linux DNS settings: resolvectl commands with a fake runner; resolv.conf in a temp root."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from kiosk_agent.platform.base import CommandResult, DnsSnapshot, PlatformError
from kiosk_agent.platform.linux import LinuxPlatform
from kiosk_agent.platform.linux_dns import (
    parse_resolv_conf,
    parse_resolvectl_dns,
    render_resolv_conf,
)

RESOLVECTL = """Global:
Link 2 (enp0s3): 192.168.1.1 fe80::1%enp0s3
Link 3 (wlan0): 10.0.0.1#dns.example
Link 1 (lo):
"""


class FakeRunner:
    def __init__(self, resolved: bool, dns_output: str = RESOLVECTL) -> None:
        self.resolved = resolved
        self.dns_output = dns_output
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        self.calls.append(list(argv))
        if argv[:2] == ["systemctl", "is-active"]:
            return CommandResult(0 if self.resolved else 3)
        if list(argv) == ["resolvectl", "dns"]:
            return CommandResult(0, self.dns_output)
        return CommandResult(0)


def platform(runner: FakeRunner, root: Path | None = None) -> LinuxPlatform:
    p = LinuxPlatform()
    p.runner = runner  # type: ignore[attr-defined]
    if root is not None:
        p.dns_root = root  # type: ignore[attr-defined]
    return p


def test_parse_resolvectl() -> None:
    snap = parse_resolvectl_dns(RESOLVECTL)
    assert snap.interfaces == {
        "enp0s3": ("192.168.1.1", "fe80::1"),
        "wlan0": ("10.0.0.1",),
        "lo": (),
    }
    assert snap.global_servers == ()


def test_resolved_commands() -> None:
    runner = FakeRunner(resolved=True)
    p = platform(runner)
    assert p.read_dns().method == "systemd-resolved"
    runner.calls.clear()
    p.point_dns_at(["127.0.0.1"])
    changes = [c for c in runner.calls if c[0] == "resolvectl" and len(c) > 2]
    assert ["resolvectl", "dns", "enp0s3", "127.0.0.1"] in changes
    assert ["resolvectl", "domain", "enp0s3", "~."] in changes
    assert ["resolvectl", "dns", "wlan0", "127.0.0.1"] in changes
    assert not any("lo" in c for c in changes)
    runner.calls.clear()
    p.restore_dns(parse_resolvectl_dns(RESOLVECTL))
    assert [c for c in runner.calls if c[1] == "revert"] == [
        ["resolvectl", "revert", "enp0s3"],
        ["resolvectl", "revert", "wlan0"],
    ]


def test_resolv_conf_in_a_temp_root(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "resolv.conf"
    conf.parent.mkdir()
    conf.write_text("search lan\nnameserver 192.168.1.1\nnameserver 192.168.1.2\noptions edns0\n")
    p = platform(FakeRunner(resolved=True), tmp_path)  # a prefix never uses resolvectl
    before = p.read_dns()
    assert before == DnsSnapshot("resolv.conf", ("192.168.1.1", "192.168.1.2"))
    p.point_dns_at(["127.0.0.1"])
    text = conf.read_text()
    assert parse_resolv_conf(text) == ("127.0.0.1",)
    assert "search lan" in text and "options edns0" in text
    p.restore_dns(before)
    assert parse_resolv_conf(conf.read_text()) == ("192.168.1.1", "192.168.1.2")


def test_render_and_parse() -> None:
    text = render_resolv_conf(["127.0.0.1", "::1"], "nameserver 8.8.8.8 # x\ndomain a.test\n")
    assert parse_resolv_conf(text) == ("127.0.0.1", "::1")
    assert "domain a.test" in text and "8.8.8.8" not in text


def test_failures_are_plain_words() -> None:
    class Failing(FakeRunner):
        def __call__(self, argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
            if argv[:2] == ["resolvectl", "dns"] and len(argv) > 2:
                return CommandResult(1, "", "Failed to set DNS configuration: Access denied")
            return super().__call__(argv, timeout=timeout)

    with pytest.raises(PlatformError, match="Access denied"):
        platform(Failing(resolved=True)).point_dns_at(["127.0.0.1"])
    with pytest.raises(PlatformError, match="no address"):
        platform(FakeRunner(resolved=False)).point_dns_at([])
