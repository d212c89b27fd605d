from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kiosk_agent.platform.base import CommandResult, InstallLayout
from kiosk_agent.platform.windows import WindowsPlatform
from kiosk_agent.platform.windows_services import (
    RUN_KEY,
    TASK_NAME,
    WindowsServices,
    command_line,
    protect_commands,
    render_task_xml,
    ui_run_value,
    uninstall_commands,
)
from tests.platform.fake_runner import FakeRunner

NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


def _platform(runner: FakeRunner) -> WindowsServices:
    p = WindowsPlatform()
    p.runner = runner  # type: ignore[attr-defined]
    return p


def _layout(root: Path, *, live: bool = True) -> InstallLayout:
    return dataclasses.replace(WindowsServices().install_layout(root), register_with_os=live)


def test_standard_layout_uses_windows_paths(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    assert str(layout.program_dir) == "C:\\Program Files\\kiosk-agent"
    assert layout.on_disk(layout.config_path) == tmp_path / "C/ProgramData/kiosk-agent/agent.yaml"


def test_task_xml_runs_as_system_at_boot_and_restarts() -> None:
    layout = _layout(Path("/tmp/unused"))
    root = ET.fromstring(render_task_xml(layout).split("\n", 1)[1])
    assert root.find("t:Principals/t:Principal/t:UserId", NS).text == "S-1-5-18"  # type: ignore[union-attr]
    assert root.find("t:Triggers/t:BootTrigger", NS) is not None
    assert root.find("t:Settings/t:RestartOnFailure/t:Count", NS).text == "999"  # type: ignore[union-attr]
    assert root.find("t:Settings/t:ExecutionTimeLimit", NS).text == "PT0S"  # type: ignore[union-attr]
    assert root.find("t:Settings/t:MultipleInstancesPolicy", NS).text == "IgnoreNew"  # type: ignore[union-attr]
    command = root.find("t:Actions/t:Exec/t:Command", NS)
    arguments = root.find("t:Actions/t:Exec/t:Arguments", NS)
    assert command is not None and arguments is not None
    assert command.text == "C:\\Program Files\\kiosk-agent\\kiosk-agent.exe"
    assert arguments.text == "service --config C:\\ProgramData\\kiosk-agent\\agent.yaml"


def test_install_writes_utf16_xml_and_creates_task(tmp_path: Path) -> None:
    runner = FakeRunner()
    p = _platform(runner)
    layout = _layout(tmp_path)
    p.install_service(layout, layout.executable)
    xml_file = tmp_path / "C/Program Files/kiosk-agent/kiosk-agent-task.xml"
    assert xml_file.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    assert "<BootTrigger>" in xml_file.read_bytes().decode("utf-16")
    assert runner.calls == [
        [
            "schtasks",
            "/Create",
            "/TN",
            TASK_NAME,
            "/XML",
            "C:\\Program Files\\kiosk-agent\\kiosk-agent-task.xml",
            "/F",
        ]
    ]


def test_ui_autostart_via_hklm_run() -> None:
    runner = FakeRunner()
    p = _platform(runner)
    layout = _layout(Path("/tmp/unused"))
    p.install_ui_autostart(layout, layout.executable)
    value = (
        '"C:\\Program Files\\kiosk-agent\\kiosk-agent.exe" ui'
        " --config C:\\ProgramData\\kiosk-agent\\ui.yaml"
    )
    assert ui_run_value(layout) == value
    assert runner.calls == [
        ["reg", "add", RUN_KEY, "/v", "kiosk-agent-ui", "/t", "REG_SZ", "/d", value, "/f"]
    ]


def test_protect_files_by_sid(tmp_path: Path) -> None:
    runner = FakeRunner()
    _platform(runner).protect_files(_layout(tmp_path))
    assert (tmp_path / "C/ProgramData/kiosk-agent/ui").is_dir()
    config_call = next(c for c in runner.calls if c[1].endswith("agent.yaml"))
    assert config_call == [
        "icacls",
        "C:\\ProgramData\\kiosk-agent\\agent.yaml",
        "/inheritance:r",
        "/grant:r",
        "*S-1-5-18:F",
        "*S-1-5-32-544:F",
    ]
    assert all(c[0] == "icacls" for c in runner.calls)


def test_state_folder_is_system_and_administrators_only() -> None:
    """Issue 15: kiosk-key.pem inherited Users:(OI)(CI)RX from the state folder."""
    commands = protect_commands(_layout(Path("/tmp/unused")))
    state = "C:\\ProgramData\\kiosk-agent"
    assert commands[:3] == [
        [
            "icacls",
            state,
            "/inheritance:r",
            "/grant:r",
            "*S-1-5-18:(OI)(CI)F",
            "*S-1-5-32-544:(OI)(CI)F",
        ],
        ["icacls", state, "/remove:g", "*S-1-5-32-545"],
        [
            "icacls",
            state + "\\ui",
            "/inheritance:r",
            "/grant:r",
            "*S-1-5-18:(OI)(CI)F",
            "*S-1-5-32-544:(OI)(CI)F",
            "*S-1-5-32-545:RX",  # the folder itself: its files carry their own rights
        ],
    ]
    users = [c for c in commands if any(a.startswith("*S-1-5-32-545:") for a in c)]
    assert [c[1] for c in users] == [
        state + "\\ui",
        "C:\\Program Files\\kiosk-agent",
        state + "\\ui.yaml",
    ]


def test_start_and_uninstall_commands(tmp_path: Path) -> None:
    runner = FakeRunner()
    p = _platform(runner)
    layout = _layout(tmp_path)
    p.install_service(layout, layout.executable)
    runner.calls.clear()
    p.start(layout)
    # /End first: with IgnoreNew, /Run alone would leave a repaired install's old program.
    assert runner.calls == [
        ["schtasks", "/End", "/TN", TASK_NAME],
        ["schtasks", "/Run", "/TN", TASK_NAME],
    ]
    runner.calls.clear()
    helper_xml = tmp_path / "C/Program Files/kiosk-agent/kiosk-agent-release-switch.xml"
    helper_xml.write_bytes(b"written by a program switch")
    p.uninstall(layout)
    assert not helper_xml.exists()
    assert runner.programs() == ["schtasks", "schtasks", "schtasks", "reg", "taskkill", "taskkill"]
    assert runner.calls[1] == ["schtasks", "/Delete", "/TN", TASK_NAME, "/F"]
    # The program switch's one-shot task (updates/windows_control.py) goes too.
    assert runner.calls[2] == ["schtasks", "/Delete", "/TN", "\\kiosk-agent\\release-switch", "/F"]
    kill = runner.calls[4]
    assert f"PID ne {os.getpid()}" in kill and f"PID ne {os.getppid()}" in kill
    assert not any("{" in a for a in kill)
    assert not (tmp_path / "C/Program Files/kiosk-agent/kiosk-agent-task.xml").exists()


def test_prefix_install_runs_nothing(tmp_path: Path) -> None:
    runner = FakeRunner()
    p = _platform(runner)
    layout = _layout(tmp_path, live=False)
    p.install_service(layout, layout.executable)
    p.install_ui_autostart(layout, layout.executable)
    p.start(layout)
    p.protect_files(layout)
    assert runner.calls == []


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (CommandResult(0, "Running\r\n"), True),
        (CommandResult(0, "Ready\r\n"), False),
        (CommandResult(1, "", "not found"), None),
    ],
)
def test_service_running(result: CommandResult, expected: bool | None) -> None:
    p = _platform(FakeRunner(lambda argv: result))
    assert p.service_running(_layout(Path("/tmp/unused"))) is expected


def test_command_line_quoting() -> None:
    assert command_line(["a b", "c", 'd"e']) == '"a b" c "d\\"e"'


def test_start_goes_on_when_the_task_was_not_running(tmp_path: Path) -> None:
    def answer(argv: list[str]) -> CommandResult:
        if "/End" in argv:
            return CommandResult(1, "", "ERROR: The task is not running.")
        return CommandResult(0, "SUCCESS", "")

    runner = FakeRunner(answer)
    steps = _platform(runner).start(_layout(tmp_path))
    assert runner.calls[-1] == ["schtasks", "/Run", "/TN", TASK_NAME]
    assert any("(exit 1)" in s for s in steps)


def test_release_layout_names_the_release_program(tmp_path: Path) -> None:
    """After install laid out a release, the task and the Run value start its launcher."""
    layout = dataclasses.replace(
        _layout(tmp_path), release="app-0.1.0-0a1b2c3d", ui_executable_name="kiosk-agent-ui.exe"
    )
    exe = "C:\\Program Files\\kiosk-agent\\app-0.1.0-0a1b2c3d\\kiosk-agent.exe"
    root = ET.fromstring(render_task_xml(layout).split("\n", 1)[1])
    command = root.find("t:Actions/t:Exec/t:Command", NS)
    assert command is not None and command.text == exe
    # The logon starts the windowed launcher (GUI subsystem: no console window).
    ui_exe = exe.replace("kiosk-agent.exe", "kiosk-agent-ui.exe")
    assert ui_run_value(layout).startswith(f'"{ui_exe}" ui --config ')
    assert uninstall_commands(layout)[-1] == ["taskkill", "/F", "/IM", "kiosk-agent-ui.exe"]
    # A release without the windowed launcher (an older build): the Run value names the
    # program itself rather than a file that is not there.
    older = dataclasses.replace(layout, ui_executable_name=None)
    assert ui_run_value(older).startswith(f'"{exe}" ui --config ')


def test_layout_follows_program_files_and_program_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROGRAMFILES", "D:\\Programs")
    monkeypatch.setenv("PROGRAMDATA", "D:\\Data")
    layout = WindowsServices().install_layout(tmp_path)
    assert str(layout.program_dir) == "D:\\Programs\\kiosk-agent"
    assert str(layout.config_path) == "D:\\Data\\kiosk-agent\\agent.yaml"
