"""WindowsControl with its commands recorded: what a program switch does on a Windows PC.

Nothing here runs on Windows (these tests run on Linux): the Task Scheduler, ``reg`` and
``taskkill`` commands are checked as text, the files under a prefix (docs/windows.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk_agent.config import Config
from kiosk_agent.installer import release
from kiosk_agent.platform.base import CommandResult
from kiosk_agent.platform.windows_services import HELPER_TASK, RUN_KEY, RUN_VALUE, TASK_NAME
from kiosk_agent.updates.service_control import ControlError, control_for
from kiosk_agent.updates.switch import kill_tree_command
from kiosk_agent.updates.windows_control import (
    WindowsControl,
    render_helper_task_xml,
    windows_control,
)
from tests.platform.fake_runner import FakeRunner

OLD, NEW = "app-1.0.0-aaaa", "app-1.1.0-bbbb"
PROGRAM_DIR = Path("C:\\Program Files\\kiosk-agent")
CONFIG = Path("C:\\ProgramData\\kiosk-agent\\agent.yaml")
RUNNING = ["powershell", "-NoProfile", "-NonInteractive", "-Command",
           "(Get-ScheduledTask -TaskPath '\\kiosk-agent\\' -TaskName 'service').State"]  # fmt: skip


def installed(root: Path, *, ui: bool = True) -> Path:
    """Two releases of a Windows install under the prefix ``root``, the stable .cmd on OLD."""
    on_disk = root / "C" / "Program Files" / "kiosk-agent"
    for name in (OLD, NEW):
        (on_disk / name).mkdir(parents=True)
        (on_disk / name / "kiosk-agent.exe").write_bytes(b"MZ")
        if ui:
            (on_disk / name / "kiosk-agent-ui.exe").write_bytes(b"MZ")
    release.point_command_at(on_disk, OLD, "kiosk-agent.exe")
    return on_disk


def control(root: Path, runner: FakeRunner) -> WindowsControl:
    return WindowsControl(PROGRAM_DIR, "kiosk-agent.exe", CONFIG, runner, root, lambda s: None)


def test_point_at_rewrites_the_task_the_run_value_and_the_cmd(tmp_path: Path) -> None:
    on_disk = installed(tmp_path)
    runner = FakeRunner()
    control(tmp_path, runner).point_at(NEW)
    exe = f"C:\\Program Files\\kiosk-agent\\{NEW}\\kiosk-agent.exe"
    xml = (on_disk / "kiosk-agent-task.xml").read_bytes().decode("utf-16")
    assert f"<Command>{exe}</Command>" in xml
    assert "<Arguments>service --config C:\\ProgramData\\kiosk-agent\\agent.yaml</Arguments>" in xml
    ui = f'"C:\\Program Files\\kiosk-agent\\{NEW}\\kiosk-agent-ui.exe"'
    assert runner.calls == [
        ["schtasks", "/Create", "/TN", TASK_NAME, "/XML",
         "C:\\Program Files\\kiosk-agent\\kiosk-agent-task.xml", "/F"],
        ["reg", "add", RUN_KEY, "/v", RUN_VALUE, "/t", "REG_SZ", "/d",
         f"{ui} ui --config C:\\ProgramData\\kiosk-agent\\ui.yaml", "/f"],
    ]  # fmt: skip
    assert release.current_release(on_disk, "kiosk-agent.exe") == NEW
    assert f'"%~dp0{NEW}\\kiosk-agent.exe" %*' in (on_disk / "kiosk-agent.cmd").read_text()
    # Written by rename: no temporary file is left beside them.
    assert sorted(p.name for p in on_disk.iterdir() if p.is_file()) == [
        "kiosk-agent-task.xml",
        "kiosk-agent.cmd",
    ]


def test_a_release_without_the_windowed_launcher_runs_the_ui_from_the_program(
    tmp_path: Path,
) -> None:
    installed(tmp_path, ui=False)
    runner = FakeRunner()
    control(tmp_path, runner).point_at(NEW)
    assert f'{NEW}\\kiosk-agent.exe" ui --config' in runner.calls[1][8]


def test_a_failing_registration_is_a_control_error(tmp_path: Path) -> None:
    installed(tmp_path)
    runner = FakeRunner(lambda argv: CommandResult(1, "", "Access is denied."))
    with pytest.raises(ControlError, match="Access is denied"):
        control(tmp_path, runner).point_at(NEW)


def test_stop_ends_the_task_and_waits_until_it_no_longer_runs(tmp_path: Path) -> None:
    installed(tmp_path)
    states = ["Running", "Running", "Ready"]

    def answer(argv: list[str]) -> CommandResult:
        if argv[0] == "powershell":
            return CommandResult(0, states.pop(0) + "\r\n")
        return CommandResult(1, "", "not running")  # /End on a stopped task: tolerated

    runner = FakeRunner(answer)
    control(tmp_path, runner).stop()
    assert runner.calls == [["schtasks", "/End", "/TN", TASK_NAME], RUNNING, RUNNING, RUNNING]


def test_stop_gives_up_when_the_task_keeps_running(tmp_path: Path) -> None:
    installed(tmp_path)
    runner = FakeRunner(lambda argv: CommandResult(0, "Running"))
    with pytest.raises(ControlError, match="still runs"):
        control(tmp_path, runner).stop()


def test_start_ends_a_stray_instance_then_runs_the_task(tmp_path: Path) -> None:
    installed(tmp_path)
    runner = FakeRunner(
        lambda argv: CommandResult(1 if "/End" in argv else 0, "", "The task is not running")
    )
    control(tmp_path, runner).start()
    assert runner.calls == [
        ["schtasks", "/End", "/TN", TASK_NAME],
        ["schtasks", "/Run", "/TN", TASK_NAME],
    ]
    failing = FakeRunner(lambda argv: CommandResult(1, "", "The system cannot find the file"))
    with pytest.raises(ControlError, match="cannot find"):
        control(tmp_path, failing).start()


def test_the_helper_runs_as_a_task_of_its_own_from_the_current_release(tmp_path: Path) -> None:
    on_disk = installed(tmp_path)
    runner = FakeRunner()
    stable = str(PROGRAM_DIR / "kiosk-agent.exe")
    argv = [stable, "update", "apply-release", "--config", str(CONFIG)]
    control(tmp_path, runner).spawn_helper(argv)
    xml_path = "C:\\Program Files\\kiosk-agent\\kiosk-agent-release-switch.xml"
    assert runner.calls == [
        ["schtasks", "/Create", "/TN", HELPER_TASK, "/XML", xml_path, "/F"],
        ["schtasks", "/Run", "/TN", HELPER_TASK],
    ]
    xml = (on_disk / "kiosk-agent-release-switch.xml").read_bytes().decode("utf-16")
    assert f"<Command>C:\\Program Files\\kiosk-agent\\{OLD}\\kiosk-agent.exe</Command>" in xml
    assert (
        "<Arguments>update apply-release --config C:\\ProgramData\\kiosk-agent\\agent.yaml"
        "</Arguments>" in xml
    )
    assert "<UserId>S-1-5-18</UserId>" in xml
    assert "<Triggers>" not in xml  # started once, by /Run


def test_helper_task_xml_quotes_arguments_with_spaces() -> None:
    xml = render_helper_task_xml(
        ["C:/a b/kiosk-agent.exe", "update", "--config", "C:\\x y\\a&b.yaml"], "C:\\ProgramData"
    )
    assert "<Command>C:\\a b\\kiosk-agent.exe</Command>" in xml
    assert '<Arguments>update --config "C:\\x y\\a&amp;b.yaml"</Arguments>' in xml


def test_the_trial_is_ended_with_its_children_on_windows() -> None:
    assert kill_tree_command(4242) == ["taskkill", "/T", "/F", "/PID", "4242"]


def test_control_for_is_the_windows_task_on_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from kiosk_agent.config import ReleaseConfig, UpdatesConfig

    on_disk = installed(tmp_path)
    monkeypatch.setattr("sys.platform", "win32")
    config = Config(
        state_dir=tmp_path / "state",
        updates=UpdatesConfig(release=ReleaseConfig(program_dir=on_disk)),
        source=str(tmp_path / "agent.yaml"),
    )
    found = control_for(config)
    assert isinstance(found, WindowsControl)
    assert (found.program_dir, found.executable_name) == (on_disk, "kiosk-agent.exe")
    assert found.config_path == tmp_path / "agent.yaml"
    # No installed release (a source checkout): program updates stay off.
    assert windows_control(CONFIG, tmp_path / "empty") is None
    command = replace(config.updates.release, service="command", stop_command=("x",))
    other = control_for(replace(config, updates=replace(config.updates, release=command)))
    assert not isinstance(other, WindowsControl)


@pytest.mark.parametrize(
    ("answer", "running"),
    [
        (CommandResult(0, "Running\r\n"), True),
        (CommandResult(0, "Ready\r\n"), False),
        (CommandResult(1, "", "No MSFT_ScheduledTask objects found"), False),  # never created
    ],
)
def test_helper_running_asks_the_helper_task(
    tmp_path: Path, answer: CommandResult, running: bool
) -> None:
    runner = FakeRunner(lambda argv: answer)
    assert control(tmp_path, runner).helper_running(("unknown", 7)) is running
    assert runner.calls == [
        ["powershell", "-NoProfile", "-NonInteractive", "-Command",
         "(Get-ScheduledTask -TaskPath '\\kiosk-agent\\' -TaskName 'release-switch').State"],
    ]  # fmt: skip


@pytest.mark.parametrize(("task", "phase"), [("Running", "switched"), ("Ready", "staged")])
def test_the_service_leaves_a_switch_alone_while_the_helper_task_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task: str, phase: str
) -> None:
    """Windows: the service started by the helper (step 4) must not take the switch over;
    a helper task that ended (a crash) leaves a switch the service takes up again."""
    from kiosk_agent.reporting.events import EventBus
    from kiosk_agent.service.context import ServiceContext
    from kiosk_agent.updates import release_state as rs
    from kiosk_agent.updates import windows_control as wc
    from kiosk_agent.updates.component import UpdatesComponent

    installed(tmp_path)  # the stable command names OLD: the switch did not get that far
    runner = FakeRunner(lambda argv: CommandResult(0, task))
    recorded = control(tmp_path, runner)
    monkeypatch.setattr(wc, "windows_control", lambda config_path, program_dir: recorded)
    monkeypatch.setattr("sys.platform", "win32")
    config = Config(state_dir=tmp_path / "state", source=str(tmp_path / "agent.yaml"))
    switched = rs.ReleaseState(
        phase="switched", candidate=rs.Candidate(1_000_001_000_000, "1.1.0", NEW), previous=OLD,
        attempts=1, helper=("unknown", 7),
    )  # fmt: skip
    rs.save(config.state_dir, switched)
    component = UpdatesComponent(ServiceContext(config, bus=EventBus()))
    monkeypatch.setattr(component, "start_switch", lambda: None)
    component.settle_release()
    assert rs.load(config.state_dir).phase == phase
