"""Stop, start and re-point the Windows install for a program switch (docs/windows.md).

The service is the Task Scheduler task ``install`` registers (``platform/windows_services``):
stopped with ``schtasks /End`` (then polled until it no longer runs), started with
``/End`` + ``/Run`` like ``install`` (a repetition may have started the old program
meanwhile, and ``/Run`` alone is a no-op then). ``point_at`` rewrites what ``install``
writes: the task XML (re-registered), the HKLM Run value and ``kiosk-agent.cmd``.

The switch helper runs as a one-shot task of its own (``\\kiosk-agent\\release-switch``,
as SYSTEM), not as a child process: Task Scheduler ends a task's whole process tree
(its job object) on ``/End``, and whether that job allows ``CREATE_BREAKAWAY_FROM_JOB``
is not documented. A task of its own is what ``systemd-run`` is on Linux. Windows has
no ``ExecStopPost``: if the helper dies after stopping the service, the service task's
own triggers (at boot, and every five minutes with ``IgnoreNew``) start it again. The
service asks whether that task runs (``helper_running``) before it finishes a switch whose
helper seems gone, as it probes the helper's pid on Linux.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path, PureWindowsPath
from typing import Any
from xml.sax.saxutils import escape

from kiosk_agent.atomic import write_atomic
from kiosk_agent.installer import release
from kiosk_agent.platform.base import InstallLayout, PlatformError
from kiosk_agent.platform.windows_services import (
    HELPER_TASK,
    HELPER_XML_NAME,
    TASK_NAME,
    WindowsServices,
    command_line,
    restart_commands,
    win,
)
from kiosk_agent.updates.control_error import ControlError

EXECUTABLE = "kiosk-agent.exe"
STOP_WAIT = 30.0  # seconds for the ended task to leave the Running state


def render_helper_task_xml(argv: Sequence[str], working_dir: str) -> str:
    """A task with no trigger (started once with ``/Run``), as SYSTEM, one hour at most."""
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.3" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>kiosk-agent program switch (written by the kiosk-agent service)</Description>
    <URI>{HELPER_TASK}</URI>
  </RegistrationInfo>
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
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <ExecutionTimeLimit>PT1H</ExecutionTimeLimit>
    <Priority>4</Priority>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(win(argv[0]))}</Command>
      <Arguments>{escape(command_line(list(argv[1:])))}</Arguments>
      <WorkingDirectory>{escape(working_dir)}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"""


def helper_state_command() -> list[str]:
    folder, name = HELPER_TASK.rsplit("\\", 1)
    return [
        "powershell",
        "-NoProfile",
        "-NonInteractive",
        "-Command",
        f"(Get-ScheduledTask -TaskPath '{folder}\\' -TaskName '{name}').State",
    ]


@dataclasses.dataclass
class WindowsControl:
    """``updates.release.service: auto`` on Windows. ``runner`` (tests: a recorder) runs
    the commands, as for the installer (``WindowsServices.runner``); ``root`` is where
    files are written (tests: a prefix; the layout's paths stay Windows paths)."""

    program_dir: Path
    executable_name: str
    config_path: Path
    runner: Any = None
    root: Path = Path("/")
    sleep: Callable[[float], None] = time.sleep

    def _services(self) -> WindowsServices:
        services = WindowsServices()
        if self.runner is not None:
            services.runner = self.runner  # type: ignore[attr-defined]
        return services

    def _layout(self, name: str | None) -> InstallLayout:
        services = self._services()
        layout = dataclasses.replace(
            services.install_layout(self.root),
            program_dir=self.program_dir,
            config_path=self.config_path,
            executable_name=self.executable_name,
            register_with_os=True,
            release=name,
        )
        ui_name = release.ui_executable_name(self.executable_name)
        if name is not None and layout.on_disk(self.program_dir / name / ui_name).is_file():
            layout = dataclasses.replace(layout, ui_executable_name=ui_name)
        return layout

    def _run(self, argv: Sequence[str], *, check: bool = True) -> str:
        try:
            return self._services()._run(list(argv), check=check).stdout
        except PlatformError as e:
            raise ControlError(str(e)) from None

    def stop(self) -> None:
        # /End fails when the task is not running: that is a stopped service already.
        self._run(["schtasks", "/End", "/TN", TASK_NAME], check=False)
        services, layout = self._services(), self._layout(None)
        for _ in range(int(STOP_WAIT / 0.5)):
            # None (the state cannot be read) is taken as stopped: /End kills at once.
            if not services.service_running(layout):
                return
            self.sleep(0.5)
        raise ControlError(f"the task {TASK_NAME} still runs {STOP_WAIT:.0f} s after /End")

    def start(self) -> None:
        may_fail, must = restart_commands(self._layout(None))
        for argv in may_fail:
            self._run(argv, check=False)
        for argv in must:
            self._run(argv)

    def point_at(self, name: str) -> None:
        services, layout = self._services(), self._layout(name)
        try:
            # The task and the Run value first: they are what the next boot runs.
            services.install_service(layout, layout.executable)
            services.install_ui_autostart(layout, layout.executable)
        except PlatformError as e:
            raise ControlError(str(e)) from None
        release.point_command_at(layout.on_disk(self.program_dir), name, self.executable_name)

    def helper_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` with the stable program (``program_dir\\kiosk-agent.exe``, which does
        not exist on Windows: the stable command is ``kiosk-agent.cmd``) replaced by the
        current release's program, so no ``cmd.exe`` parses the arguments."""
        stable = win(self.program_dir / self.executable_name)
        current = release.current_release(
            self._layout(None).on_disk(self.program_dir), self.executable_name
        )
        if win(argv[0]) == stable and current is not None:
            return [win(self.program_dir / current / self.executable_name), *argv[1:]]
        return [win(argv[0]), *argv[1:]]

    def helper_running(self, helper: tuple[str, int] | None) -> bool:
        """Whether the switch helper's task runs now: what ``release_state.helper_alive``
        asks on Linux (on Windows a pid is not probed: ``os.kill(pid, 0)`` would end it).
        A task that cannot be queried (never created) is taken as not running."""
        result = self._services()._run(helper_state_command(), check=False)
        return result.returncode == 0 and result.stdout.strip() == "Running"

    def spawn_helper(self, argv: Sequence[str]) -> None:
        xml_path = PureWindowsPath(win(self.program_dir)) / HELPER_XML_NAME
        layout = self._layout(None)
        xml = render_helper_task_xml(self.helper_argv(argv), win(layout.state_dir))
        write_atomic(layout.on_disk(Path(win(xml_path))), xml.encode("utf-16"))
        self._run(["schtasks", "/Create", "/TN", HELPER_TASK, "/XML", win(xml_path), "/F"])
        self._run(["schtasks", "/Run", "/TN", HELPER_TASK])


def windows_control(config_path: Path, program_dir: Path | None) -> WindowsControl | None:
    """The control for an installed Windows kiosk, or None without an installed release."""
    directory = program_dir or WindowsServices().install_layout(Path("/")).program_dir
    if release.current_release(directory, EXECUTABLE) is None:
        return None
    return WindowsControl(directory, EXECUTABLE, config_path)
