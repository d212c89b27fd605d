from __future__ import annotations

import configparser
import dataclasses
import subprocess
from pathlib import Path

import pytest

from kiosk_agent.platform.base import CommandResult, InstallLayout, PlatformError
from kiosk_agent.platform.linux import LinuxPlatform
from kiosk_agent.platform.linux_services import (
    LinuxServices,
    render_autostart,
    render_unit,
    ui_process_pattern,
)
from tests.conftest import require_tool
from tests.platform.fake_runner import FakeRunner


def _platform(runner: FakeRunner) -> LinuxServices:
    p = LinuxPlatform()
    p.runner = runner  # type: ignore[attr-defined]
    return p


def _layout(root: Path, *, live: bool) -> InstallLayout:
    layout = LinuxServices().install_layout(root)
    return dataclasses.replace(layout, register_with_os=live)


def test_standard_layout() -> None:
    layout = LinuxServices().install_layout(Path("/"))
    assert layout.executable == Path("/opt/kiosk-agent/kiosk-agent")
    assert layout.config_path == Path("/etc/kiosk-agent/agent.yaml")
    assert layout.register_with_os
    assert not LinuxServices().install_layout(Path("/tmp/x")).register_with_os


def test_on_disk_maps_under_the_prefix(tmp_path: Path) -> None:
    layout = _layout(tmp_path, live=False)
    assert (
        layout.on_disk(Path("/etc/kiosk-agent/agent.yaml"))
        == tmp_path / "etc/kiosk-agent/agent.yaml"
    )
    assert LinuxServices().install_layout(Path("/")).on_disk(Path("/etc/x")) == Path("/etc/x")


def test_unit_restarts_always_and_runs_the_installed_program(tmp_path: Path) -> None:
    unit = render_unit(_layout(tmp_path, live=True))
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit)
    assert parser["Service"]["Restart"] == "always"
    assert parser["Service"]["ExecStart"] == (
        "/opt/kiosk-agent/kiosk-agent service --config /etc/kiosk-agent/agent.yaml"
    )
    assert parser["Install"]["WantedBy"] == "multi-user.target"
    assert parser["Unit"]["StartLimitIntervalSec"] == "0"


def test_live_install_writes_unit_and_runs_systemctl(tmp_path: Path) -> None:
    runner = FakeRunner()
    p = _platform(runner)
    layout = _layout(tmp_path, live=True)
    steps = p.install_service(layout, layout.executable)
    steps += p.install_ui_autostart(layout, layout.executable)
    steps += p.start(layout)
    assert (tmp_path / "etc/systemd/system/kiosk-agent.service").is_file()
    desktop = (tmp_path / "etc/xdg/autostart/kiosk-agent-ui.desktop").read_text()
    assert "Exec=/opt/kiosk-agent/kiosk-agent ui --config /etc/kiosk-agent/ui.yaml" in desktop
    assert runner.calls == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "kiosk-agent.service"],
        ["systemctl", "restart", "kiosk-agent.service"],
    ]
    assert any("Restart=always" in s for s in steps)


def test_prefix_install_enables_offline_and_starts_nothing(tmp_path: Path) -> None:
    runner = FakeRunner()
    p = _platform(runner)
    layout = _layout(tmp_path, live=False)
    p.install_service(layout, layout.executable)
    steps = p.start(layout)
    assert runner.calls == [["systemctl", f"--root={tmp_path}", "enable", "kiosk-agent.service"]]
    assert "not started" in steps[0]
    assert p.service_running(layout) is None


def test_install_is_idempotent(tmp_path: Path) -> None:
    p = _platform(FakeRunner())
    layout = _layout(tmp_path, live=True)
    p.install_service(layout, layout.executable)
    first = (tmp_path / "etc/systemd/system/kiosk-agent.service").read_text()
    p.install_service(layout, layout.executable)
    assert (tmp_path / "etc/systemd/system/kiosk-agent.service").read_text() == first


def test_failed_systemctl_raises_plain_error(tmp_path: Path) -> None:
    runner = FakeRunner(lambda argv: CommandResult(1, "", "Access denied"))
    p = _platform(runner)
    with pytest.raises(PlatformError, match="Access denied"):
        p.install_service(_layout(tmp_path, live=True), Path("/opt/kiosk-agent/kiosk-agent"))


def test_uninstall_removes_unit_and_autostart(tmp_path: Path) -> None:
    runner = FakeRunner()
    p = _platform(runner)
    layout = _layout(tmp_path, live=True)
    p.install_service(layout, layout.executable)
    p.install_ui_autostart(layout, layout.executable)
    runner.calls.clear()
    p.uninstall(layout)
    assert not (tmp_path / "etc/systemd/system/kiosk-agent.service").exists()
    assert not (tmp_path / "etc/xdg/autostart/kiosk-agent-ui.desktop").exists()
    assert ["systemctl", "disable", "--now", "kiosk-agent.service"] in runner.calls
    assert runner.calls[-1] == ["systemctl", "daemon-reload"]


@pytest.mark.parametrize(
    ("stdout", "expected"), [("active\n", True), ("failed\n", False), ("", None)]
)
def test_service_running(tmp_path: Path, stdout: str, expected: bool | None) -> None:
    p = _platform(FakeRunner(lambda argv: CommandResult(0 if expected else 3, stdout)))
    assert p.service_running(_layout(tmp_path, live=True)) is expected


def test_protect_files_modes(tmp_path: Path) -> None:
    layout = _layout(tmp_path, live=False)
    for path in (layout.config_path, layout.ui_config_path):
        assert path is not None
        layout.on_disk(path).parent.mkdir(parents=True, exist_ok=True)
        layout.on_disk(path).write_text("x")
    layout.on_disk(layout.state_dir).mkdir(parents=True)
    LinuxServices().protect_files(layout)
    assert layout.on_disk(layout.config_path).stat().st_mode & 0o777 == 0o600
    assert layout.ui_config_path is not None
    assert layout.on_disk(layout.ui_config_path).stat().st_mode & 0o777 == 0o644
    # no group in a prefix install: the state folder is the service's only
    assert layout.on_disk(layout.state_dir).stat().st_mode & 0o777 == 0o700


def test_ui_group_for_the_desktop_accounts() -> None:
    from kiosk_agent.platform.linux_services import desktop_accounts, group_commands

    passwd = (
        "root:x:0:0:root:/root:/bin/bash\n"
        "daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
        "cafe:x:1000:1000:Cafe:/home/cafe:/bin/bash\n"
        "guest:x:1001:1001::/home/guest:/bin/sh\n"
        "svc:x:1002:1002::/:/usr/sbin/nologin\n"
        "nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n"
        "broken line\n"
    )
    assert desktop_accounts(passwd) == ["cafe", "guest"]
    assert group_commands(["cafe"]) == [
        ["groupadd", "--system", "-f", "kiosk-agent"],
        ["usermod", "-a", "-G", "kiosk-agent", "cafe"],
    ]


def test_autostart_quotes_paths_with_spaces(tmp_path: Path) -> None:
    layout = dataclasses.replace(
        _layout(tmp_path, live=False), program_dir=Path("/opt/kiosk agent")
    )
    assert 'Exec="/opt/kiosk agent/kiosk-agent" ui' in render_autostart(layout)


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    tool = require_tool("systemd-analyze")
    layout = _layout(tmp_path, live=False)
    # verify checks that ExecStart exists: point it at a real executable in the prefix.
    exe = tmp_path / "kiosk-agent"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    layout = dataclasses.replace(layout, program_dir=tmp_path)
    unit = tmp_path / "kiosk-agent.service"
    unit.write_text(render_unit(layout))
    done = subprocess.run(
        [tool, "verify", "--man=no", str(unit)], capture_output=True, text=True, check=False
    )
    # systemd-analyze exits 0 on mere warnings; any line naming our unit is a problem.
    problems = [line for line in (done.stdout + done.stderr).splitlines() if str(unit) in line]
    assert done.returncode == 0, done.stderr
    assert not problems, problems


def test_release_layout_runs_the_release_program(tmp_path: Path) -> None:
    layout = dataclasses.replace(_layout(tmp_path, live=True), release="app-0.1.0-0a1b2c3d")
    exe = "/opt/kiosk-agent/app-0.1.0-0a1b2c3d/kiosk-agent"
    assert f"ExecStart={exe} service --config /etc/kiosk-agent/agent.yaml" in render_unit(layout)
    assert f"Exec={exe} ui --config /etc/kiosk-agent/ui.yaml" in render_autostart(layout)


@pytest.mark.parametrize(
    ("cmdline", "matches"),
    [
        ("/opt/kiosk-agent/kiosk-agent ui --config /etc/kiosk-agent/ui.yaml", True),
        ("/opt/kiosk-agent/app-0.1.0-0a1b2c3d/kiosk-agent ui --config /etc/k/ui.yaml", True),
        ("/opt/kiosk-agent/app-0.1.0-0a1b2c3d/kiosk-agent service --config /etc/k.yaml", False),
        ("/home/x/kiosk-agent ui --config /etc/kiosk-agent/ui.yaml", False),
        ("/opt/kiosk-agentX/kiosk-agent ui --config u", False),
    ],
)
def test_uninstall_kills_the_ui_of_any_release(cmdline: str, matches: bool) -> None:
    """pkill --exact --full: the pattern must match the whole command line (POSIX ERE;
    grep -E stands in for pkill's regcomp)."""
    pattern = ui_process_pattern(LinuxServices().install_layout(Path("/")))
    grep = require_tool("grep")
    done = subprocess.run(
        [grep, "-Ex", "-e", pattern], input=cmdline, capture_output=True, text=True, check=False
    )
    assert (done.returncode == 0) is matches, (pattern, done.stderr)
