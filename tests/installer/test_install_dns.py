"""Install and uninstall with the real platform classes (services + DNS settings) and a
fake command runner: Linux with resolv.conf, Linux with systemd-resolved, Windows."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from kiosk_agent.installer.steps import Installer
from kiosk_agent.installer.uninstall import Uninstaller
from kiosk_agent.platform.base import CommandResult
from kiosk_agent.platform.linux import LinuxPlatform
from kiosk_agent.platform.saved_dns import load_snapshot
from kiosk_agent.platform.windows import WindowsPlatform
from kiosk_agent.platform.windows_services import win
from tests.installer.fakes import fake_onefile
from tests.installer.test_steps import ANSWERS
from tests.platform.fake_runner import FakeRunner


def _program(tmp_path: Path, plat: LinuxPlatform | WindowsPlatform) -> Path:
    windows = isinstance(plat, WindowsPlatform)
    name = "kiosk-agent.exe" if windows else "kiosk-agent"
    return fake_onefile(tmp_path / "downloads" / name, windows=windows)


def _install_and_uninstall(
    plat: LinuxPlatform | WindowsPlatform, tmp_path: Path
) -> tuple[list[str], Path]:
    layout = dataclasses.replace(plat.install_layout(tmp_path / "root"), register_with_os=True)
    said: list[str] = []
    Installer(
        layout=layout,
        services=plat,
        dns=plat,
        runner=getattr(plat, "runner"),  # noqa: B009 (set by each test)
        say=said.append,
        program=_program(tmp_path, plat),
        wait_for_resolver=lambda hp: 0.1,
    ).install(ANSWERS)
    u = Uninstaller(layout, plat, plat, ask_pin=lambda prompt: "4821", say=said.append)
    u.check_pin()
    u.uninstall()
    return said, layout.on_disk(layout.state_dir)


def test_linux_resolv_conf_saved_pointed_and_restored(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    resolv = root / "etc/resolv.conf"
    resolv.write_text("search lan\nnameserver 192.0.2.1\nnameserver 192.0.2.2\n")
    runner = FakeRunner(
        lambda argv: CommandResult(3 if argv[:2] == ["systemctl", "is-active"] else 0)
    )
    plat = LinuxPlatform()
    plat.runner = runner  # type: ignore[attr-defined]
    plat.dns_root = root  # type: ignore[attr-defined]
    pointed: list[str] = []
    original_point = plat.point_dns_at

    def point(servers: list[str]) -> None:
        original_point(servers)
        pointed.append(resolv.read_text())

    plat.point_dns_at = point  # type: ignore[method-assign,assignment]
    _said, state = _install_and_uninstall(plat, tmp_path)
    snapshot = load_snapshot(state)
    assert snapshot is not None and snapshot.all_servers() == ("192.0.2.1", "192.0.2.2")
    assert "nameserver 127.0.0.1" in pointed[0] and "192.0.2.1" not in pointed[0]
    assert "search lan" in pointed[0]
    restored = resolv.read_text()
    assert "nameserver 192.0.2.1\nnameserver 192.0.2.2" in restored and "127.0.0.1" not in restored


def test_linux_systemd_resolved(tmp_path: Path) -> None:
    state = {"dns": "Global:\nLink 1 (lo):\nLink 2 (eth0): 192.0.2.1\nLink 3 (wlan0): 192.0.2.9\n"}

    def answer(argv: list[str]) -> CommandResult:
        if argv[:2] == ["resolvectl", "dns"] and len(argv) == 2:
            return CommandResult(0, state["dns"])
        return CommandResult(0)

    runner = FakeRunner(answer)
    plat = LinuxPlatform()
    plat.runner = runner  # type: ignore[attr-defined]
    _said, state_dir = _install_and_uninstall(plat, tmp_path)
    snapshot = load_snapshot(state_dir)
    assert snapshot is not None and snapshot.method == "systemd-resolved"
    assert snapshot.interfaces["eth0"] == ("192.0.2.1",)
    calls = runner.calls
    assert ["resolvectl", "dns", "eth0", "127.0.0.1"] in calls
    assert ["resolvectl", "domain", "wlan0", "~."] in calls
    assert ["resolvectl", "revert", "eth0"] in calls and ["resolvectl", "revert", "wlan0"] in calls
    # The service is stopped before the DNS settings are given back (its watchdog would
    # otherwise point them at the agent again).
    stop = calls.index(["systemctl", "disable", "--now", "kiosk-agent.service"])
    assert stop < calls.index(["resolvectl", "revert", "eth0"])
    # Issue 17: the outbound DNS rules go in after the system points at the agent, and
    # come out before the saved servers are given back (else no program had DNS).
    nft_install = next(i for i, c in enumerate(calls) if c[:2] == ["nft", "-f"])
    assert calls.index(["resolvectl", "dns", "eth0", "127.0.0.1"]) < nft_install
    removed = calls.index(["nft", "delete", "table", "inet", "kiosk_agent"])
    assert stop < removed < calls.index(["resolvectl", "revert", "eth0"])


def test_windows_commands(tmp_path: Path) -> None:
    adapters = [
        {"InterfaceAlias": "Ethernet", "AddressFamily": 2, "ServerAddresses": ["192.0.2.1"]},
        {
            "InterfaceAlias": "Loopback Pseudo-Interface 1",
            "AddressFamily": 2,
            "ServerAddresses": [],
        },
    ]

    def answer(argv: list[str]) -> CommandResult:
        if "Get-DnsClientServerAddress" in argv[-1]:
            return CommandResult(0, json.dumps(adapters))
        if argv[-1].startswith("(Get-ScheduledTask"):
            return CommandResult(0, "Running\r\n")
        return CommandResult(0)

    runner = FakeRunner(answer)
    plat = WindowsPlatform()
    plat.runner = runner  # type: ignore[attr-defined]
    said, state_dir = _install_and_uninstall(plat, tmp_path)
    snapshot = load_snapshot(state_dir)
    assert snapshot is not None and snapshot.interfaces == {"Ethernet": ("192.0.2.1",)}
    programs = [c[0] for c in runner.calls]
    assert "schtasks" in programs and "reg" in programs and "icacls" in programs
    sets = [c[-1] for c in runner.calls if "Set-DnsClientServerAddress" in c[-1]]
    guard = [i for i, c in enumerate(runner.calls) if "kiosk-agent DNS guard" in c[-1]]
    assert "New-NetFirewallRule" in runner.calls[guard[0]][-1]  # installed, then
    assert runner.calls[guard[-1]][-1].startswith("Remove-NetFirewallRule")  # removed
    assert any("'Ethernet'" in s and "127.0.0.1" in s for s in sets)
    assert any("'Ethernet'" in s and "192.0.2.1" in s for s in sets)  # restored
    enroll = next(c for c in runner.calls if "enroll" in c)
    assert re.fullmatch(
        r"C:\\Program Files\\kiosk-agent\\app-[^\\]+\\kiosk-agent\.exe", win(enroll[0])
    )
    # The task is created from XML that names the release's launcher; the Run value too.
    task = next(c for c in runner.calls if c[:2] == ["schtasks", "/Create"])
    assert task[task.index("/XML") + 1] == "C:\\Program Files\\kiosk-agent\\kiosk-agent-task.xml"
    run_value = next(c for c in runner.calls if c[:2] == ["reg", "add"])
    # ... its windowed UI launcher (the program carries one: no console at each logon).
    ui_launcher = win(enroll[0]).replace("kiosk-agent.exe", "kiosk-agent-ui.exe")
    assert run_value[run_value.index("/d") + 1].startswith(f'"{ui_launcher}" ui ')
    # /End before /Run, so a repair does not leave the previous release running.
    ends = [i for i, c in enumerate(runner.calls) if c[:2] == ["schtasks", "/End"]]
    runs = [i for i, c in enumerate(runner.calls) if c[:2] == ["schtasks", "/Run"]]
    assert ends and runs and ends[0] < runs[0]
    assert (tmp_path / "root/C/ProgramData/kiosk-agent/agent.yaml").is_file()
    assert not (tmp_path / "root/C/Program Files/kiosk-agent").exists()
    assert any("service running" in line for line in said)
