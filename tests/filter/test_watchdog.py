"""The tamper watchdog against a resolv.conf in a temporary root."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from kiosk_agent.config import Config, FilterConfig, HostPort
from kiosk_agent.filter.watchdog import DnsWatchdog, points_at_agent
from kiosk_agent.platform.base import DnsSnapshot
from kiosk_agent.platform.linux import LinuxPlatform
from kiosk_agent.platform.linux_dns import parse_resolv_conf
from kiosk_agent.platform.saved_dns import load_snapshot
from kiosk_agent.reporting.events import Event, TamperDetected
from kiosk_agent.service.context import ServiceContext


def setup(tmp: Path, manage: bool) -> tuple[ServiceContext, LinuxPlatform, Path]:
    root = tmp / "root"
    conf = root / "etc" / "resolv.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("nameserver 192.168.1.1\n")
    config = Config(
        state_dir=tmp / "state",
        filter=FilterConfig(
            listen=(HostPort("127.0.0.1", 53),), manage_system_dns=manage, watchdog_every=0.05
        ),
    )
    plat = LinuxPlatform()
    plat.dns_root = root  # type: ignore[attr-defined]
    return ServiceContext(config), plat, conf


def test_points_at_agent() -> None:
    assert points_at_agent(DnsSnapshot("x", ("127.0.0.1",)), ["127.0.0.1"])
    assert not points_at_agent(DnsSnapshot("x", ("127.0.0.1", "8.8.8.8")), ["127.0.0.1"])
    assert not points_at_agent(DnsSnapshot("x", (), {"eth0": ("8.8.8.8",)}), ["127.0.0.1"])
    assert not points_at_agent(DnsSnapshot("x"), ["127.0.0.1"])


def test_restores_a_changed_resolv_conf(tmp_path: Path) -> None:
    ctx, plat, conf = setup(tmp_path, manage=True)
    events: list[Event] = []
    ctx.bus.subscribe(events.append)

    async def main() -> None:
        dog = DnsWatchdog(ctx, plat)
        await dog.start()
        try:
            assert parse_resolv_conf(conf.read_text()) == ("127.0.0.1",)
            saved = load_snapshot(ctx.state_dir)
            assert saved is not None and saved.all_servers() == ("192.168.1.1",)
            # a customer (or malware) points the PC at a public resolver
            conf.write_text("nameserver 192.0.2.99\n")
            for _ in range(100):
                await asyncio.sleep(0.02)
                if dog.restored:
                    break
            assert dog.restored == 1
            assert parse_resolv_conf(conf.read_text()) == ("127.0.0.1",)
            assert dog.status()["system_points_at_agent"] is True
        finally:
            await dog.stop()

    asyncio.run(main())
    assert events == [TamperDetected("dns_settings")]
    # the pre-install servers were saved once, and not overwritten by ours
    data = json.loads((ctx.state_dir / "dns-before-install.json").read_text())
    assert data["global_servers"] == ["192.168.1.1"]


def test_does_nothing_unless_managing(tmp_path: Path) -> None:
    ctx, plat, conf = setup(tmp_path, manage=False)

    async def main() -> None:
        dog = DnsWatchdog(ctx, plat)
        await dog.start()
        await asyncio.sleep(0.1)
        await dog.stop()
        assert dog.status()["system_points_at_agent"] is None

    asyncio.run(main())
    assert conf.read_text() == "nameserver 192.168.1.1\n"
    assert not (ctx.state_dir / "dns-before-install.json").exists()
