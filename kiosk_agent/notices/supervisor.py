"""`kiosk-agent ui` keeps its UI process running: a crash must not leave a customer
without a notice.

The process started at login (XDG autostart, HKLM Run) is this small supervisor; it runs
the UI itself as a child (``ui --no-restart``) and starts it again when it ends
abnormally, after a delay that grows with repeated crashes (1 s doubling to 60 s, reset
after 10 minutes of running), and reports each crash to the service (``UiCrashed``,
counted as ``ui.crashes``). It stops when the UI ends normally, when the UI says there is
no display (the session ended: ``NO_DISPLAY``), or when it is told to stop itself.

After a program update (docs/fleet.md, "Program releases") the stable command names a
new release while this session's UI still runs the old one: ``relaunch`` (checked every
``RELEASE_POLL`` seconds) gives the new release's UI command, and the UI is stopped and
started from it (not counted as a crash).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kiosk_agent.reporting.events import Event, UiCrashed

log = logging.getLogger(__name__)

NO_DISPLAY = 3
"""Exit status of the UI when it cannot open a window (no desktop session any more)."""
FIRST_DELAY = 1.0
MAX_DELAY = 60.0
STABLE_AFTER = 600.0
CHILD_FLAG = "--no-restart"
RELEASE_POLL = 30.0


def moved_launcher(executable: Path) -> Path | None:
    """The launcher of the release the stable command names, when ``executable`` is an
    installed release's launcher and the command names another release; else None."""
    from kiosk_agent.installer.release import current_release, is_release_name

    folder = executable.parent
    if not is_release_name(folder.name):
        return None  # a source checkout or a one-file program: nothing is switched
    current = current_release(folder.parent, executable.name)
    if current is None or current == folder.name:
        return None
    return folder.parent / current / executable.name


def crash_kind(returncode: int) -> str | None:
    """None when the UI ended normally or because the session is gone; else the kind of
    crash (``signal``: killed, e.g. a segmentation fault; ``exit``: non-zero status)."""
    if returncode in (0, NO_DISPLAY):
        return None
    return "signal" if returncode < 0 else "exit"


def next_delay(previous: float, ran_for: float) -> float:
    """Seconds to wait before the next start after a crash."""
    if ran_for >= STABLE_AFTER or previous <= 0:
        return FIRST_DELAY
    return min(MAX_DELAY, previous * 2)


def child_argv(
    argv: Sequence[str], *, executable: str | None = None, frozen: bool | None = None
) -> list[str]:
    """This program again with the same ``ui`` arguments plus ``--no-restart``."""
    exe = sys.executable if executable is None else executable
    is_frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
    program = [exe] if is_frozen else [exe, "-m", "kiosk_agent"]
    return [*program, "ui", *argv, CHILD_FLAG]


@dataclass
class Supervisor:
    """Runs ``argv`` until it ends normally; ``report`` gets each crash (never raises)."""

    argv: list[str]
    report: Callable[[Event], None]
    sleep: Callable[[float], object] | None = None  # default: wait, woken by stop()
    clock: Callable[[], float] = time.monotonic
    spawn: Callable[[list[str]], subprocess.Popen[bytes]] = subprocess.Popen
    relaunch: Callable[[], list[str] | None] | None = None
    """The new release's UI command after a program update, or None (checked while the UI
    runs, every ``poll`` seconds)."""
    poll: float = RELEASE_POLL
    crashes: int = 0
    _stopping: threading.Event = field(default_factory=threading.Event)
    _child: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        """End the loop and the UI (from a signal handler or another thread)."""
        self._stopping.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()

    def run(self) -> int:
        delay = 0.0
        while not self._stopping.is_set():
            started = self.clock()
            self._child = self.spawn(self.argv)
            code = self._wait(self._child)
            self._child = None
            if self._stopping.is_set():
                return 0
            if code is None:
                continue  # started again from the new release
            kind = crash_kind(code)
            if kind is None:
                return code
            self.crashes += 1
            delay = next_delay(delay, self.clock() - started)
            log.warning("the UI ended with status %s; starting it again in %g s", code, delay)
            try:
                self.report(UiCrashed(kind))
            except Exception as e:  # the service may be down: the notice matters more
                log.info("could not report the UI crash to the service: %s", e)
            if self.sleep is None:
                self._stopping.wait(delay)
            else:
                self.sleep(delay)
        return 0

    def _wait(self, child: subprocess.Popen[bytes]) -> int | None:
        """The child's exit status, or None when it was stopped for a new release."""
        if self.relaunch is None:
            return child.wait()
        while True:
            try:
                return child.wait(timeout=self.poll)
            except subprocess.TimeoutExpired:
                pass
            try:
                new = self.relaunch()
            except Exception as e:  # never let the check stop the notice
                log.debug("cannot check for a new release: %s", e)
                new = None
            if new is not None:
                log.warning("the program was updated: starting the UI from %s", new[0])
                self.argv = new
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                return None


def install_stop_handlers(supervisor: Supervisor) -> None:
    """SIGTERM / SIGHUP (the session ends) stop the UI and the supervisor."""
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, lambda _signo, _frame: supervisor.stop())
