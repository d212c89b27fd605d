"""The state folder and the files in it are the service's (issue 15)."""

from __future__ import annotations

from pathlib import Path

from kiosk_agent.net.clock import clock_for
from kiosk_agent.service.wiring import prepare_state_dir


def test_state_dir_is_created_private_and_tightened(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh" / "state"
    prepare_state_dir(fresh)
    assert fresh.stat().st_mode & 0o777 == 0o700
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    old.chmod(0o775)
    prepare_state_dir(old)
    assert old.stat().st_mode & 0o777 == 0o750
    ui_group = tmp_path / "installed"
    ui_group.mkdir()
    ui_group.chmod(0o710)  # as the installer leaves it: the UI group may open the token
    prepare_state_dir(ui_group)
    assert ui_group.stat().st_mode & 0o777 == 0o710


def test_clock_file_is_private(tmp_path: Path) -> None:
    clock_for(tmp_path).set_offset(12.0)
    assert (tmp_path / "clock.json").stat().st_mode & 0o777 == 0o600


def test_outbox_is_private_whoever_creates_it(tmp_path: Path) -> None:
    import os

    from kiosk_agent.reporting.outbox import Outbox

    old = os.umask(0o022)  # as `kiosk-agent report show` run from a shell
    try:
        outbox = Outbox.in_state_dir(tmp_path)
        outbox.close()
    finally:
        os.umask(old)
    files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert files and all(p.stat().st_mode & 0o077 == 0 for p in files), files
