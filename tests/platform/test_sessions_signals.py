"""Session signal sources: logind / utmp parsing, X11 idle time via libXss, Windows rows."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.platform.base import CommandResult
from kiosk_agent.platform.linux import LinuxPlatform
from kiosk_agent.platform.linux_sessions import (
    _UTMP,
    USER_PROCESS,
    UtmpEntry,
    XIdle,
    parse_loginctl_sessions,
    parse_loginctl_show,
    parse_utmp,
    sessions_from_utmp,
    user_hash,
)
from kiosk_agent.platform.windows_sessions import (
    WtsInfoW,
    WtsRow,
    desktop_sessions_from_rows,
    filetime_to_epoch,
    idle_from_ticks,
)
from tests.conftest import cli_env, require_tool
from tests.notices.xvfb import xvfb


class User(NamedTuple):
    name: str
    terminal: str | None
    started: float


def test_loginctl_parsing() -> None:
    listing = "   2 1000 maria seat0 tty2\n c3 1001 ali - pts/1\n\n"
    assert parse_loginctl_sessions(listing) == ["2", "c3"]
    shown = "Type=x11\nRemote=no\nState=active\nName=maria\nTimestampMonotonic=50000000\n"
    s = parse_loginctl_show("2", shown, wall_now=1000.0, mono_now=80.0)
    assert s is not None
    assert s.session_id == "logind:2" and s.started == pytest.approx(970.0)
    assert s.user_hash == user_hash("maria") and "maria" not in s.user_hash
    assert parse_loginctl_show("3", "Type=tty\n", wall_now=0, mono_now=0) is None
    assert parse_loginctl_show("4", "Type=x11\nRemote=yes\n", wall_now=0, mono_now=0) is None


def test_utmp_sessions_keep_displays_and_consoles() -> None:
    users = [
        User("maria", ":0", 1000.0),
        User("maria", "pts/0", 1001.0),
        User("ali", "tty7", 1002.0),
    ]
    got = sessions_from_utmp(users)
    assert [s.session_id for s in got] == ["utmp::0:1000", "utmp:tty7:1002"]


def test_linux_platform_uses_logind_through_the_runner() -> None:
    calls: list[list[str]] = []

    def runner(argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        calls.append(list(argv))
        if argv[1] == "list-sessions":
            return CommandResult(0, "5 1000 maria seat0 tty2\n")
        return CommandResult(0, "Type=wayland\nRemote=no\nState=active\nName=maria\n")

    platform = LinuxPlatform()
    platform.runner = runner  # type: ignore[attr-defined]
    sessions = platform.desktop_sessions()
    assert [s.session_id for s in sessions] == ["logind:5"]
    assert calls[0] == ["loginctl", "list-sessions", "--no-legend"]
    assert calls[1][:3] == ["loginctl", "show-session", "5"]


def test_linux_platform_falls_back_to_utmp_without_logind() -> None:
    calls: list[list[str]] = []

    def runner(argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        calls.append(list(argv))
        return CommandResult(1, "", "System has not been booted with systemd")

    platform = LinuxPlatform()
    platform.runner = runner  # type: ignore[attr-defined]
    assert isinstance(platform.desktop_sessions(), list)
    assert isinstance(platform.desktop_sessions(), list)
    assert len(calls) == 1  # no failing loginctl spawned at every poll


def test_x11_idle_time_from_the_screensaver_extension() -> None:
    xdotool = require_tool("xdotool")
    with xvfb(640, 480) as display:
        idle = XIdle(display)
        try:
            first = idle.idle_ms()
            assert first is not None
            time.sleep(1.2)
            later = idle.idle_ms()
            assert later is not None and later >= first + 900
            subprocess.run(
                [xdotool, "mousemove", "10", "10"],
                env={**os.environ, "DISPLAY": display},
                check=True,
                timeout=10,
            )
            after_input = idle.idle_ms()
            assert after_input is not None and after_input < 500
        finally:
            idle.close()


def test_idle_is_unknown_without_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    assert XIdle().idle_ms() is None


def test_windows_rows_and_conversions() -> None:
    logon = (1_800_000_000 + 11_644_473_600) * 10_000_000
    rows = [
        WtsRow(0, 4, "Services", "", 0),
        WtsRow(1, 0, "Console", "maria", logon),
        WtsRow(2, 1, "RDP-Tcp#0", "ali", logon),  # WTSConnected, not active
        WtsRow(65536, 6, "RDP-Tcp", "", 0),  # listener
    ]
    sessions = desktop_sessions_from_rows(rows)
    assert [s.session_id for s in sessions] == [f"wts:1:{logon}"]
    assert sessions[0].started == pytest.approx(1_800_000_000)
    assert filetime_to_epoch(0) == 0.0
    assert idle_from_ticks(5000, 2000) == 3.0
    assert idle_from_ticks(100, 0xFFFFFF00) == pytest.approx(0.356)  # GetTickCount wrapped
    assert WtsInfoW.LogonTime.offset == 192 and ctypes.sizeof(WtsInfoW) == 208


def utmp_record(kind: int, line: str, user: str, sec: int, usec: int = 0) -> bytes:
    return _UTMP.pack(
        kind, 4242, line.encode(), b"ts/0", user.encode(), b"", 0, 0, 0, sec, usec,
        0, 0, 0, 0, b"",
    )  # fmt: skip


def test_utmp_records_are_parsed_directly() -> None:
    assert _UTMP.size == 384  # glibc's struct utmp
    data = (
        utmp_record(2, "~", "reboot", 100)  # BOOT_TIME
        + utmp_record(USER_PROCESS, ":0", "maria", 1000, 500_000)
        + utmp_record(8, "pts/3", "", 1001)  # DEAD_PROCESS
        + utmp_record(USER_PROCESS, "tty7", "ali", 1002)
        + b"\x07\x00partial"
    )
    entries = parse_utmp(data)
    assert entries == [UtmpEntry("maria", ":0", 1000.5), UtmpEntry("ali", "tty7", 1002.0)]
    assert [s.session_id for s in sessions_from_utmp(entries)] == [
        "utmp::0:1000",
        "utmp:tty7:1002",
    ]


@given(st.binary(max_size=2000))
def test_utmp_parser_takes_any_bytes(data: bytes) -> None:
    for entry in parse_utmp(data):
        assert entry.name and isinstance(entry.started, float)


def test_the_ui_never_imports_psutil_for_sessions() -> None:
    code = (
        "import sys\n"
        "from kiosk_agent.platform.linux import LinuxPlatform\n"
        "from kiosk_agent.platform.base import CommandResult\n"
        "p = LinuxPlatform()\n"
        "p.runner = lambda argv, timeout=30: CommandResult(127, '', 'no loginctl')\n"
        "p.desktop_sessions(); p.desktop_sessions()\n"
        "print('psutil' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=60
    )
    assert done.stdout.strip() == "False", done.stderr
