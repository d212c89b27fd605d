"""Windows: the control token handed to each desktop session's own user only.

An ACL for the Users or INTERACTIVE group would let every account on the PC (and a second
logged-on user) call the control API, so the service writes one token per active desktop
session, ``state\\ui\\session-<id>.token``, readable by SYSTEM, Administrators and the
SID of the user logged on in that session (``WTSQueryUserToken`` -> ``TokenUser``), and
removes it when the session ends. The UI reads the file of its own session
(``ProcessIdToSessionId``). The ctypes calls are thin; the decisions (which files, which
``icacls`` command) are pure functions tested on Linux.
"""

from __future__ import annotations

import ctypes
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SID_SYSTEM = "*S-1-5-18"
SID_ADMINISTRATORS = "*S-1-5-32-544"
UI_DIR = "ui"
WTS_ACTIVE = 0
TOKEN_USER_CLASS = 1  # TOKEN_INFORMATION_CLASS.TokenUser


@dataclass(frozen=True)
class SessionUser:
    """An active desktop session and the string SID of the user logged on in it."""

    session_id: int
    user_sid: str


def session_token_path(state_dir: Path, session_id: int) -> Path:
    return state_dir / UI_DIR / f"session-{int(session_id)}.token"


def token_acl_command(path: Path, user_sid: str) -> list[str]:
    """``icacls``: the token file readable by its session's user, SYSTEM and Administrators
    only (inheritance from the folder dropped, so Users get nothing)."""
    if not user_sid.startswith("S-1-") or any(c in user_sid for c in " :*()\\/"):
        raise ValueError(f"not a string SID: {user_sid!r}")
    return [
        "icacls",
        str(path),
        "/inheritance:r",
        "/grant:r",
        f"{SID_SYSTEM}:F",
        f"{SID_ADMINISTRATORS}:F",
        f"*{user_sid}:R",
    ]


@dataclass
class SessionTokens:
    """The per-session tokens the service accepts, kept in step with the active sessions.

    ``refresh(sessions)`` writes a token for each new session (``write`` writes the file,
    ``protect`` runs the icacls command; a session whose file cannot be protected gets no
    token) and forgets the tokens of sessions that ended (``remove``)."""

    state_dir: Path
    write: Callable[[Path, str], None]
    protect: Callable[[Sequence[str]], bool]
    remove: Callable[[Path], None]
    tokens: dict[SessionUser, str]

    def refresh(self, sessions: Iterable[SessionUser]) -> None:
        live = set(sessions)
        for gone in [s for s in self.tokens if s not in live]:
            del self.tokens[gone]
            self.remove(session_token_path(self.state_dir, gone.session_id))
        for session in live - set(self.tokens):
            path = session_token_path(self.state_dir, session.session_id)
            token = secrets.token_urlsafe(32)
            self.write(path, "")  # created empty, protected, then filled
            if not self.protect(token_acl_command(path, session.user_sid)):
                self.remove(path)
                continue
            self.write(path, token + "\n")
            self.tokens[session] = token

    def accepts(self, token: str) -> bool:
        return any(secrets.compare_digest(token, t) for t in self.tokens.values())


# -- the Windows calls (thin) ---------------------------------------------------------


def active_session_users() -> list[SessionUser]:  # pragma: no cover - Windows only
    """Active desktop sessions with their users' SIDs (the service runs as SYSTEM, which
    ``WTSQueryUserToken`` requires)."""
    from ctypes import wintypes

    wts = ctypes.WinDLL("wtsapi32")  # type: ignore[attr-defined]
    advapi = ctypes.WinDLL("advapi32")  # type: ignore[attr-defined]
    kernel = ctypes.WinDLL("kernel32")  # type: ignore[attr-defined]

    class SessionInfo(ctypes.Structure):
        _fields_ = [
            ("SessionId", wintypes.DWORD),
            ("pWinStationName", wintypes.LPWSTR),
            ("State", ctypes.c_int),
        ]

    info = ctypes.POINTER(SessionInfo)()
    count = wintypes.DWORD()
    if not wts.WTSEnumerateSessionsW(0, 0, 1, ctypes.byref(info), ctypes.byref(count)):
        return []
    out = []
    try:
        for i in range(count.value):
            row = info[i]
            if row.SessionId == 0 or row.State != WTS_ACTIVE:
                continue
            handle = wintypes.HANDLE()
            if not wts.WTSQueryUserToken(row.SessionId, ctypes.byref(handle)):
                continue
            try:
                sid = _token_user_sid(advapi, handle)
            finally:
                kernel.CloseHandle(handle)
            if sid:
                out.append(SessionUser(row.SessionId, sid))
    finally:
        wts.WTSFreeMemory(info)
    return out


def _token_user_sid(advapi: ctypes.CDLL, handle: object) -> str | None:  # pragma: no cover
    from ctypes import wintypes

    size = wintypes.DWORD()
    advapi.GetTokenInformation(handle, TOKEN_USER_CLASS, None, 0, ctypes.byref(size))
    buf = ctypes.create_string_buffer(size.value)
    if not advapi.GetTokenInformation(handle, TOKEN_USER_CLASS, buf, size, ctypes.byref(size)):
        return None
    psid = ctypes.cast(buf, ctypes.POINTER(ctypes.c_void_p))[0]  # TOKEN_USER.User.Sid
    text = wintypes.LPWSTR()
    if not advapi.ConvertSidToStringSidW(ctypes.c_void_p(psid), ctypes.byref(text)):
        return None
    try:
        return text.value
    finally:
        ctypes.WinDLL("kernel32").LocalFree(text)  # type: ignore[attr-defined]


def current_session_id() -> int | None:  # pragma: no cover - Windows only
    """The desktop session this process runs in (the UI's), or None."""
    from ctypes import wintypes

    kernel = ctypes.WinDLL("kernel32")  # type: ignore[attr-defined]
    session = wintypes.DWORD()
    if not kernel.ProcessIdToSessionId(kernel.GetCurrentProcessId(), ctypes.byref(session)):
        return None
    return int(session.value)
