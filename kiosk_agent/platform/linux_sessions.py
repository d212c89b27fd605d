"""Linux: the signals the session watcher needs — desktop logins and input idle time.

Logins come from logind (``loginctl``) where systemd runs, else from utmp (read
directly). Idle time comes from the X11 MIT-SCREEN-SAVER extension
(``XScreenSaverQueryInfo`` in libXss, Debian package libxss1) through ctypes, so no X
binding has to be installed; under Wayland or without a display it is unknown (None).
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from kiosk_agent.platform.base import CommandRunner, DesktopSession, run_command

GRAPHICAL_TYPES = ("x11", "wayland", "mir")


try:
    # CPython's built-in BLAKE2: hashlib would load OpenSSL's libcrypto (3 MB resident,
    # measured) into the UI process for this one digest.
    from _blake2 import blake2s as _digest
except ImportError:  # pragma: no cover - other Pythons
    from hashlib import blake2s as _digest


def user_hash(name: str) -> str:
    """Tells sessions apart without keeping the account name."""
    return _digest(name.encode("utf-8"), digest_size=8).hexdigest()


def parse_loginctl_sessions(text: str) -> list[str]:
    """Session ids from ``loginctl list-sessions --no-legend`` (first column)."""
    ids = []
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0].isalnum():
            ids.append(fields[0])
    return ids


def parse_loginctl_show(
    session_id: str, text: str, *, wall_now: float, mono_now: float
) -> DesktopSession | None:
    """A graphical, local, active session from ``loginctl show-session ID -p ...`` output.

    logind reports the start on the monotonic clock (immune to the café PC's wrong
    wall clock being corrected); it is turned into epoch seconds with the two "now"s.
    """
    props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    if props.get("Type") not in GRAPHICAL_TYPES or props.get("Remote") == "yes":
        return None
    if props.get("State") not in (None, "active", "online"):
        return None
    try:
        started_mono = int(props.get("TimestampMonotonic", "0") or 0) / 1e6
    except ValueError:
        started_mono = 0.0
    return DesktopSession(
        session_id=f"logind:{session_id}",
        user_hash=user_hash(props.get("Name", "")),
        started=wall_now - max(0.0, mono_now - started_mono) if started_mono else 0.0,
    )


class UtmpUser(Protocol):
    """One login as utmp (or ``psutil.users()``) reports it: the fields used here."""

    @property
    def name(self) -> str: ...
    @property
    def terminal(self) -> str | None: ...
    @property
    def started(self) -> float: ...


def sessions_from_utmp(users: Iterable[UtmpUser]) -> list[DesktopSession]:
    """Graphical logins from utmp: X displays (``:0``) and virtual consoles with a desktop."""
    out = []
    for u in users:
        terminal = u.terminal or ""
        if not (terminal.startswith(":") or terminal.startswith("tty")):
            continue  # pts/N: terminals inside a session, ssh
        out.append(
            DesktopSession(
                session_id=f"utmp:{terminal}:{int(u.started)}",
                user_hash=user_hash(u.name),
                started=float(u.started),
            )
        )
    return out


UTMP_PATHS = ("/run/utmp", "/var/run/utmp")
USER_PROCESS = 7
# glibc's struct utmp on Linux (x86, x86_64, arm64): 384 bytes.
_UTMP = struct.Struct("<h2xi32s4s32s256shhiii4i20s")


@dataclass(frozen=True)
class UtmpEntry:
    name: str
    terminal: str
    started: float


def parse_utmp(data: bytes) -> list[UtmpEntry]:
    """Logged-in users from utmp bytes; a trailing partial record (being written) is
    ignored, and so is every record that is not a user process.

    Read directly rather than through ``psutil.users()``: importing psutil costs the UI
    process about 4 MB (measured), and this is all it would be used for.
    """
    out = []
    for offset in range(0, len(data) - _UTMP.size + 1, _UTMP.size):
        fields = _UTMP.unpack_from(data, offset)
        if fields[0] != USER_PROCESS:
            continue
        line = fields[2].split(b"\0", 1)[0].decode("utf-8", "replace")
        user = fields[4].split(b"\0", 1)[0].decode("utf-8", "replace")
        if user:
            out.append(UtmpEntry(user, line, float(fields[9]) + fields[10] / 1e6))
    return out


def read_utmp() -> list[UtmpEntry]:
    for path in UTMP_PATHS:
        try:
            with open(path, "rb") as f:
                return parse_utmp(f.read(1 << 20))
        except OSError:
            continue
    return []


class _XScreenSaverInfo(ctypes.Structure):
    _fields_ = [
        ("window", ctypes.c_ulong),
        ("state", ctypes.c_int),
        ("kind", ctypes.c_int),
        ("til_or_since", ctypes.c_ulong),
        ("idle", ctypes.c_ulong),
        ("event_mask", ctypes.c_ulong),
    ]


class XIdle:
    """Milliseconds since the last input on an X display, via libXss (opened once)."""

    def __init__(self, display: str | None = None) -> None:
        self._lock = threading.Lock()
        self._dpy: int | None = None
        self._x11: ctypes.CDLL | None = None
        self._xss: ctypes.CDLL | None = None
        self._info: ctypes._Pointer[_XScreenSaverInfo] | None = None
        self.display = display

    def _open(self) -> bool:
        if self._dpy is not None:
            return True
        import ctypes.util  # pulls in subprocess/shutil helpers: only when first needed

        name = self.display or os.environ.get("DISPLAY")
        x11_path = ctypes.util.find_library("X11")
        xss_path = ctypes.util.find_library("Xss")
        if not name or not x11_path or not xss_path:
            return False
        x11 = ctypes.CDLL(x11_path)
        xss = ctypes.CDLL(xss_path)
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x11.XDefaultRootWindow.restype = ctypes.c_ulong
        x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        xss.XScreenSaverAllocInfo.restype = ctypes.POINTER(_XScreenSaverInfo)
        xss.XScreenSaverQueryInfo.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulong,
            ctypes.POINTER(_XScreenSaverInfo),
        ]
        xss.XScreenSaverQueryExtension.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_int),
        ]
        dpy = x11.XOpenDisplay(name.encode())
        if not dpy:
            return False
        event_base, error_base = ctypes.c_int(), ctypes.c_int()
        if not xss.XScreenSaverQueryExtension(
            dpy, ctypes.byref(event_base), ctypes.byref(error_base)
        ):
            x11.XCloseDisplay(ctypes.c_void_p(dpy))
            return False
        self._x11, self._xss, self._dpy = x11, xss, dpy
        self._info = xss.XScreenSaverAllocInfo()
        return True

    def idle_ms(self) -> int | None:
        with self._lock:
            if not self._open():
                return None
            assert self._x11 is not None and self._xss is not None and self._info is not None
            root = self._x11.XDefaultRootWindow(self._dpy)
            if not self._xss.XScreenSaverQueryInfo(self._dpy, root, self._info):
                return None
            return int(self._info.contents.idle)

    def close(self) -> None:
        with self._lock:
            if self._dpy is not None and self._x11 is not None:
                self._x11.XCloseDisplay(ctypes.c_void_p(self._dpy))
            self._dpy = None


class LinuxSessionSignals:
    """``SessionSignals`` for Linux (see ``platform.base``)."""

    def desktop_sessions(self) -> list[DesktopSession]:
        runner: CommandRunner = getattr(self, "runner", run_command)
        # Without logind (no systemd, or loginctl missing) do not spawn a failing
        # process at every poll: remember it and read utmp from then on.
        if getattr(self, "_logind_missing", False):
            return sessions_from_utmp(read_utmp())
        listed = runner(["loginctl", "list-sessions", "--no-legend"], timeout=5)
        if listed.returncode == 0:
            sessions = []
            for sid in parse_loginctl_sessions(listed.stdout):
                shown = runner(
                    [
                        "loginctl",
                        "show-session",
                        sid,
                        "-p", "Type", "-p", "Remote", "-p", "State",
                        "-p", "Name", "-p", "TimestampMonotonic",
                    ],
                    timeout=5,
                )  # fmt: skip
                if shown.returncode == 0:
                    session = parse_loginctl_show(
                        sid, shown.stdout, wall_now=time.time(), mono_now=time.monotonic()
                    )
                    if session is not None:
                        sessions.append(session)
            return sessions
        self._logind_missing = True
        return sessions_from_utmp(read_utmp())

    def idle_seconds(self) -> float | None:
        idle: XIdle | None = getattr(self, "_x_idle", None)
        if idle is None:
            idle = XIdle()
            self._x_idle = idle
        ms = idle.idle_ms()
        return None if ms is None else ms / 1000.0
