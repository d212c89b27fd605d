"""`tamper.service_stopped`: which stops count, once, at the next start (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk_agent.service.stop_marker import (
    OPERATOR_FILE,
    RunRecord,
    decide,
    mark_operator_stop,
    same_boot,
)

BOOT, OTHER = "boot-a", "boot-b"
NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("last", "boot", "counts"),
    [
        (None, BOOT, False),  # first start
        ({"state": "running", "boot": BOOT}, BOOT, True),  # killed in this boot
        ({"state": "running", "boot": OTHER}, BOOT, False),  # power cut
        ({"state": "stopped", "boot": BOOT, "shutdown": True}, OTHER, False),  # PC shut down
        ({"state": "stopped", "boot": BOOT, "shutdown": False}, BOOT, True),  # systemctl stop
        ({"state": "stopped", "boot": BOOT, "shutdown": False}, OTHER, True),  # then reboot
        ({"state": "crashed", "boot": BOOT}, BOOT, False),  # an error: not a person
        ({"state": "running", "boot": BOOT}, None, False),  # boot unknown: not counted
        ("garbage", BOOT, False),
    ],
)
def test_decide(last: object, boot: str | None, counts: bool) -> None:
    assert decide(last, None, boot, NOW) is counts


def test_operator_stop_of_this_boot_is_not_tamper() -> None:
    stopped = {"state": "stopped", "boot": BOOT, "shutdown": False}
    assert not decide(stopped, {"boot": BOOT, "at": NOW - 60}, BOOT, NOW)
    assert decide(stopped, {"boot": OTHER, "at": NOW - 60}, BOOT, NOW)  # another boot's
    assert decide(stopped, {"boot": BOOT, "at": NOW - 3 * 86400}, BOOT, NOW)  # too old


def test_windows_boot_times_within_tolerance() -> None:
    assert same_boot("win:1000", "win:1090") and not same_boot("win:1000", "win:1200")
    assert not same_boot("win:x", "win:x1") and not same_boot(None, None)


def test_run_record_counts_once(tmp_path: Path) -> None:
    record = RunRecord(tmp_path, boot=BOOT)
    assert record.started() is False  # first start
    # killed: nothing written at the end; the next start (same boot) counts it, once
    assert RunRecord(tmp_path, boot=BOOT).started() is True
    again = RunRecord(tmp_path, boot=BOOT)
    assert again.started() is True  # the previous run was killed as well
    again.stopped(shutdown=True)
    assert RunRecord(tmp_path, boot=OTHER).started() is False
    record = RunRecord(tmp_path, boot=OTHER)
    record.stopped(shutdown=False)  # stopped by someone while the PC ran
    assert RunRecord(tmp_path, boot=OTHER).started() is True
    # the installer's restart: marked first, consumed by the start that follows
    RunRecord(tmp_path, boot=OTHER).stopped(shutdown=False)
    mark_operator_stop(tmp_path, boot=OTHER)
    assert RunRecord(tmp_path, boot=OTHER).started() is False
    assert not (tmp_path / OPERATOR_FILE).exists()
    RunRecord(tmp_path, boot=OTHER).stopped(crashed=True)
    assert RunRecord(tmp_path, boot=OTHER).started() is False
    assert (tmp_path / "service-run.json").stat().st_mode & 0o777 == 0o600
