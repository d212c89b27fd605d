"""The documented interface to the operating system; one implementation per OS.

Nothing outside ``kiosk_agent/platform/`` tests ``sys.platform``: code asks
``kiosk_agent.platform.current()`` for a ``Platform`` and calls these methods.
Each OS module is a ``Platform`` assembled from small per-concept classes
(``linux_dns.py``, ``windows_dns.py``, ...), so each concept stays one small file.

Commands are run through a ``CommandRunner`` so tests can substitute a fake and check
the exact commands an implementation would issue (the Windows paths cannot run here).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kiosk_agent.platform.browser_policies import BrowserGuardState, GuardPolicy


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""


class CommandRunner(Protocol):
    def __call__(self, argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult: ...


def run_command(argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
    """The real runner: no shell, captured text output, never raises for a non-zero exit."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        return CommandResult(127, "", f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return CommandResult(124, "", f"{argv[0]}: timed out after {timeout}s")
    return CommandResult(done.returncode, done.stdout, done.stderr)


class PlatformError(Exception):
    """An OS operation failed; the message says which and why, in plain words."""


@dataclass(frozen=True)
class DnsSnapshot:
    """The system's DNS servers, per interface where the OS has that notion.

    ``interfaces`` maps an interface (Linux link name or Windows adapter alias) to its
    servers; ``global_servers`` are servers not tied to one interface (resolv.conf).
    ``method`` records how they were read, so a restore writes them back the same way.
    """

    method: str
    global_servers: tuple[str, ...] = ()
    interfaces: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def all_servers(self) -> tuple[str, ...]:
        seen: dict[str, None] = dict.fromkeys(self.global_servers)
        for servers in self.interfaces.values():
            seen.update(dict.fromkeys(servers))
        return tuple(seen)


class DnsSettings(Protocol):
    """Reading and changing which DNS servers the operating system uses."""

    def read_dns(self) -> DnsSnapshot:
        """The servers the system uses now."""
        ...

    def point_dns_at(self, servers: Sequence[str]) -> None:
        """Make the system use ``servers`` (the agent's listen addresses) for every interface."""
        ...

    def restore_dns(self, snapshot: DnsSnapshot) -> None:
        """Put back what ``read_dns`` returned before the agent changed anything."""
        ...


@dataclass(frozen=True)
class DesktopSession:
    """A logged-in desktop session: an opaque id that changes with each new login."""

    session_id: str
    user_hash: str  # a hash, never the account name: it only has to tell sessions apart
    started: float  # epoch seconds, as reported by the OS


class SessionSignals(Protocol):
    """What the session watcher needs from the OS to notice a new customer."""

    def desktop_sessions(self) -> list[DesktopSession]:
        """The desktop sessions logged in now."""
        ...

    def idle_seconds(self) -> float | None:
        """Seconds since the last keyboard or mouse input in this desktop, or None if unknown."""
        ...


@dataclass(frozen=True)
class InstallLayout:
    """Where an installed agent lives. ``root`` is "/" for a real install or a test prefix.

    ``program_dir``, ``config_path``, ``ui_config_path`` and ``state_dir`` are the paths as
    the installed system sees them (what the service unit and the config name); files are
    written at ``on_disk(path)``, under ``root`` (like ``DESTDIR`` for packaging).
    ``ui_config_path`` is the config without the operator section, readable by the
    customer's account for ``kiosk-agent ui`` (the full config, with the PIN hash, is
    readable by the service only). ``register_with_os`` is False when installing into a
    prefix: the units are written but nothing is enabled or started on this machine.
    ``release`` names the unpacked program folder inside ``program_dir`` that the service
    definitions run (``kiosk_agent/installer/release.py``).
    """

    root: Path
    program_dir: Path
    config_path: Path
    state_dir: Path
    ui_config_path: Path | None = None
    executable_name: str = "kiosk-agent"
    register_with_os: bool = True
    release: str | None = None
    ui_executable_name: str | None = None

    @property
    def executable(self) -> Path:
        """The installed program the service and the UI run, as the system sees it: the
        release folder's launcher (``program_dir/app-.../kiosk-agent``) once ``install``
        has laid one out, else ``program_dir/kiosk-agent`` (a source checkout's script)."""
        if self.release is not None:
            return self.program_dir / self.release / self.executable_name
        return self.program_dir / self.executable_name

    @property
    def ui_executable(self) -> Path:
        """What the logon starts for the UI: the release's windowed launcher when install
        laid one out (Windows: ``kiosk-agent-ui.exe``, no console window at each logon),
        else ``executable``."""
        if self.release is not None and self.ui_executable_name is not None:
            return self.program_dir / self.release / self.ui_executable_name
        return self.executable

    def on_disk(self, path: Path) -> Path:
        """Where ``path`` (a path on the installed system) is written under ``root``."""
        if self.root == Path("/"):
            return path
        # A Windows path ("C:\\Program Files\\...") goes to "C/Program Files/..." under a prefix.
        text = str(path).replace("\\", "/")
        parts = [p.rstrip(":") for p in text.split("/") if p and p != "."]
        return self.root.joinpath(*parts)


class ServiceManager(Protocol):
    """Registering the privileged service and the per-user UI with the OS."""

    def install_layout(self, root: Path) -> InstallLayout:
        """The standard locations on this OS (program, config, state), under ``root``."""
        ...

    def protect_files(self, layout: InstallLayout) -> list[str]:
        """Restrict the config and ``state_dir`` to the service account and administrators;
        the UI config is readable by users, and the control token by the desktop users
        only (Linux: the ``kiosk-agent`` group; Windows: the ``ui`` subfolder's per-session
        tokens). docs/install.md."""
        ...

    def install_service(self, layout: InstallLayout, executable: Path) -> list[str]:
        """Register and enable the service to start at boot and restart on failure.

        Returns the human-readable steps taken, one per line, for the installer's log.
        """
        ...

    def install_ui_autostart(self, layout: InstallLayout, executable: Path) -> list[str]:
        """Start ``kiosk-agent ui`` in every user's desktop session at login."""
        ...

    def start(self, layout: InstallLayout) -> list[str]:
        """Start the service (and, where possible, the UI in running sessions)."""
        ...

    def uninstall(self, layout: InstallLayout) -> list[str]:
        """Stop and remove the service and the UI autostart entries."""
        ...

    def service_running(self, layout: InstallLayout) -> bool | None:
        """Whether the service is running, or None if that cannot be told."""
        ...


class BrowserPolicies(Protocol):
    """The browsers' policies that enforce the browser guard (issue 23); the values are
    in ``kiosk_agent/platform/browser_policies.py``."""

    def write_browser_policies(self, root: Path, policy: GuardPolicy) -> list[str]:
        """Write every guard policy (under ``root`` where policies are files)."""
        ...

    def remove_browser_policies(self, root: Path, policy: GuardPolicy) -> list[str]:
        """Remove what ``write_browser_policies`` wrote; the operator's own policies stay."""
        ...

    def missing_browser_policies(self, root: Path, policy: GuardPolicy) -> list[str]:
        """Where the policies no longer say what was written (empty: all intact)."""
        ...

    def browser_guard_states(
        self, root: Path, policy: GuardPolicy | None
    ) -> list[BrowserGuardState]:
        """Each browser installed on the PC and whether its policies force-install the
        guard (``kiosk-agent doctor``)."""
        ...


class Platform(DnsSettings, SessionSignals, ServiceManager, BrowserPolicies, Protocol):
    """Everything the agent asks of the operating system."""

    name: str


# The group the installer creates for the desktop accounts: it may read the control
# token (kiosk_agent/service/control_token.py) and search the state folder.
UI_GROUP = "kiosk-agent"


def ui_group_gid(name: str = UI_GROUP) -> int | None:
    """The UI group's id, or None where it does not exist (or on Windows)."""
    try:
        import grp
    except ImportError:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None
