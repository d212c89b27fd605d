"""`kiosk-agent operator unlock`: only an administrator clears the PIN lockout."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kiosk_agent.cli import main
from kiosk_agent.service.pin_lock import LockFile, LockState


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state")}))
    return path


def test_unlock_needs_an_administrator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    LockFile(tmp_path / "state").save(LockState(0, 2, 9e12))
    monkeypatch.setattr("kiosk_agent.installer.steps.is_administrator", lambda: False)
    assert main(["operator", "unlock", "--config", str(config)]) == 1
    assert "administrator" in capsys.readouterr().err
    assert LockFile(tmp_path / "state").load().locks == 2

    monkeypatch.setattr("kiosk_agent.installer.steps.is_administrator", lambda: True)
    assert main(["operator", "unlock", "--config", str(config)]) == 0
    assert "unlocked" in capsys.readouterr().out
    assert LockFile(tmp_path / "state").load() == LockState()
