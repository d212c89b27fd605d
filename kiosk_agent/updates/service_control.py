"""Stop, start and re-point this PC's service for a program switch (docs/fleet.md).

``auto`` is systemd on Linux: ``systemctl stop/start kiosk-agent.service``, the unit and
the UI's autostart entry rewritten to name the new release (as ``install`` writes them),
and the switch helper started with ``systemd-run`` so that stopping the service does not
stop the helper too (systemd ends every process of a unit's control group). ``command``
runs the configured ``stop_command`` / ``start_command`` (another service manager, and
the end-to-end test's stand-in for systemd) and starts the helper in a session of its
own. On Windows ``auto`` is the Task Scheduler task that ``install`` registers
(``windows_control.py``).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from kiosk_agent.config import Config
from kiosk_agent.installer import release
from kiosk_agent.updates.control_error import ControlError as ControlError

HELPER_UNIT = "kiosk-agent-release-switch"
_HELPERS: list[subprocess.Popen[bytes]] = []


class ServiceControl(Protocol):
    program_dir: Path
    executable_name: str

    def stop(self) -> None: ...
    def start(self) -> None: ...
    def point_at(self, name: str) -> None: ...
    def spawn_helper(self, argv: Sequence[str]) -> None: ...


def _run(argv: Sequence[str], timeout: float = 60) -> None:
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ControlError(f"{argv[0]}: {e}") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[-300:]
        raise ControlError(f"{' '.join(argv)} failed (exit {done.returncode}): {detail}")


@dataclasses.dataclass
class CommandControl:
    """``updates.release.service: command``."""

    program_dir: Path
    executable_name: str
    stop_command: tuple[str, ...]
    start_command: tuple[str, ...]

    def stop(self) -> None:
        _run(self.stop_command)

    def start(self) -> None:
        _run(self.start_command)

    def point_at(self, name: str) -> None:
        release.point_command_at(self.program_dir, name, self.executable_name)

    def spawn_helper(self, argv: Sequence[str]) -> None:
        # Kept and polled, so an ended helper is reaped (no zombie) and never waited for.
        _HELPERS[:] = [p for p in _HELPERS if p.poll() is None]
        _HELPERS.append(
            subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )


@dataclasses.dataclass
class SystemdControl:
    """``updates.release.service: auto`` on Linux. ``runner`` (tests: a recorder) runs
    the commands, as for the installer (``LinuxServices.runner``)."""

    program_dir: Path
    executable_name: str
    config_path: Path
    runner: Any = None

    def _services(self) -> Any:
        from kiosk_agent.platform.linux_services import LinuxServices

        services = LinuxServices()
        if self.runner is not None:
            services.runner = self.runner  # type: ignore[attr-defined]
        return services

    def _systemctl(self, *argv: str) -> None:
        from kiosk_agent.platform.base import PlatformError

        try:
            self._services()._run(list(argv))
        except PlatformError as e:
            raise ControlError(str(e)) from None

    def stop(self) -> None:
        self._systemctl("systemctl", "stop", "kiosk-agent.service")

    def start(self) -> None:
        self._systemctl("systemctl", "start", "kiosk-agent.service")

    def point_at(self, name: str) -> None:
        services = self._services()
        layout = dataclasses.replace(
            services.install_layout(Path("/")),
            program_dir=self.program_dir,
            config_path=self.config_path,
            release=name,
        )
        # The unit and the autostart entry first: they are what the next boot runs.
        services.install_service(layout, layout.executable)
        services.install_ui_autostart(layout, layout.executable)
        release.point_command_at(self.program_dir, name, self.executable_name)

    def spawn_helper(self, argv: Sequence[str]) -> None:
        # ExecStopPost runs however the helper ends (even killed): the service is started
        # again if the helper stopped it and did not live to start it (a no-op otherwise).
        self._systemctl(
            "systemd-run", "--collect", "--quiet", f"--unit={HELPER_UNIT}",
            "--property=ExecStopPost=/bin/systemctl start kiosk-agent.service", *argv,
        )  # fmt: skip


def control_for(config: Config) -> ServiceControl | None:
    """How this PC's service is switched, or None where program updates are off (a source
    checkout without an installed release)."""
    r = config.updates.release
    source = config.source.split(" + ")[0]
    if sys.platform == "win32" and r.service != "command":
        from kiosk_agent.updates.windows_control import windows_control

        return windows_control(Path(source), r.program_dir)
    program_dir = r.program_dir or Path("/opt/kiosk-agent")
    executable_name = "kiosk-agent"
    if release.current_release(program_dir, executable_name) is None:
        return None
    if r.service == "command":
        return CommandControl(program_dir, executable_name, r.stop_command, r.start_command)
    return SystemdControl(program_dir, executable_name, Path(source))
