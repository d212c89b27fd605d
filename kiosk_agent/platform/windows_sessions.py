"""Windows: desktop sessions (WTSEnumerateSessions) and input idle time (GetLastInputInfo).

The UI process runs inside the customer's session (started at logon from HKLM\\...\\Run),
so GetLastInputInfo sees that session's keyboard and mouse. Sessions are polled rather
than received as WTS_SESSION_LOGON window messages: the watcher already polls idle time
once a second, and polling needs no hidden message window on the Tk thread.

The ctypes calls are thin; the decisions over their results are pure functions tested on
Linux with made-up rows.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from dataclasses import dataclass

from kiosk_agent.platform.base import DesktopSession
from kiosk_agent.platform.linux_sessions import user_hash

WTS_CURRENT_SERVER_HANDLE = 0
WTS_ACTIVE = 0  # WTS_CONNECTSTATE_CLASS.WTSActive
WTS_USER_NAME = 5  # WTS_INFO_CLASS.WTSUserName
WTS_SESSION_INFO = 24  # WTS_INFO_CLASS.WTSSessionInfo (WTSINFOW, has LogonTime)
FILETIME_EPOCH_OFFSET = 11_644_473_600  # seconds from 1601-01-01 to 1970-01-01


@dataclass(frozen=True)
class WtsRow:
    """What WTSEnumerateSessions + WTSQuerySessionInformation tell about one session."""

    session_id: int
    state: int
    station: str
    user: str
    logon_filetime: int


def filetime_to_epoch(filetime: int) -> float:
    """A FILETIME (100 ns ticks since 1601) as epoch seconds; 0 stays 0 (unknown)."""
    return filetime / 10_000_000 - FILETIME_EPOCH_OFFSET if filetime else 0.0


def desktop_sessions_from_rows(rows: Iterable[WtsRow]) -> list[DesktopSession]:
    """Active sessions with a user: not session 0 (services), not the listener stations."""
    out = []
    for row in rows:
        if row.session_id == 0 or row.state != WTS_ACTIVE or not row.user:
            continue
        started = filetime_to_epoch(row.logon_filetime)
        out.append(
            DesktopSession(
                session_id=f"wts:{row.session_id}:{row.logon_filetime}",
                user_hash=user_hash(row.user),
                started=started,
            )
        )
    return out


def idle_from_ticks(now_ticks: int, last_input_ticks: int) -> float:
    """Seconds since the last input; both are GetTickCount values, which wrap at 2**32."""
    return ((now_ticks - last_input_ticks) & 0xFFFFFFFF) / 1000.0


class _WtsSessionInfoW(ctypes.Structure):
    _fields_ = [
        ("SessionId", ctypes.c_uint32),
        ("pWinStationName", ctypes.c_wchar_p),
        ("State", ctypes.c_int),
    ]


class _LastInputInfo(ctypes.Structure):
    _fields_ = [("cbSize", ctypes.c_uint), ("dwTime", ctypes.c_uint32)]


class WtsInfoW(ctypes.Structure):
    """WTSINFOW. WCHAR arrays as uint16 so the layout is the same when tested on Linux."""

    _fields_ = [
        ("State", ctypes.c_int),
        ("SessionId", ctypes.c_uint32),
        ("IncomingBytes", ctypes.c_uint32),
        ("OutgoingBytes", ctypes.c_uint32),
        ("IncomingFrames", ctypes.c_uint32),
        ("OutgoingFrames", ctypes.c_uint32),
        ("WinStationName", ctypes.c_uint16 * 32),  # WINSTATIONNAME_LENGTH
        ("Domain", ctypes.c_uint16 * 17),  # DOMAIN_LENGTH
        ("UserName", ctypes.c_uint16 * 21),  # USERNAME_LENGTH + 1
        ("ConnectTime", ctypes.c_int64),
        ("DisconnectTime", ctypes.c_int64),
        ("LastInputTime", ctypes.c_int64),
        ("LogonTime", ctypes.c_int64),
        ("CurrentTime", ctypes.c_int64),
    ]


def _wts_rows() -> list[WtsRow]:
    windll = getattr(ctypes, "windll", None)
    if windll is None:
        return []
    wts = windll.wtsapi32
    info_p = ctypes.POINTER(_WtsSessionInfoW)()
    count = ctypes.c_uint32()
    if not wts.WTSEnumerateSessionsW(
        WTS_CURRENT_SERVER_HANDLE, 0, 1, ctypes.byref(info_p), ctypes.byref(count)
    ):
        return []
    rows = []
    try:
        for i in range(count.value):
            entry = info_p[i]
            user = _query_string(wts, entry.SessionId, WTS_USER_NAME)
            logon = _query_logon(wts, entry.SessionId)
            rows.append(
                WtsRow(entry.SessionId, entry.State, entry.pWinStationName or "", user, logon)
            )
    finally:
        wts.WTSFreeMemory(info_p)
    return rows


def _query_string(wts: ctypes.CDLL, session_id: int, info_class: int) -> str:
    buf = ctypes.c_wchar_p()
    size = ctypes.c_uint32()
    if not wts.WTSQuerySessionInformationW(
        WTS_CURRENT_SERVER_HANDLE, session_id, info_class, ctypes.byref(buf), ctypes.byref(size)
    ):
        return ""
    try:
        return buf.value or ""
    finally:
        wts.WTSFreeMemory(buf)


def _query_logon(wts: ctypes.CDLL, session_id: int) -> int:
    buf = ctypes.c_void_p()
    size = ctypes.c_uint32()
    if not wts.WTSQuerySessionInformationW(
        WTS_CURRENT_SERVER_HANDLE,
        session_id,
        WTS_SESSION_INFO,
        ctypes.byref(buf),
        ctypes.byref(size),
    ):
        return 0
    try:
        if size.value < ctypes.sizeof(WtsInfoW) or not buf.value:
            return 0
        return int(WtsInfoW.from_address(buf.value).LogonTime)
    finally:
        wts.WTSFreeMemory(buf)


class WindowsSessionSignals:
    """``SessionSignals`` for Windows (see ``platform.base``)."""

    def desktop_sessions(self) -> list[DesktopSession]:
        return desktop_sessions_from_rows(_wts_rows())

    def idle_seconds(self) -> float | None:
        windll = getattr(ctypes, "windll", None)
        if windll is None:
            return None
        info = _LastInputInfo()
        info.cbSize = ctypes.sizeof(_LastInputInfo)
        if not windll.user32.GetLastInputInfo(ctypes.byref(info)):
            return None
        return idle_from_ticks(windll.kernel32.GetTickCount() & 0xFFFFFFFF, info.dwTime)
