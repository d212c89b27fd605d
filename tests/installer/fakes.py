"""Test doubles for the installer: a DNS-settings recorder and a layout in a temp prefix."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from kiosk_agent.platform.base import DnsSnapshot, InstallLayout
from kiosk_agent.platform.linux import LinuxPlatform
from tests.platform.fake_runner import FakeRunner


class FakeDns:
    """Records what the installer does to the system's DNS settings."""

    def __init__(self, snapshot: DnsSnapshot) -> None:
        self.current = snapshot
        self.pointed: list[list[str]] = []
        self.restored: list[DnsSnapshot] = []

    def read_dns(self) -> DnsSnapshot:
        return self.current

    def point_dns_at(self, servers: Sequence[str]) -> None:
        self.pointed.append(list(servers))
        self.current = DnsSnapshot("resolv.conf", tuple(servers))

    def restore_dns(self, snapshot: DnsSnapshot) -> None:
        self.restored.append(snapshot)
        self.current = snapshot


def linux_platform(runner: FakeRunner) -> LinuxPlatform:
    p = LinuxPlatform()
    p.runner = runner  # type: ignore[attr-defined]
    return p


def live_layout(root: Path) -> InstallLayout:
    """The standard Linux layout under ``root``, acting as if it were the live system."""
    return dataclasses.replace(LinuxPlatform().install_layout(root), register_with_os=True)
