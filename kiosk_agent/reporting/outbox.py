"""The durable outbox: flushed counts and cut reports in SQLite, kept until acknowledged.

One SQLite file in ``state_dir`` (WAL, ``synchronous=FULL``). Every change is one
``BEGIN IMMEDIATE`` transaction, so a power cut or ``kill -9`` leaves the state before
or after it, never between:

- ``flush`` adds counts to ``pending`` (and to the lifetime ``totals.flushed`` ledger);
- ``cut`` turns pending counts of a period into a report with a fresh UUID;
- ``mark_sending`` is committed *before* a report goes on the wire, so a report that may
  have reached the server is never merged or re-cut under another id: it is retried
  under its own id until the server says ``stored`` or ``duplicate``;
- ``acknowledge`` deletes the report (and adds to ``totals.acknowledged``).

Bounded: past ``max_reports`` the oldest reports that never left the kiosk are merged
into week, then 4-week, then 52-week reports (summed; ``merged_reports`` says how many).
A full disk makes a transaction fail and roll back; ``OutboxError`` says so and the
caller keeps its counts in memory to try again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk_agent.contracts.report import MAX_COUNTERS, Report
from kiosk_agent.reporting.counters import CounterKey, Counters

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite3"
MAX_COUNTERS_PER_CUT = MAX_COUNTERS - 12
"""Room left in a report so that a later coalesce or merge stays within the schema."""
MERGE_LEVELS = (7 * 86400, 28 * 86400, 364 * 86400)
DAILY_KEEP_DAYS = 31
"""Days of per-day counts kept for the operator ("today"), whatever was uploaded."""
EARLIEST_PLAUSIBLE = 1_577_836_800  # 2020-01-01 UTC: no kiosk counted anything before
"""Merge buckets, epoch-aligned and each a multiple of the previous, so merged reports nest."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    period_start INTEGER NOT NULL,
    period_seconds INTEGER NOT NULL,
    name TEXT NOT NULL,
    clock_epoch TEXT NOT NULL DEFAULT '',
    count INTEGER NOT NULL,
    PRIMARY KEY (period_start, period_seconds, name, clock_epoch)
);
CREATE TABLE IF NOT EXISTS reports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id TEXT NOT NULL UNIQUE,
    period_start INTEGER NOT NULL,
    period_seconds INTEGER NOT NULL,
    counts TEXT NOT NULL,
    feed_versions TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    merged_reports INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL,
    maybe_delivered INTEGER NOT NULL DEFAULT 0,
    sending INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    rejected_until REAL,
    last_error TEXT,
    clock_epoch TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS totals (
    name TEXT PRIMARY KEY,
    flushed INTEGER NOT NULL DEFAULT 0,
    acknowledged INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS daily (
    day_start INTEGER NOT NULL,
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day_start, name)
);
"""


class OutboxError(Exception):
    """The outbox could not be written (disk full, read-only, corrupt); nothing changed."""


@dataclass(frozen=True)
class StoredReport:
    """A cut report waiting in the outbox."""

    report_id: str
    period_start: int
    period_seconds: int
    counts: dict[str, int]
    feed_versions: dict[str, int]
    agent_version: str
    merged_reports: int
    created: float
    maybe_delivered: bool
    attempts: int
    rejected_until: float | None
    last_error: str | None
    clock_epoch: str = ""

    def to_report(
        self, kiosk_id: str, content: int | None = None, settings: int | None = None
    ) -> Report:
        """The report to send; ``content``/``settings``: the versions held at sending."""
        return Report(
            report_id=self.report_id,
            kiosk_id=kiosk_id,
            period_start=datetime.fromtimestamp(self.period_start, UTC),
            period_days=self.period_seconds / 86400,
            counts=dict(self.counts),
            agent_version=self.agent_version,
            feed_versions=dict(self.feed_versions),
            merged_reports=self.merged_reports,
            content_version=content,
            settings_version=settings,
        )


@dataclass
class OutboxSummary:
    """What `kiosk-agent report show` prints."""

    pending: dict[str, int] = field(default_factory=dict)
    reports: list[StoredReport] = field(default_factory=list)
    totals: dict[str, tuple[int, int]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


class Outbox:
    """The outbox database. Safe to share between threads; other processes may open it too."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # The service's only, whoever creates it first (`kiosk-agent report show` run
            # by the operator too); SQLite gives its journal files the same rights.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            with self._transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
        except (sqlite3.Error, OSError) as e:
            raise OutboxError(f"cannot open the outbox {self.path}: {e}") from e

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> Outbox:
        return cls(Path(state_dir) / OUTBOX_FILE)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise OutboxError(f"outbox {self.path} is not writable: {e}") from e
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as e:
                # SQLite may already have rolled back by itself (e.g. SQLITE_FULL).
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                if isinstance(e, sqlite3.Error):
                    raise OutboxError(f"outbox write failed, nothing changed: {e}") from e
                raise

    # -- counts -------------------------------------------------------------------------

    def flush(
        self, counts: Mapping[CounterKey, int], period_seconds: int, clock_epoch: str = ""
    ) -> int:
        """Add counts to the pending table durably; returns how many events were written.

        ``clock_epoch`` is the clock's epoch the periods were computed in (see ``rekey``).
        Raises ``OutboxError`` (nothing written) when the disk is full or unwritable.
        """
        if not counts:
            return 0
        by_name: dict[str, int] = {}
        with self._transaction() as db:
            for (start, name), n in counts.items():
                self._add_pending(db, start, period_seconds, name, clock_epoch, n)
                by_name[name] = by_name.get(name, 0) + n
                db.execute(
                    "INSERT INTO daily (day_start, name, count) VALUES (?, ?, ?) "
                    "ON CONFLICT (day_start, name) DO UPDATE SET count = count + excluded.count",
                    (start // 86400 * 86400, name, n),
                )
            self._add_totals(db, "flushed", by_name)
            newest = max(start for start, _ in counts)
            db.execute("DELETE FROM daily WHERE day_start < ?", (newest - DAILY_KEEP_DAYS * 86400,))
        return sum(by_name.values())

    @staticmethod
    def _add_pending(
        db: sqlite3.Connection, start: int, seconds: int, name: str, epoch: str, n: int
    ) -> None:
        db.execute(
            "INSERT INTO pending (period_start, period_seconds, name, clock_epoch, count) "
            "VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (period_start, period_seconds, name, clock_epoch) "
            "DO UPDATE SET count = count + excluded.count",
            (start, seconds, name, epoch, n),
        )

    # -- clock corrections --------------------------------------------------------------

    def rekey(
        self, corrections: Mapping[str, float], now: float, *, clock_trusted: bool = False
    ) -> int:
        """Move counts made under a since-corrected clock to their real periods.

        Pending rows and never-sent reports whose ``clock_epoch`` has a correction get
        their period shifted by that step (and the epoch cleared: they are final). With
        ``clock_trusted`` (this process has seen a server's ``Date``), anything still
        dated before 2020 or in the future (a clock that was never corrected before a
        power cut) is moved to the current period rather than lost. Returns rows moved.
        """
        moved = 0
        with self._transaction() as db:
            rows = db.execute(
                "SELECT period_start, period_seconds, name, clock_epoch, count FROM pending"
            ).fetchall()
            for start, seconds, name, epoch, n in rows:
                target = _rekeyed(start, seconds, epoch, corrections, now, clock_trusted)
                if target is None:
                    continue
                db.execute(
                    "DELETE FROM pending WHERE period_start = ? AND period_seconds = ? "
                    "AND name = ? AND clock_epoch = ?",
                    (start, seconds, name, epoch),
                )
                self._add_pending(db, target, seconds, name, "", n)
                moved += 1
            reports = db.execute(
                "SELECT report_id, period_start, period_seconds, clock_epoch FROM reports "
                "WHERE maybe_delivered = 0 AND sending = 0"
            ).fetchall()
            for report_id, start, seconds, epoch in reports:
                target = _rekeyed(start, seconds, epoch, corrections, now, clock_trusted)
                if target is None:
                    continue
                # The same report id, never sent: it may still change.
                db.execute(
                    "UPDATE reports SET period_start = ?, clock_epoch = '' WHERE report_id = ?",
                    (target, report_id),
                )
                moved += 1
        if moved:
            log.info("moved %d count row(s) to the periods of the corrected clock", moved)
        return moved

    @staticmethod
    def _add_totals(db: sqlite3.Connection, column: str, by_name: Mapping[str, int]) -> None:
        assert column in ("flushed", "acknowledged")
        for name, n in by_name.items():
            db.execute(
                f"INSERT INTO totals (name, {column}) VALUES (?, ?) "
                f"ON CONFLICT (name) DO UPDATE SET {column} = {column} + excluded.{column}",
                (name, n),
            )

    # -- cutting ------------------------------------------------------------------------

    def cut(
        self,
        now: float,
        *,
        all_periods: bool,
        agent_version: str,
        feed_versions: Mapping[str, int] | None = None,
    ) -> list[str]:
        """Turn pending counts into reports; returns the ids of reports made or extended.

        Only periods that have closed by ``now`` are cut, unless ``all_periods`` (upload
        now, shutdown). Counts for a period whose report never left the kiosk are added to
        that report instead of making another one: fewer bytes, same sums.
        """
        versions = json.dumps(dict(sorted((feed_versions or {}).items())))
        touched: list[str] = []
        with self._transaction() as db:
            periods = db.execute(
                "SELECT DISTINCT period_start, period_seconds, clock_epoch FROM pending "
                "ORDER BY period_start, period_seconds"
            ).fetchall()
            for start, seconds, epoch in periods:
                if not all_periods and start + seconds > now:
                    continue
                where = "WHERE period_start = ? AND period_seconds = ? AND clock_epoch = ?"
                rows = db.execute(
                    f"SELECT name, count FROM pending {where}", (start, seconds, epoch)
                ).fetchall()
                counts = {name: n for name, n in rows if n > 0}
                db.execute(f"DELETE FROM pending {where}", (start, seconds, epoch))
                if counts:
                    touched += self._add_to_reports(
                        db, start, seconds, counts, versions, now, agent_version, epoch
                    )
        return touched

    def _add_to_reports(
        self,
        db: sqlite3.Connection,
        start: int,
        seconds: int,
        counts: dict[str, int],
        versions: str,
        now: float,
        agent_version: str,
        epoch: str,
    ) -> list[str]:
        existing = db.execute(
            "SELECT report_id, counts FROM reports WHERE period_start = ? AND period_seconds = ? "
            "AND clock_epoch = ? AND maybe_delivered = 0 AND sending = 0 AND merged_reports = 1 "
            "AND rejected_until IS NULL ORDER BY seq DESC LIMIT 1",
            (start, seconds, epoch),
        ).fetchone()
        if existing is not None:
            combined: dict[str, int] = json.loads(existing[1])
            for name, n in counts.items():
                combined[name] = combined.get(name, 0) + n
            if len(combined) <= MAX_COUNTERS_PER_CUT:
                db.execute(
                    "UPDATE reports SET counts = ?, feed_versions = ?, agent_version = ? "
                    "WHERE report_id = ?",
                    (json.dumps(combined, sort_keys=True), versions, agent_version, existing[0]),
                )
                return [existing[0]]
        made: list[str] = []
        names = sorted(counts)
        for i in range(0, len(names), MAX_COUNTERS_PER_CUT):
            chunk = {name: counts[name] for name in names[i : i + MAX_COUNTERS_PER_CUT]}
            report_id = str(uuid.uuid4())
            db.execute(
                "INSERT INTO reports (report_id, period_start, period_seconds, counts, "
                "feed_versions, agent_version, created, clock_epoch) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    report_id,
                    start,
                    seconds,
                    json.dumps(chunk, sort_keys=True),
                    versions,
                    agent_version,
                    now,
                    epoch,
                ),
            )
            made.append(report_id)
        return made

    # -- bounding -----------------------------------------------------------------------

    def report_count(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM reports").fetchone()
        return int(row[0])

    def enforce_bound(self, max_reports: int, now: float) -> int:
        """Merge the oldest never-sent reports until at most ``max_reports`` remain.

        Returns how many reports disappeared into merged ones. Reports that may have
        reached the server keep their id and are never merged (that could double count).
        """
        removed = 0
        for bucket in MERGE_LEVELS:
            while self.report_count() > max_reports:
                merged = self._merge_oldest_group(bucket, now)
                if merged == 0:
                    break
                removed += merged
        if self.report_count() > max_reports:
            log.warning(
                "outbox holds %d reports, over its bound of %d: the oldest may "
                "have reached the server and cannot be merged",
                self.report_count(),
                max_reports,
            )
        return removed

    def _merge_oldest_group(self, bucket: int, now: float) -> int:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT report_id, period_start, period_seconds, counts, feed_versions, "
                "agent_version, merged_reports, clock_epoch FROM reports "
                "WHERE maybe_delivered = 0 AND sending = 0 AND rejected_until IS NULL "
                "ORDER BY period_start, seq"
            ).fetchall()
            groups: dict[int, list[Any]] = {}
            order: list[int] = []
            for row in rows:
                start, seconds = row[1], row[2]
                key = start // bucket
                if (start + seconds - 1) // bucket != key:
                    continue  # spans two buckets: already coarser than this level
                if key not in groups:
                    groups[key] = []
                    order.append(key)
                groups[key].append(row)
            for key in order:
                members = groups[key]
                if len(members) < 2:
                    continue
                counts: dict[str, int] = {}
                for member in members:
                    for name, n in json.loads(member[3]).items():
                        counts[name] = counts.get(name, 0) + n
                if len(counts) > MAX_COUNTERS:
                    continue
                start = min(m[1] for m in members)
                end = max(m[1] + m[2] for m in members)
                newest = max(members, key=lambda m: m[1])
                # One epoch: a later correction of it still moves the merged report.
                # Mixed epochs: merged as they are (the bound comes first; periods this
                # old are weeks long, and an impossible one is still rescued by rekey).
                epochs = {m[7] for m in members}
                epoch = epochs.pop() if len(epochs) == 1 else ""
                db.execute(
                    "INSERT INTO reports (report_id, period_start, period_seconds, counts, "
                    "feed_versions, agent_version, merged_reports, created, clock_epoch) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        str(uuid.uuid4()),
                        start,
                        end - start,
                        json.dumps(counts, sort_keys=True),
                        newest[4],
                        newest[5],
                        sum(m[6] for m in members),
                        now,
                        epoch,
                    ),
                )
                db.executemany(
                    "DELETE FROM reports WHERE report_id = ?", [(m[0],) for m in members]
                )
                return len(members) - 1
        return 0

    # -- sending ------------------------------------------------------------------------

    def due_reports(self, now: float, limit: int = 50) -> list[StoredReport]:
        """Reports to send now, oldest period first (rejected ones wait out their delay)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_REPORT_COLUMNS} FROM reports "
                "WHERE rejected_until IS NULL OR rejected_until <= ? "
                "ORDER BY period_start, seq LIMIT ?",
                (now, limit),
            ).fetchall()
        return [_stored(row) for row in rows]

    def all_reports(self) -> list[StoredReport]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_REPORT_COLUMNS} FROM reports ORDER BY period_start, seq"
            ).fetchall()
        return [_stored(row) for row in rows]

    def mark_sending(self, report_id: str) -> None:
        """Committed before the request: from here on, the report may reach the server."""
        with self._transaction() as db:
            db.execute(
                # An attempt left "sending" by a crash may have reached the server: sticky.
                "UPDATE reports SET maybe_delivered = MAX(maybe_delivered, sending), "
                "sending = 1, attempts = attempts + 1 WHERE report_id = ?",
                (report_id,),
            )

    def mark_not_delivered(self, report_id: str, error: str, *, maybe_received: bool) -> None:
        """The attempt failed; ``maybe_received`` if the server might have stored it anyway."""
        with self._transaction() as db:
            db.execute(
                "UPDATE reports SET sending = 0, last_error = ?, "
                "maybe_delivered = MAX(maybe_delivered, ?) WHERE report_id = ?",
                (error[:300], int(maybe_received), report_id),
            )

    def mark_rejected(self, report_id: str, error: str, retry_at: float) -> None:
        """The server refused the report as invalid: keep it, try again after ``retry_at``."""
        with self._transaction() as db:
            db.execute(
                "UPDATE reports SET sending = 0, last_error = ?, rejected_until = ?, "
                "maybe_delivered = 1 WHERE report_id = ?",
                (error[:300], retry_at, report_id),
            )

    def acknowledge(self, report_id: str) -> bool:
        """The server stored the report (or had it already): delete it. False if unknown."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT counts FROM reports WHERE report_id = ?", (report_id,)
            ).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM reports WHERE report_id = ?", (report_id,))
            self._add_totals(db, "acknowledged", json.loads(row[0]))
        return True

    # -- meta and summary ---------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row is not None else default

    def set_meta(self, values: Mapping[str, Any]) -> None:
        with self._transaction() as db:
            for key, value in values.items():
                db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, json.dumps(value)),
                )

    def pending(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, SUM(count) FROM pending GROUP BY name ORDER BY name"
            ).fetchall()
        return {name: int(n) for name, n in rows}

    def day_counts(self, day_start: int) -> dict[str, int]:
        """Everything flushed for the UTC day starting at ``day_start`` (sent or not)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, count FROM daily WHERE day_start = ? ORDER BY name", (day_start,)
            ).fetchall()
        return {name: int(n) for name, n in rows}

    def totals(self) -> dict[str, tuple[int, int]]:
        """Lifetime (flushed, acknowledged) per counter name."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, flushed, acknowledged FROM totals ORDER BY name"
            ).fetchall()
        return {name: (int(f), int(a)) for name, f, a in rows}

    def summary(self) -> OutboxSummary:
        with self._lock:
            meta = {
                key: json.loads(value)
                for key, value in self._db.execute("SELECT key, value FROM meta").fetchall()
            }
        return OutboxSummary(self.pending(), self.all_reports(), self.totals(), meta)

    def integrity_ok(self) -> bool:
        with self._lock:
            row = self._db.execute("PRAGMA integrity_check").fetchone()
        return bool(row and row[0] == "ok")


def flush_counters(counters: Counters, outbox: Outbox, clock_epoch: str = "") -> int:
    """Move the counters' counts into the outbox; returns how many events were written.

    If the write fails (``OutboxError``, re-raised) the counts go back into the counters,
    so nothing is lost while the disk is full and the next flush tries again.
    """
    counts = counters.take()
    try:
        return outbox.flush(counts, counters.period_seconds, clock_epoch)
    except OutboxError:
        counters.put_back(counts)
        raise


_REPORT_COLUMNS = (
    "report_id, period_start, period_seconds, counts, feed_versions, agent_version, "
    "merged_reports, created, maybe_delivered, sending, attempts, rejected_until, last_error, "
    "clock_epoch"
)


def _stored(row: tuple[Any, ...]) -> StoredReport:
    return StoredReport(
        report_id=row[0],
        period_start=int(row[1]),
        period_seconds=int(row[2]),
        counts=json.loads(row[3]),
        feed_versions=json.loads(row[4]),
        agent_version=row[5],
        merged_reports=int(row[6]),
        created=float(row[7]),
        # A report left "sending" by a crash may have reached the server.
        maybe_delivered=bool(row[8]) or bool(row[9]),
        attempts=int(row[10]),
        rejected_until=row[11],
        last_error=row[12],
        clock_epoch=row[13],
    )


def _rekeyed(
    start: int,
    seconds: int,
    epoch: str,
    corrections: Mapping[str, float],
    now: float,
    clock_trusted: bool,
) -> int | None:
    """The period a row belongs to after clock corrections, or None if it stays."""
    unit = seconds if seconds <= 86400 else 3600
    if epoch and epoch in corrections:
        return int((start + corrections[epoch]) // unit) * unit
    if clock_trusted and (start < EARLIEST_PLAUSIBLE or start > now + seconds):
        return int(now // unit) * unit
    return None
