"""Was the service's last stop tamper? ``tamper.service_stopped``, counted once at start.

The installed service (``kiosk-agent service``) keeps ``state_dir/service-run.json``:
``{"state": "running", "boot": B}`` while it runs, and at its end ``stopped`` (a stop
request, with ``shutdown: true`` when the operating system is shutting down) or
``crashed`` (an error ended it). ``B`` identifies the boot: Linux's
``/proc/sys/kernel/random/boot_id``; on Windows the boot time (now minus
``GetTickCount64``), compared to within ``BOOT_TOLERANCE``. The installer and uninstaller
write ``state_dir/operator-stop.json`` (the boot and the time) before they stop or restart
the service. At the next start, ``decide`` says whether that stop counts:

- no record (first start), or ``crashed``: never;
- ``running`` (killed: SIGKILL, ``schtasks /End``, Task Manager): in the same boot only
  (in a new boot it was a power cut, or a Windows shutdown, which ends the task unasked);
- ``stopped`` with ``shutdown: true``: never;
- ``stopped`` otherwise (``systemctl stop``, ``disable --now``): always, in this boot or a
  later one (it was stopped while the PC ran);

and never when an operator-stop record of the same boot, at most ``OPERATOR_WINDOW``
seconds old, exists (the installer's restart, an uninstall and re-install). A PC that
loses power is not tamper; so a customer with administrator rights who kills the service
and then pulls the plug is not counted (docs/security.md). ``run`` and ``demo`` do not
keep these records: a developer's Ctrl-C is not tamper.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

from kiosk_agent.atomic import write_text_atomic

log = logging.getLogger(__name__)

RUN_FILE = "service-run.json"
OPERATOR_FILE = "operator-stop.json"
BOOT_TOLERANCE = 120.0  # seconds: Windows boot times computed at two moments differ a little
OPERATOR_WINDOW = 24 * 3600.0
RUNNING_STATES = ("running", "degraded", "starting", "initializing", "maintenance")
"""``systemctl is-system-running`` answers while the system is not shutting down."""


def boot_id() -> str | None:
    """This boot's identity: Linux's boot_id, Windows' boot time (``win:<seconds>``)."""
    if sys.platform == "win32":  # pragma: no cover - Windows only
        import ctypes

        ticks = ctypes.windll.kernel32.GetTickCount64  # type: ignore[attr-defined]
        ticks.restype = ctypes.c_ulonglong
        return f"win:{time.time() - ticks() / 1000.0:.0f}"
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None


def same_boot(a: object, b: object) -> bool:
    """Whether two boot ids name the same boot (Windows boot times within the tolerance)."""
    if not isinstance(a, str) or not isinstance(b, str) or not a or not b:
        return False
    if a.startswith("win:") and b.startswith("win:"):
        try:
            return abs(float(a[4:]) - float(b[4:])) <= BOOT_TOLERANCE
        except ValueError:
            return False
    return a == b


def decide(last: object, operator: object, boot: str | None, now: float) -> bool:
    """Whether the stop that ``last`` (the run record) shows counts as tamper."""
    if not isinstance(last, dict) or boot is None:
        return False
    if isinstance(operator, dict) and same_boot(operator.get("boot"), boot):
        at = operator.get("at")
        if isinstance(at, int | float) and 0 <= now - at <= OPERATOR_WINDOW:
            return False
    state = last.get("state")
    if state == "running":
        return same_boot(last.get("boot"), boot)
    if state == "stopped":
        return last.get("shutdown") is not True
    return False


def _read(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def system_shutting_down() -> bool:
    """Whether the operating system is shutting down (systemd: ``is-system-running`` says
    ``stopping``). Unknown counts as shutting down: a wrong tamper count is worse than a
    missed one."""
    if not sys.platform.startswith("linux"):
        return True  # pragma: no cover - Windows never stops the task cleanly
    try:
        result = subprocess.run(
            ["systemctl", "is-system-running"], capture_output=True, text=True, timeout=3
        )
    except (OSError, subprocess.SubprocessError):
        return True
    return result.stdout.strip() not in RUNNING_STATES


class RunRecord:
    """The service's own record of this run (``kiosk-agent service`` only)."""

    def __init__(self, state_dir: Path, boot: str | None = None) -> None:
        self.state_dir = state_dir
        self.boot = boot if boot is not None else boot_id()

    def started(self, now: float | None = None) -> bool:
        """Record the start; returns whether the previous stop counts as tamper (once:
        the operator record is consumed and the run record replaced)."""
        now = time.time() if now is None else now
        run_path = self.state_dir / RUN_FILE
        operator_path = self.state_dir / OPERATOR_FILE
        tamper = decide(_read(run_path), _read(operator_path), self.boot, now)
        self._write("running")
        operator_path.unlink(missing_ok=True)
        return tamper

    def stopped(self, *, crashed: bool = False, shutdown: bool | None = None) -> None:
        if crashed:
            self._write("crashed")
            return
        if shutdown is None:
            shutdown = system_shutting_down()
        self._write("stopped", shutdown=shutdown)

    def _write(self, state: str, **extra: object) -> None:
        data = {"state": state, "boot": self.boot, "at": time.time(), **extra}
        try:
            write_text_atomic(self.state_dir / RUN_FILE, json.dumps(data) + "\n", 0o600)
        except OSError as e:
            log.warning("cannot write %s: %s", RUN_FILE, e)


def mark_operator_stop(state_dir: Path, boot: str | None = None) -> None:
    """Before the installer or uninstaller stops the service: not tamper."""
    data = {"boot": boot if boot is not None else boot_id(), "at": time.time()}
    write_text_atomic(state_dir / OPERATOR_FILE, json.dumps(data) + "\n", 0o600)
