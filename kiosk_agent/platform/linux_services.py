"""Linux: the service as a systemd unit, the UI as an XDG autostart entry for every user.

The unit and the autostart entry are rendered by pure functions (tested as text, and by
``systemd-analyze verify`` where it exists); ``systemctl`` runs through the platform's
command runner, so tests check the exact commands with a fake one.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from kiosk_agent.atomic import write_text_atomic
from kiosk_agent.platform.base import (
    UI_GROUP,
    CommandResult,
    CommandRunner,
    InstallLayout,
    PlatformError,
    run_command,
    ui_group_gid,
)

UNIT_NAME = "kiosk-agent.service"
UNIT_DIR = Path("/etc/systemd/system")
AUTOSTART_DIR = Path("/etc/xdg/autostart")
AUTOSTART_NAME = "kiosk-agent-ui.desktop"


def render_unit(layout: InstallLayout) -> str:
    """The systemd unit that runs ``kiosk-agent service`` at boot and restarts it always."""
    exec_start = shlex.join(
        [str(layout.executable), "service", "--config", str(layout.config_path)]
    )
    return f"""\
# Written by `kiosk-agent install`; `kiosk-agent install` again repairs it.
[Unit]
Description=kiosk-agent safety filter (local DNS resolver, hotline lists, anonymized counts)
Documentation=https://github.com/kiosk-agent/kiosk-agent/blob/main/docs/install.md
# Name resolution on this PC goes through the agent once it is installed.
Wants=network-online.target nss-lookup.target
After=network-online.target
Before=nss-lookup.target
# Never give up restarting: a kiosk that stopped filtering is worse than a busy one.
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart={exec_start}
Restart=always
RestartSec=2
TimeoutStopSec=15
Environment=PYTHONUNBUFFERED=1
# Root: it binds port 53 and points the system's DNS settings at itself.
User=root
UMask=0022
NoNewPrivileges=yes
# The installed program is unpacked once under /opt and writes nothing to /tmp; a private
# /tmp still keeps other accounts from planting files where a privileged process looks.
PrivateTmp=yes
ProtectHome=read-only
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes

[Install]
WantedBy=multi-user.target
"""


def render_autostart(layout: InstallLayout) -> str:
    """The XDG autostart entry that starts ``kiosk-agent ui`` in every desktop session."""
    config = layout.ui_config_path or layout.config_path
    exec_line = " ".join(
        _desktop_quote(a) for a in (str(layout.executable), "ui", "--config", str(config))
    )
    return f"""\
[Desktop Entry]
Type=Application
Name=kiosk-agent
Comment=Safety notices and the protection status icon
Exec={exec_line}
Icon={layout.program_dir}/kiosk-agent.png
Terminal=false
NoDisplay=true
X-GNOME-Autostart-enabled=true
X-GNOME-AutoRestart=true
X-KDE-autostart-after=panel
"""


def _desktop_quote(arg: str) -> str:
    """Quote one argument of a desktop entry's ``Exec`` key (freedesktop.org rules)."""
    if arg and not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'


def _ere_escape(text: str) -> str:
    """``text`` as a literal in a POSIX extended regular expression (pkill's patterns)."""
    return "".join("\\" + c if c in ".[]()*+?{}|^$\\" else c for c in text)


def ui_process_pattern(layout: InstallLayout) -> str:
    """``pkill --exact --full`` pattern for ``kiosk-agent ui`` started from any release
    folder (or the stable command) under ``program_dir``: the tray of an older install,
    still running in an open session, goes too."""
    program_dir = _ere_escape(str(layout.program_dir))
    name = _ere_escape(layout.executable_name)
    return f"{program_dir}/([^/ ]+/)?{name} ui .*"


def desktop_accounts(passwd: str) -> list[str]:
    """The accounts people log in with (uid 1000-59999, a login shell), from /etc/passwd:
    the UI runs in each of them and needs the control token."""
    names = []
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) < 7 or not fields[2].isdigit():
            continue
        shell = fields[6].strip()
        if 1000 <= int(fields[2]) < 60000 and not shell.endswith(("nologin", "false")):
            names.append(fields[0])
    return names


def group_commands(accounts: Sequence[str]) -> list[list[str]]:
    """Create the UI group (idempotent with ``-f``) and add the desktop accounts to it."""
    commands = [["groupadd", "--system", "-f", UI_GROUP]]
    commands += [["usermod", "-a", "-G", UI_GROUP, name] for name in accounts]
    return commands


def service_commands(layout: InstallLayout) -> list[list[str]]:
    """The ``systemctl`` commands that register the unit written by ``render_unit``."""
    if not layout.register_with_os:
        # Offline enable inside the prefix: creates the wants/ symlink, touches nothing live.
        return [["systemctl", f"--root={layout.root}", "enable", UNIT_NAME]]
    return [["systemctl", "daemon-reload"], ["systemctl", "enable", UNIT_NAME]]


class LinuxServices:
    """``ServiceManager`` for Linux with systemd.

    Commands run through ``self.runner`` when set (tests assign a fake), else ``run_command``.
    """

    def _run(self, argv: Sequence[str], *, check: bool = True) -> CommandResult:
        runner: CommandRunner = getattr(self, "runner", run_command)
        result = runner(argv)
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip() or f"exit {result.returncode}"
            raise PlatformError(f"{shlex.join(argv)} failed: {detail}")
        return result

    def install_layout(self, root: Path) -> InstallLayout:
        return InstallLayout(
            root=root,
            program_dir=Path("/opt/kiosk-agent"),
            config_path=Path("/etc/kiosk-agent/agent.yaml"),
            ui_config_path=Path("/etc/kiosk-agent/ui.yaml"),
            state_dir=Path("/var/lib/kiosk-agent"),
            executable_name="kiosk-agent",
            register_with_os=root == Path("/"),
        )

    def protect_files(self, layout: InstallLayout) -> list[str]:
        steps = []
        gid = None
        if layout.register_with_os:
            try:
                passwd = layout.on_disk(Path("/etc/passwd")).read_text(errors="replace")
            except OSError:
                passwd = ""
            for argv in group_commands(desktop_accounts(passwd)):
                result = self._run(argv, check=False)
                steps.append(f"ran {shlex.join(argv)} (exit {result.returncode})")
            gid = ui_group_gid(UI_GROUP)
        # The state folder: the service's only, except that the UI group may open the
        # control token by name (search, no listing); docs/security.md.
        state_mode = 0o710 if gid is not None else 0o700
        for path, mode in (
            (layout.config_path, 0o600),
            (layout.state_dir, state_mode),
            (layout.config_path.parent, 0o755),
            (layout.program_dir, 0o755),
        ):
            target = layout.on_disk(path)
            if target.exists():
                if path == layout.state_dir and gid is not None:
                    os.chown(target, -1, gid)
                os.chmod(target, mode)
                steps.append(f"set {path} to mode {mode:o}")
        if layout.ui_config_path is not None and layout.on_disk(layout.ui_config_path).exists():
            os.chmod(layout.on_disk(layout.ui_config_path), 0o644)
            steps.append(f"set {layout.ui_config_path} to mode 644 (read by the UI)")
        return steps

    def install_service(self, layout: InstallLayout, executable: Path) -> list[str]:
        unit_path = UNIT_DIR / UNIT_NAME
        write_text_atomic(layout.on_disk(unit_path), render_unit(layout), 0o644)
        steps = [f"wrote {unit_path} (Restart=always)"]
        for argv in service_commands(layout):
            self._run(argv)
            steps.append(f"ran {shlex.join(argv)}")
        return steps

    def install_ui_autostart(self, layout: InstallLayout, executable: Path) -> list[str]:
        path = AUTOSTART_DIR / AUTOSTART_NAME
        write_text_atomic(layout.on_disk(path), render_autostart(layout), 0o644)
        return [f"wrote {path} (the UI starts at each desktop login)"]

    def start(self, layout: InstallLayout) -> list[str]:
        if not layout.register_with_os:
            return [f"not started: installed into the prefix {layout.root}"]
        argv = ["systemctl", "restart", UNIT_NAME]
        self._run(argv)
        # The UI of a session that is already open starts at its next login; starting it
        # here would run it as root in the wrong session.
        return [f"ran {shlex.join(argv)}", "the notice and tray start at the next desktop login"]

    def uninstall(self, layout: InstallLayout) -> list[str]:
        steps: list[str] = []
        if layout.register_with_os:
            for argv in (
                ["systemctl", "disable", "--now", UNIT_NAME],
                ["pkill", "--exact", "--full", ui_process_pattern(layout)],
            ):
                result = self._run(argv, check=False)
                steps.append(f"ran {shlex.join(argv)} (exit {result.returncode})")
        else:
            argv = ["systemctl", f"--root={layout.root}", "disable", UNIT_NAME]
            result = self._run(argv, check=False)
            steps.append(f"ran {shlex.join(argv)} (exit {result.returncode})")
        for path in (UNIT_DIR / UNIT_NAME, AUTOSTART_DIR / AUTOSTART_NAME):
            target = layout.on_disk(path)
            if target.exists():
                target.unlink()
                steps.append(f"removed {path}")
        if layout.register_with_os:
            self._run(["systemctl", "daemon-reload"], check=False)
            steps.append("ran systemctl daemon-reload")
        return steps

    def service_running(self, layout: InstallLayout) -> bool | None:
        if not layout.register_with_os:
            return None
        result = self._run(["systemctl", "is-active", UNIT_NAME], check=False)
        state = result.stdout.strip()
        if state in ("active", "activating", "reloading"):
            return True
        if state in ("inactive", "failed", "deactivating"):
            return False
        return None
