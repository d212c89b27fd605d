"""The outbox: cutting rules, coalescing, acknowledgement, the bound, full disk, reopen."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kiosk_agent.reporting.outbox import MERGE_LEVELS, Outbox, OutboxError
from tests.conftest import require

DAY = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())  # a Monday
D = 86400


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox.in_state_dir(tmp_path)
    yield box
    box.close()


def test_settings_are_durable(outbox: Outbox) -> None:
    db = sqlite3.connect(outbox.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_cut_only_closed_periods_unless_all(outbox: Outbox) -> None:
    outbox.flush({(DAY, "blocked.a"): 3, (DAY + D, "blocked.a"): 1}, D)
    assert outbox.cut(DAY + D + 10, all_periods=False, agent_version="0.1.0")
    reports = outbox.all_reports()
    assert [(r.period_start, r.counts) for r in reports] == [(DAY, {"blocked.a": 3})]
    assert outbox.pending() == {"blocked.a": 1}
    outbox.cut(DAY + D + 20, all_periods=True, agent_version="0.1.0", feed_versions={"h": 7})
    assert outbox.pending() == {}
    assert [r.period_start for r in outbox.all_reports()] == [DAY, DAY + D]
    assert outbox.all_reports()[1].feed_versions == {"h": 7}
    uuid.UUID(outbox.all_reports()[0].report_id)


def test_unsent_report_of_a_period_is_extended_not_duplicated(outbox: Outbox) -> None:
    outbox.flush({(DAY, "blocked.a"): 1}, D)
    [first] = outbox.cut(DAY + 10, all_periods=True, agent_version="0.1.0")  # shutdown
    outbox.flush({(DAY, "blocked.a"): 2, (DAY, "p2p.ed2k"): 1}, D)
    assert outbox.cut(DAY + 20, all_periods=True, agent_version="0.1.0") == [first]
    [report] = outbox.all_reports()
    assert report.counts == {"blocked.a": 3, "p2p.ed2k": 1}
    # Once it may have left the kiosk, a new report is made instead.
    outbox.mark_sending(first)
    outbox.flush({(DAY, "blocked.a"): 5}, D)
    [second] = outbox.cut(DAY + 30, all_periods=True, agent_version="0.1.0")
    assert second != first
    assert outbox.all_reports()[0].maybe_delivered  # left "sending": treated as maybe


def test_acknowledge_and_ledger(outbox: Outbox) -> None:
    outbox.flush({(DAY, "blocked.a"): 2, (DAY, "sessions.login"): 4}, D)
    [rid] = outbox.cut(DAY + D, all_periods=False, agent_version="0.1.0")
    assert outbox.acknowledge(rid)
    assert not outbox.acknowledge(rid)
    assert outbox.report_count() == 0
    assert outbox.totals() == {"blocked.a": (2, 2), "sessions.login": (4, 4)}


def test_sticky_maybe_delivered_after_a_crash_while_sending(outbox: Outbox) -> None:
    outbox.flush({(DAY, "blocked.a"): 1}, D)
    [rid] = outbox.cut(DAY + D, all_periods=False, agent_version="0.1.0")
    outbox.mark_sending(rid)  # ... killed here; next start:
    outbox.mark_sending(rid)
    outbox.mark_not_delivered(rid, "connection refused", maybe_received=False)
    assert outbox.all_reports()[0].maybe_delivered
    assert outbox.enforce_bound(0, DAY) == 0  # never merged away


def _daily_reports(outbox: Outbox, days: int) -> None:
    for i in range(days):
        outbox.flush({(DAY + i * D, "blocked.a"): 1, (DAY + i * D, "sessions.login"): 2}, D)
    outbox.cut(DAY + days * D, all_periods=False, agent_version="0.1.0")


def test_bound_merges_oldest_into_weeks_then_coarser(outbox: Outbox) -> None:
    _daily_reports(outbox, 60)
    assert outbox.report_count() == 60
    merged = outbox.enforce_bound(50, DAY + 60 * D)
    assert outbox.report_count() <= 50
    assert merged == 60 - outbox.report_count()
    reports = outbox.all_reports()
    assert sum(r.merged_reports for r in reports) == 60
    assert sum(r.counts["blocked.a"] for r in reports) == 60
    assert sum(r.counts["sessions.login"] for r in reports) == 120
    oldest = reports[0]
    assert oldest.merged_reports > 1
    assert oldest.period_seconds <= MERGE_LEVELS[0]
    assert oldest.to_report("k").to_json()["merged_reports"] == oldest.merged_reports
    # A much tighter bound reaches 4-week and 52-week buckets; still nothing lost.
    outbox.enforce_bound(3, DAY + 60 * D)
    reports = outbox.all_reports()
    assert len(reports) <= 3
    assert sum(r.counts["sessions.login"] for r in reports) == 120
    for r in reports:
        report = r.to_report("k")
        assert 1 / 24 <= report.period_days <= 366
        # Buckets nest: a merged report never straddles its bucket.
        assert any(
            r.period_start // b == (r.period_start + r.period_seconds - 1) // b
            for b in MERGE_LEVELS
        )


def test_bound_keeps_maybe_delivered_reports_apart(outbox: Outbox) -> None:
    _daily_reports(outbox, 14)
    first = outbox.all_reports()[0].report_id
    outbox.mark_sending(first)
    outbox.mark_not_delivered(first, "read timeout", maybe_received=True)
    outbox.enforce_bound(2, DAY + 14 * D)
    ids = [r.report_id for r in outbox.all_reports()]
    assert first in ids
    assert sum(r.counts["blocked.a"] for r in outbox.all_reports()) == 14


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    box = Outbox.in_state_dir(tmp_path)
    box.flush({(DAY, "blocked.a"): 2}, D)
    box.set_meta({"deferrals": {"link_busy": 3}})
    box.close()
    again = Outbox.in_state_dir(tmp_path)
    assert again.pending() == {"blocked.a": 2}
    assert again.get_meta("deferrals") == {"link_busy": 3}
    again.close()


class _FullDisk:
    """A sqlite3 connection stand-in that fails the way SQLite does when the disk is full."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql.startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError("database or disk is full")
        return self.real.execute(sql, *args)


def test_simulated_full_disk_fails_cleanly(outbox: Outbox) -> None:
    outbox.flush({(DAY, "blocked.a"): 1}, D)
    real = outbox._db
    outbox._db = _FullDisk(real)  # type: ignore[assignment]
    with pytest.raises(OutboxError, match="disk is full"):
        outbox.flush({(DAY, "blocked.a"): 5}, D)
    outbox._db = real
    assert outbox.pending() == {"blocked.a": 1}
    assert outbox.totals() == {"blocked.a": (1, 0)}
    assert outbox.integrity_ok()


def test_real_full_disk_on_a_tiny_tmpfs(tmp_path: Path) -> None:
    """As root (CI): a 1 MiB tmpfs filled up; flush fails, nothing is corrupt, then recovers."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    require(os.geteuid() == 0, "mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    require(done.returncode == 0, f"cannot mount a tmpfs: {done.stderr.strip()}")
    opened: list[Outbox] = []
    try:
        from kiosk_agent.reporting.counters import Counters
        from kiosk_agent.reporting.events import Blocked
        from kiosk_agent.reporting.outbox import flush_counters

        def flush_ok() -> bool:
            try:
                flush_counters(counters, box)
            except OutboxError:
                return False
            return True

        box = Outbox.in_state_dir(mnt)
        opened.append(box)
        box.flush({(DAY, "blocked.a"): 1}, D)
        filler = mnt / "filler"
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        counters = Counters(lambda: DAY + 5, "day")
        failures = 0
        for i in range(200):  # distinct names: every flush needs new pages
            counters.count(Blocked(f"c{i}"))
            if not flush_ok():
                failures += 1
        assert failures > 0
        assert box.integrity_ok()
        kept = counters.pending_total()
        assert kept > 0
        filler.unlink()
        assert flush_ok()
        assert counters.pending_total() == 0
        assert sum(f for f, _ in box.totals().values()) == 201
        assert sum(box.pending().values()) == 201
        assert box.integrity_ok()
    finally:
        for box in opened:
            box.close()
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_rekey_moves_counts_of_a_corrected_epoch(outbox: Outbox) -> None:
    ten_years = 10 * 365 * D
    wrong = DAY - ten_years  # the PC clock said 2016
    outbox.flush({(wrong, "blocked.a"): 2}, D, "epoch-wrong")
    outbox.flush({(DAY, "blocked.a"): 1}, D, "epoch-good")
    [unsent] = outbox.cut(wrong + D, all_periods=False, agent_version="0.1.0")
    outbox.flush({(wrong, "sessions.login"): 3}, D, "epoch-wrong")
    assert outbox.rekey({"epoch-wrong": ten_years + 3600}, DAY + 7200) == 2
    assert outbox.pending() == {"blocked.a": 1, "sessions.login": 3}
    [report] = outbox.all_reports()
    assert (report.report_id, report.period_start, report.clock_epoch) == (unsent, DAY, "")
    outbox.cut(DAY + D, all_periods=False, agent_version="0.1.0")
    # Moved counts join the moved report; the other epoch's counts stay apart (that
    # epoch may still be corrected); the day's sums are right.
    assert sorted(((r.period_start, r.counts) for r in outbox.all_reports()), key=str) == [
        (DAY, {"blocked.a": 1}),
        (DAY, {"blocked.a": 2, "sessions.login": 3}),
    ]
    assert outbox.rekey({"epoch-wrong": ten_years}, DAY + 7200) == 0  # final: moved once


def test_rekey_rescues_implausible_periods_only_with_a_trusted_clock(outbox: Outbox) -> None:
    outbox.flush({(DAY - 20 * 365 * D, "blocked.a"): 1}, D, "never-corrected")
    assert outbox.rekey({}, DAY + 5, clock_trusted=False) == 0
    assert outbox.rekey({}, DAY + 5, clock_trusted=True) == 1
    outbox.cut(DAY + 5, all_periods=True, agent_version="0.1.0")
    assert outbox.all_reports()[0].period_start == DAY
