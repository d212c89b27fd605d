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


# A one-file program as PyInstaller lays it out (bootloader bytes, then a PKG archive), with
# stand-ins for every kind of entry; not runnable, but `install` only rearranges it.
FAKE_BOOTLOADER = b"\x7fELF pretend one-file bootloader\n" + bytes(range(256))
FAKE_LAUNCHER = b"\x7fELF pretend one-folder launcher\n"
FAKE_UI_LAUNCHER = b"MZ pretend windowed launcher\n"
FAKE_FILES = {
    "libpython3.11.so.1.0": ("b", b"\x7fELF pretend libpython" * 50),
    "PIL/_imaging.cpython-311-x86_64-linux-gnu.so": ("b", b"\x7fELF imaging" * 20),
    "libfoo.so.1.0": ("b", b"\x7fELF foo"),
    "base_library.zip": ("x", b"PK pretend stdlib"),
    "kiosk_agent/content/locales/sw.yaml": ("x", b"salamu: karibu\n"),
    "_tcl_data/init.tcl": ("x", b"# tcl"),
}


def fake_onefile(path: Path, *, windows: bool = False) -> Path:
    """Write a fake one-file program at ``path`` (``windows``: entry names with ``\\``)."""
    import zlib

    from kiosk_agent.installer.carchive import Entry, build_archive

    sep = "\\" if windows else "/"
    exe_name = "kiosk-agent.exe" if windows else "kiosk-agent"

    def entry(name: str, code: str, data: bytes, compress: bool = True) -> Entry:
        stored = zlib.compress(data) if compress else data
        return Entry(name.replace("/", sep), code, stored, len(data), compress)

    entries = [
        entry("struct", "m", b"pretend marshalled module"),
        entry("pyimod01_archive", "m", b"pretend archive reader"),
        entry("kiosk_agent_main", "s", b"pretend entry script"),
        entry("PYZ.pyz", "z", b"PYZ\0pretend frozen modules" * 100, compress=False),
        *(entry(name, code, data) for name, (code, data) in FAKE_FILES.items()),
        entry("libfoo.so.1", "n", b"libfoo.so.1.0\0", compress=False),
        entry(f"kiosk-agent-launcher/{exe_name}", "x", FAKE_LAUNCHER),
        *(
            [entry("kiosk-agent-launcher/kiosk-agent-ui.exe", "x", FAKE_UI_LAUNCHER)]
            if windows
            else []
        ),
        Entry("pyi-contents-directory _internal", "o", b"", 0, False),
    ]
    pkg = build_archive(entries, 311, b"libpython3.11.so.1.0")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(FAKE_BOOTLOADER + pkg)
    path.chmod(0o755)
    return path
