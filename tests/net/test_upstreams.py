"""`filter.upstreams` with `auto` expanded, never the agent's own addresses."""

from __future__ import annotations

from pathlib import Path

from kiosk_agent.config import Config, FilterConfig, HostPort
from kiosk_agent.net.upstreams import configured_upstreams, expand_upstreams
from kiosk_agent.platform.base import DnsSnapshot
from kiosk_agent.platform.saved_dns import save_snapshot

OWN = (HostPort("127.0.0.1", 53),)


def test_expand() -> None:
    got = expand_upstreams(
        ["192.0.2.1:5353", "auto", "192.0.2.1:5353"], ["192.0.2.2", "127.0.0.1", "junk"], OWN
    )
    assert got == [HostPort("192.0.2.1", 5353), HostPort("192.0.2.2", 53)]


def test_auto_reads_the_saved_servers(tmp_path: Path) -> None:
    save_snapshot(tmp_path, DnsSnapshot("resolv.conf", ("192.0.2.7",), {"eth0": ("192.0.2.8",)}))
    config = Config(state_dir=tmp_path, filter=FilterConfig(listen=OWN))
    assert configured_upstreams(config, ["192.0.2.99"]) == [
        HostPort("192.0.2.7", 53),
        HostPort("192.0.2.8", 53),
    ]


def test_auto_falls_back_to_the_system_only_when_not_managing(tmp_path: Path) -> None:
    dev = Config(state_dir=tmp_path, filter=FilterConfig(listen=OWN))
    assert configured_upstreams(dev, ["192.0.2.99"]) == [HostPort("192.0.2.99", 53)]
    kiosk = Config(state_dir=tmp_path, filter=FilterConfig(listen=OWN, manage_system_dns=True))
    assert configured_upstreams(kiosk, ["192.0.2.99"]) == []
