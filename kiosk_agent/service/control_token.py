"""Who may read the control token, and how the UI knows it talks to the real service.

Linux: ``state_dir/control.token`` is 0640 root:kiosk-agent, the group the installer
creates and adds the desktop users to; where that group does not exist (``run`` or
``demo`` as an ordinary user, whose UI runs as the same user) it is 0600, owner only.
Windows: one token per desktop session (``platform/windows_token.py``); ``control.token``
itself is for SYSTEM and Administrators (the folder's rights).

Before the tray sends an operator PIN, ``check_service_identity`` asks the kernel who
owns the listener at the control address (``/proc/net/tcp``): it must be the owner of
the token file, i.e. the service that wrote it, not a customer who bound the port while
the service was down (docs/security.md). On Windows the listener must run in session 0,
where only services run (``platform/windows_listener.py``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kiosk_agent.platform.base import UI_GROUP, ui_group_gid

__all__ = ["TOKEN_FILE", "UI_GROUP", "ui_group_gid"]

TOKEN_FILE = "control.token"


def token_mode(gid: int | None, euid: int | None) -> tuple[int, int | None]:
    """``(mode, group)`` for the token file: group-readable by the UI group when the
    service runs as root and the group exists, else owner only."""
    if gid is not None and euid == 0:
        return 0o640, gid
    return 0o600, None


def write_token(state_dir: Path, token: str) -> Path:
    """Write ``token`` to ``state_dir/control.token`` with the rights ``token_mode`` gives."""
    from kiosk_agent.atomic import write_text_atomic  # not in the UI process

    geteuid = getattr(os, "geteuid", None)
    mode, gid = token_mode(ui_group_gid(), geteuid() if geteuid else None)
    path = state_dir / TOKEN_FILE
    write_text_atomic(path, token + "\n", mode=mode, gid=gid)
    return path


def client_token_path(state_dir: Path) -> Path:
    """The token file the UI reads: its session's own on Windows, else ``control.token``."""
    if sys.platform == "win32":  # pragma: no cover - Windows only
        from kiosk_agent.platform.windows_token import current_session_id, session_token_path

        session = current_session_id()
        if session is not None:
            path = session_token_path(state_dir, session)
            if path.exists():
                return path
    return state_dir / TOKEN_FILE


def identity_problem(
    owners: set[int] | None, token_owner: int | None, *, required: bool
) -> str | None:
    """Why the listener is not the service (plain words), or None when it is.

    ``owners``: uids of the listeners at the control address (None: cannot tell);
    ``token_owner``: the uid owning the token file."""
    if owners is None or token_owner is None:
        return "cannot tell who listens on the control port" if required else None
    if not owners:
        return "nothing listens on the control port"
    if owners != {token_owner}:
        return "the control port is held by another program, not the kiosk-agent service"
    return None


def check_service_identity(host: str, port: int, token_path: Path) -> str | None:
    """``identity_problem`` for the listener at ``host:port``: on Linux its owner must
    own the token file; on Windows it must run in session 0 (services); elsewhere None."""
    if sys.platform == "win32":  # pragma: no cover - Windows only
        from kiosk_agent.platform.windows_listener import listener_sessions

        try:
            sessions = listener_sessions(host, port)
        except Exception:  # never run on Windows by CI: an API surprise must not lock out
            sessions = None
        return identity_problem(sessions, 0, required=False)
    if not sys.platform.startswith("linux"):
        return None
    from kiosk_agent.platform.linux_listener import listener_owner

    try:
        token_owner: int | None = token_path.stat().st_uid
    except OSError:
        token_owner = None
    return identity_problem(listener_owner(host, port), token_owner, required=True)
