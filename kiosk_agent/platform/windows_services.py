"""Windows: the service as a boot-time scheduled task running as SYSTEM, the UI via HKLM Run.

Why a scheduled task and not a Windows service: a service executable must answer the
Service Control Manager's protocol (``sc create`` on a plain program fails with error 1053
after 30 s), which would need pywin32 in the one-file program. Task Scheduler starts a
plain program as SYSTEM at boot, restarts it when it fails, and a repetition every five
minutes with ``IgnoreNew`` starts it again if it was killed (a running instance makes the
repetition a no-op).

Commands and the task XML are rendered by pure functions and run through the platform's
command runner; the tests run on Linux and check them as text. Accounts are named by SID
so a French or Swahili Windows (where "Administrators" is spelled otherwise) works too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath
from xml.sax.saxutils import escape

from kiosk_agent.atomic import write_atomic
from kiosk_agent.platform.base import (
    CommandResult,
    CommandRunner,
    InstallLayout,
    PlatformError,
    run_command,
)

TASK_FOLDER = "\\kiosk-agent\\"
TASK_NAME = "\\kiosk-agent\\service"
RUN_KEY = r"HKLM\Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "kiosk-agent-ui"
TASK_XML_NAME = "kiosk-agent-task.xml"
# The one-shot task that runs a program switch (``updates/windows_control.py``).
HELPER_TASK = "\\kiosk-agent\\release-switch"
HELPER_XML_NAME = "kiosk-agent-release-switch.xml"

SID_SYSTEM = "*S-1-5-18"
SID_ADMINISTRATORS = "*S-1-5-32-544"
SID_USERS = "*S-1-5-32-545"


def win(path: Path | PureWindowsPath | str) -> str:
    """A path as Windows spells it (the tests build Windows paths on Linux)."""
    return str(path).replace("/", "\\")


def _quote(arg: str) -> str:
    """One argument of a Windows command line (CommandLineToArgvW rules, simple cases)."""
    if arg and not any(c in arg for c in ' \t"'):
        return arg
    return '"' + arg.replace('"', '\\"') + '"'


def command_line(args: Sequence[str]) -> str:
    return " ".join(_quote(a) for a in args)


def render_task_xml(layout: InstallLayout) -> str:
    """Task Scheduler XML: at boot, as SYSTEM, restart on failure, never time out."""
    exe = win(layout.executable)
    arguments = command_line(["service", "--config", win(layout.config_path)])
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.3" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>kiosk-agent safety filter (written by kiosk-agent install)</Description>
    <URI>{TASK_NAME}</URI>
  </RegistrationInfo>
  <Triggers>
    <BootTrigger>
      <Enabled>true</Enabled>
    </BootTrigger>
    <TimeTrigger>
      <StartBoundary>2024-01-01T00:00:00</StartBoundary>
      <Enabled>true</Enabled>
      <Repetition>
        <Interval>PT5M</Interval>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
    </TimeTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>S-1-5-18</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Priority>4</Priority>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(exe)}</Command>
      <Arguments>{escape(arguments)}</Arguments>
      <WorkingDirectory>{escape(win(layout.state_dir))}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"""


def ui_run_value(layout: InstallLayout) -> str:
    """The HKLM Run value: starts ``kiosk-agent ui`` at every user's logon."""
    config = layout.ui_config_path or layout.config_path
    return command_line([win(layout.ui_executable), "ui", "--config", win(config)])


def install_service_commands(layout: InstallLayout) -> list[list[str]]:
    xml = win(PureWindowsPath(win(layout.program_dir)) / TASK_XML_NAME)
    return [["schtasks", "/Create", "/TN", TASK_NAME, "/XML", xml, "/F"]]


def ui_autostart_commands(layout: InstallLayout) -> list[list[str]]:
    return [
        ["reg", "add", RUN_KEY, "/v", RUN_VALUE, "/t", "REG_SZ", "/d", ui_run_value(layout), "/f"]
    ]


UI_SUBFOLDER = "ui"
"""The one folder under the state folder that Users may open: the per-session control
tokens (each with its own rights, ``platform/windows_token.py``)."""


def protect_commands(layout: InstallLayout) -> list[list[str]]:
    """``icacls``: the program writable by SYSTEM and Administrators only; the state
    folder (counts, indexes, the kiosk's signing key ``kiosk-key.pem``, the config with the
    PIN hash) theirs only, inheritance from ProgramData dropped and an explicit Users entry
    of an older install removed; ``ui.yaml`` and the ``ui`` subfolder (itself, not its
    files) readable by Users, for the UI in the customer's session (docs/install.md)."""
    state = win(layout.state_dir)
    ui_dir = win(PureWindowsPath(state) / UI_SUBFOLDER)
    full = [f"{SID_SYSTEM}:(OI)(CI)F", f"{SID_ADMINISTRATORS}:(OI)(CI)F"]
    read = f"{SID_USERS}:(OI)(CI)RX"
    commands = [
        ["icacls", state, "/inheritance:r", "/grant:r", *full],
        ["icacls", state, "/remove:g", SID_USERS],
        ["icacls", ui_dir, "/inheritance:r", "/grant:r", *full, f"{SID_USERS}:RX"],
        [
            "icacls",
            win(layout.config_path),
            "/inheritance:r",
            "/grant:r",
            f"{SID_SYSTEM}:F",
            f"{SID_ADMINISTRATORS}:F",
        ],
        ["icacls", win(layout.program_dir), "/inheritance:r", "/grant:r", *full, read],
    ]
    if layout.ui_config_path is not None:
        commands.append(["icacls", win(layout.ui_config_path), "/grant:r", f"{SID_USERS}:R"])
    return commands


def restart_commands(layout: InstallLayout) -> tuple[list[list[str]], list[list[str]]]:
    """(commands that may fail, commands that must succeed) to (re)start the task.

    ``/End`` first: with ``MultipleInstancesPolicy IgnoreNew``, ``/Run`` alone is a no-op
    while a repaired install's old program still runs, so the task would keep running the
    previous release. ``/End`` fails when the task is not running; that is fine."""
    return [["schtasks", "/End", "/TN", TASK_NAME]], [["schtasks", "/Run", "/TN", TASK_NAME]]


def uninstall_commands(layout: InstallLayout) -> list[list[str]]:
    image = layout.executable_name
    # The windowed UI launcher of a release (the UI and its supervisor) by its own name.
    ui = image[: -len(".exe")] + "-ui.exe" if image.endswith(".exe") else image + "-ui"
    return [
        ["schtasks", "/End", "/TN", TASK_NAME],
        ["schtasks", "/Delete", "/TN", TASK_NAME, "/F"],
        ["schtasks", "/Delete", "/TN", HELPER_TASK, "/F"],  # absent until a program switch
        ["reg", "delete", RUN_KEY, "/v", RUN_VALUE, "/f"],
        # The UI in every session, but never the uninstaller itself (same image name; run
        # from the one-file download it is two processes, the unpacking parent and the
        # program).
        [
            "taskkill",
            "/F",
            "/FI",
            f"IMAGENAME eq {image}",
            "/FI",
            "PID ne {self_pid}",
            "/FI",
            "PID ne {parent_pid}",
        ],
        ["taskkill", "/F", "/IM", ui],
    ]


def running_command() -> list[str]:
    # The task's State is an enum name ("Running"), not localized like schtasks' text output.
    return [
        "powershell",
        "-NoProfile",
        "-NonInteractive",
        "-Command",
        f"(Get-ScheduledTask -TaskPath '{TASK_FOLDER}' -TaskName 'service').State",
    ]


class WindowsServices:
    """``ServiceManager`` for Windows: Task Scheduler, HKLM Run, icacls.

    Commands run through ``self.runner`` when set (tests assign a fake), else ``run_command``.
    """

    def _run(self, argv: Sequence[str], *, check: bool = True) -> CommandResult:
        runner: CommandRunner = getattr(self, "runner", run_command)
        result = runner(argv)
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip() or f"exit {result.returncode}"
            raise PlatformError(f"{command_line(argv)} failed: {detail}")
        return result

    def _run_all(self, commands: list[list[str]], *, check: bool = True) -> list[str]:
        steps = []
        for argv in commands:
            result = self._run(argv, check=check)
            suffix = "" if check else f" (exit {result.returncode})"
            steps.append(f"ran {command_line(argv)}{suffix}")
        return steps

    def install_layout(self, root: Path) -> InstallLayout:
        # %ProgramFiles% / %ProgramData%: not on drive C: on every PC (the tests, on Linux,
        # get the defaults).
        program_files = PureWindowsPath(os.environ.get("PROGRAMFILES") or "C:\\Program Files")
        program_data = PureWindowsPath(os.environ.get("PROGRAMDATA") or "C:\\ProgramData")
        return InstallLayout(
            root=root,
            program_dir=Path(win(program_files / "kiosk-agent")),
            config_path=Path(win(program_data / "kiosk-agent" / "agent.yaml")),
            ui_config_path=Path(win(program_data / "kiosk-agent" / "ui.yaml")),
            state_dir=Path(win(program_data / "kiosk-agent")),
            executable_name="kiosk-agent.exe",
            register_with_os=root == Path("/") or root == Path("C:\\"),
        )

    def protect_files(self, layout: InstallLayout) -> list[str]:
        if not layout.register_with_os:
            return [f"access rights not set: installed into the prefix {layout.root}"]
        layout.on_disk(layout.state_dir / UI_SUBFOLDER).mkdir(parents=True, exist_ok=True)
        return self._run_all(protect_commands(layout))

    def install_service(self, layout: InstallLayout, executable: Path) -> list[str]:
        xml_path = Path(win(PureWindowsPath(win(layout.program_dir)) / TASK_XML_NAME))
        # schtasks reads task XML reliably only as UTF-16 with a byte-order mark.
        write_atomic(layout.on_disk(xml_path), render_task_xml(layout).encode("utf-16"))
        steps = [f"wrote {win(xml_path)} (at boot, as SYSTEM, restart on failure)"]
        if layout.register_with_os:
            steps += self._run_all(install_service_commands(layout))
        return steps

    def install_ui_autostart(self, layout: InstallLayout, executable: Path) -> list[str]:
        if not layout.register_with_os:
            return [f"HKLM Run entry not written: installed into the prefix {layout.root}"]
        return [*self._run_all(ui_autostart_commands(layout)), "the UI starts at each logon"]

    def start(self, layout: InstallLayout) -> list[str]:
        if not layout.register_with_os:
            return [f"not started: installed into the prefix {layout.root}"]
        may_fail, must = restart_commands(layout)
        steps = self._run_all(may_fail, check=False) + self._run_all(must)
        return [*steps, "the notice and tray start at next logon"]

    def uninstall(self, layout: InstallLayout) -> list[str]:
        steps: list[str] = []
        if layout.register_with_os:
            pids = {"{self_pid}": str(os.getpid()), "{parent_pid}": str(os.getppid())}

            def fill(arg: str) -> str:
                for placeholder, pid in pids.items():
                    arg = arg.replace(placeholder, pid)
                return arg

            commands = [[fill(a) for a in argv] for argv in uninstall_commands(layout)]
            steps += self._run_all(commands, check=False)
        for name in (TASK_XML_NAME, HELPER_XML_NAME):
            xml = layout.on_disk(Path(win(PureWindowsPath(win(layout.program_dir)) / name)))
            if xml.exists():
                xml.unlink()
                steps.append(f"removed {name}")
        return steps

    def service_running(self, layout: InstallLayout) -> bool | None:
        if not layout.register_with_os:
            return None
        result = self._run(running_command(), check=False)
        state = result.stdout.strip()
        if result.returncode != 0 or not state:
            return None
        return state == "Running"
