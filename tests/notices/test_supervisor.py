"""The UI supervisor: a crashed UI is started again, each crash reported; a normal end or
a lost display ends it."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from kiosk_agent.notices.supervisor import (
    FIRST_DELAY,
    MAX_DELAY,
    NO_DISPLAY,
    STABLE_AFTER,
    Supervisor,
    child_argv,
    crash_kind,
    next_delay,
)
from kiosk_agent.reporting.events import Event, UiCrashed


def test_crash_kind() -> None:
    assert crash_kind(0) is None
    assert crash_kind(NO_DISPLAY) is None
    assert crash_kind(-signal.SIGSEGV) == "signal"
    assert crash_kind(1) == "exit"


def test_delay_grows_and_resets() -> None:
    assert next_delay(0.0, 1.0) == FIRST_DELAY
    assert next_delay(1.0, 1.0) == 2.0
    assert next_delay(MAX_DELAY, 1.0) == MAX_DELAY
    assert next_delay(32.0, STABLE_AFTER) == FIRST_DELAY


def test_child_argv() -> None:
    assert child_argv(["--config", "/etc/k.yaml"], executable="/opt/k", frozen=True) == [
        "/opt/k", "ui", "--config", "/etc/k.yaml", "--no-restart",
    ]  # fmt: skip
    assert child_argv([], executable="/usr/bin/python3", frozen=False) == [
        "/usr/bin/python3", "-m", "kiosk_agent", "ui", "--no-restart",
    ]  # fmt: skip


def _script(tmp_path: Path, codes: list[int]) -> list[str]:
    """A child that ends with the next of ``codes`` each time it runs (negative: killed
    by that signal), counting its runs in a file."""
    runs = tmp_path / "runs"
    code = (
        "import os, signal, sys\n"
        f"p = {str(runs)!r}\n"
        "n = int(open(p).read()) if os.path.exists(p) else 0\n"
        "open(p, 'w').write(str(n + 1))\n"
        f"c = {codes!r}[n]\n"
        "os.kill(os.getpid(), -c) if c < 0 else sys.exit(c)\n"
    )
    return [sys.executable, "-c", code]


def test_restarts_real_crashes_and_reports_them(tmp_path: Path) -> None:
    reported: list[Event] = []
    waits: list[float] = []
    sup = Supervisor(
        _script(tmp_path, [-signal.SIGSEGV, 1, 0]), reported.append, sleep=waits.append
    )
    assert sup.run() == 0
    assert (tmp_path / "runs").read_text() == "3"
    assert reported == [UiCrashed("signal"), UiCrashed("exit")]
    assert waits == [FIRST_DELAY, 2 * FIRST_DELAY] and sup.crashes == 2


def test_lost_display_ends_it_and_a_failing_report_does_not(tmp_path: Path) -> None:
    def report(event: Event) -> None:
        raise RuntimeError("service down")

    sup = Supervisor(_script(tmp_path, [1, NO_DISPLAY]), report, sleep=lambda s: None)
    assert sup.run() == NO_DISPLAY
    assert sup.crashes == 1


def test_stop_ends_the_child(tmp_path: Path) -> None:
    sup = Supervisor(
        [sys.executable, "-c", "import time; time.sleep(60)"], lambda e: None, sleep=lambda s: None
    )
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(sup.run()))
    thread.start()
    for _ in range(100):
        if sup._child is not None:
            break
        threading.Event().wait(0.05)
    sup.stop()
    thread.join(10)
    assert result == [0] and sup.crashes == 0


def test_ui_command_runs_the_supervisor_by_default() -> None:
    from kiosk_agent.cli import parse

    args = parse(["ui", "--config", "x.yaml"])
    assert args is not None and args.no_restart is False
    args = parse(["ui", "--no-restart"])
    assert args is not None and args.no_restart is True


def test_the_ui_command_stops_when_there_is_no_display(tmp_path: Path) -> None:
    """`kiosk-agent ui` end to end: its child cannot open a window (no DISPLAY), says so
    with NO_DISPLAY, and the supervisor ends with it instead of restarting it."""
    import subprocess

    from tests.conftest import REPO_ROOT, cli_env

    config = tmp_path / "agent.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n")
    env = {k: v for k, v in cli_env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run(
        [sys.executable, "-m", "kiosk_agent", "ui", "--config", str(config), "--no-tray", "-q"],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == NO_DISPLAY, done.stderr
    assert done.stderr.count("cannot open a window") == 1  # started once, not restarted
    assert "starting it again" not in done.stderr


def test_after_a_program_switch_the_ui_starts_from_the_new_release(tmp_path: Path) -> None:
    """The old release's UI is stopped (not a crash) and started from the new one."""
    from kiosk_agent.installer import release
    from kiosk_agent.notices.supervisor import moved_launcher

    program_dir = tmp_path / "opt"
    for name in ("app-1.0.0-aaaa", "app-1.1.0-bbbb"):
        (program_dir / name).mkdir(parents=True)
    release.point_command_at(program_dir, "app-1.0.0-aaaa", "kiosk-agent")
    old = program_dir / "app-1.0.0-aaaa" / "kiosk-agent"
    assert moved_launcher(old) is None
    assert moved_launcher(tmp_path / "checkout" / "kiosk-agent") is None
    release.point_command_at(program_dir, "app-1.1.0-bbbb", "kiosk-agent")
    assert moved_launcher(old) == program_dir / "app-1.1.0-bbbb" / "kiosk-agent"

    done = tmp_path / "second-ran"
    second = [sys.executable, "-c", f"open({str(done)!r}, 'w').write('yes')"]
    answers: list[list[str] | None] = [None, second]
    sup = Supervisor(
        [sys.executable, "-c", "import time; time.sleep(60)"], lambda e: None,
        sleep=lambda s: None, relaunch=lambda: answers.pop(0) if answers else None, poll=0.2,
    )  # fmt: skip
    assert sup.run() == 0
    assert done.read_text() == "yes" and sup.crashes == 0 and sup.argv == second
