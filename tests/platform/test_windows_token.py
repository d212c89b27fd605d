"""Windows per-session control tokens: files, icacls commands, refresh (pure parts)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from kiosk_agent.platform.windows_token import (
    SessionTokens,
    SessionUser,
    session_token_path,
    token_acl_command,
)

SID = "S-1-5-21-1004336348-1177238915-682003330-1001"


def test_token_acl_command_is_exact() -> None:
    path = Path("C:/ProgramData/kiosk-agent/ui/session-2.token")
    assert token_acl_command(path, SID) == [
        "icacls",
        str(path),
        "/inheritance:r",
        "/grant:r",
        "*S-1-5-18:F",
        "*S-1-5-32-544:F",
        f"*{SID}:R",
    ]
    for bad in ("Users", "S-1-5-21 x", "*S-1-5-32-545", "S-1-5-21:(F)"):
        with pytest.raises(ValueError):
            token_acl_command(path, bad)


def test_refresh_writes_protects_and_forgets(tmp_path: Path) -> None:
    files: dict[Path, str] = {}
    commands: list[Sequence[str]] = []
    refuse: set[str] = set()

    def protect(argv: Sequence[str]) -> bool:
        commands.append(argv)
        return not any(sid in argv[-1] for sid in refuse)

    def remove(path: Path) -> None:
        files.pop(path, None)

    tokens = SessionTokens(tmp_path, files.__setitem__, protect, remove, {})
    alice, bob = SessionUser(1, SID), SessionUser(2, SID[:-4] + "1002")
    refuse.add("1002")
    tokens.refresh([alice, bob])
    path1 = session_token_path(tmp_path, 1)
    assert list(files) == [path1] and files[path1].strip()  # bob's file could not be protected
    assert tokens.accepts(files[path1].strip()) and not tokens.accepts("guess")
    old = files[path1].strip()
    tokens.refresh([])  # alice logged off
    assert files == {} and not tokens.accepts(old)
    assert len(commands) == 2
