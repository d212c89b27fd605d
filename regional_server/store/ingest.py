"""Storing verified reports and adding them to the weekly rollup, in one transaction.

Idempotent by ``report_id`` through the primary key (``INSERT ... ON CONFLICT DO
NOTHING``); the rollup is updated with ``ON CONFLICT DO UPDATE total = total + n``.
Both are atomic in SQLite and PostgreSQL (same SQL on both), so any number of server
processes can ingest at once without counting a report twice or losing an increment.
Each stored report gets a random record key, and each rollup cell keeps the sum of its
reports' keys (modulo ``perturb.KEY_RANGE``): the cell key method's input (``perturb``).
Several reports can be stored in one transaction (see ``ingest_queue``): one commit,
one fsync, for a whole batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection

from kiosk_agent.contracts.report import Report
from regional_server.completeness import late_days, week_end
from regional_server.perturb import KEY_RANGE, new_record_key
from regional_server.rollup import report_week, rollup_deltas


class ReportConflict(ValueError):
    """A ``report_id`` already stored for a different kiosk."""


@dataclass(frozen=True)
class Pending:
    """A verified report waiting to be stored, with its kiosk's region."""

    report: Report
    region_id: int
    country: str
    record_key: int = field(default_factory=new_record_key)
    """Random, server-side only: the report's part of its cells' keys (``perturb``)."""


# The batch goes straight to the driver (DB-API cursor): building and executing
# SQLAlchemy statements cost more CPU per report than the database's own work. One
# statement per table and batch; on PostgreSQL each takes the whole batch as arrays
# (``unnest``), one round trip and one plan for any batch size.
_SQLITE_INSERT = (
    "INSERT INTO reports (report_id, kiosk_id, received_at, period_start, period_days, "
    "counts, agent_version, feed_versions, record_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (report_id) DO NOTHING"
)
_PG_INSERT = (
    "INSERT INTO reports (report_id, kiosk_id, received_at, period_start, period_days, "
    "counts, agent_version, feed_versions, record_key) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[], "
    "%s::float8[], %s::text[], %s::text[], %s::text[], %s::bigint[]) "
    "ON CONFLICT (report_id) DO NOTHING RETURNING report_id"
)
_SQLITE_OWNERS = "SELECT report_id, kiosk_id FROM reports WHERE report_id IN ({})"
_PG_OWNERS = "SELECT report_id, kiosk_id FROM reports WHERE report_id = ANY(%s::text[])"
_UPSERT_ROLLUP = (
    " ON CONFLICT (region_id, week_start, counter) "
    "DO UPDATE SET total = rollup_weekly.total + excluded.total, "
    f"cell_key = (rollup_weekly.cell_key + excluded.cell_key) % {KEY_RANGE}"
)
_SQLITE_ROLLUP = (
    "INSERT INTO rollup_weekly (region_id, week_start, counter, country, total, cell_key) "
    "VALUES (?, ?, ?, ?, ?, ?)" + _UPSERT_ROLLUP
)
# Rows go in sorted order, so concurrent batches lock rollup rows in the same order.
_PG_ROLLUP = (
    "INSERT INTO rollup_weekly (region_id, week_start, counter, country, total, cell_key) "
    "SELECT * FROM unnest(%s::int[], %s::date[], %s::text[], %s::text[], %s::bigint[], "
    "%s::bigint[]) AS v(region_id, week_start, counter, country, total, cell_key) "
    "ORDER BY 1, 2, 3" + _UPSERT_ROLLUP.replace("%", "%%")
)
_SQLITE_SEEN = (
    "UPDATE kiosks SET last_report_at = ?, agent_version = ?, content_version = ?, "
    "settings_version = ? WHERE id = ?"
)
# Kiosk rows are locked in id order first (LockRows sits above the Sort), so two
# batches touching the same kiosks cannot deadlock whatever join the planner picks.
# NO KEY UPDATE, the lock an UPDATE takes, leaves the KEY SHARE locks of other batches'
# foreign key checks (reports -> kiosks) alone.
_PG_SEEN = (
    "WITH v AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[]) "
    "AS v(id, agent_version, content_version, settings_version)), "
    "locked AS MATERIALIZED (SELECT k.id FROM kiosks k JOIN v ON k.id = v.id "
    "ORDER BY k.id FOR NO KEY UPDATE OF k) "
    "UPDATE kiosks SET last_report_at = %s, agent_version = v.agent_version, "
    "content_version = v.content_version, settings_version = v.settings_version "
    "FROM v JOIN locked ON locked.id = v.id WHERE kiosks.id = v.id"
)
# The first report of a kiosk's week stays: its arrival says whether the week was
# reported on time (``completeness``). A new kiosk week is added to
# ``completeness_weekly`` (region, week, days late), read by the dashboard.
_SQLITE_WEEK = (
    "INSERT INTO kiosk_weeks (kiosk_id, week_start, region_id, week_end_at, "
    "first_received_at, record_key) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (kiosk_id, week_start) DO NOTHING"
)
_PG_WEEK = (
    "INSERT INTO kiosk_weeks (kiosk_id, week_start, region_id, week_end_at, first_received_at, "
    "record_key) SELECT * FROM unnest(%s::text[], %s::date[], %s::int[], %s::bigint[], "
    "%s::bigint[], %s::bigint[]) ORDER BY 1, 2 ON CONFLICT (kiosk_id, week_start) DO NOTHING "
    "RETURNING kiosk_id, week_start"
)
_UPSERT_DONE = (
    " ON CONFLICT (region_id, week_start, late_days) "
    "DO UPDATE SET kiosks = completeness_weekly.kiosks + excluded.kiosks, "
    f"cell_key = (completeness_weekly.cell_key + excluded.cell_key) % {KEY_RANGE}"
)
_SQLITE_DONE = (
    "INSERT INTO completeness_weekly (region_id, week_start, late_days, kiosks, cell_key) "
    "VALUES (?, ?, ?, ?, ?)" + _UPSERT_DONE
)
_PG_DONE = (
    "INSERT INTO completeness_weekly (region_id, week_start, late_days, kiosks, cell_key) "
    "SELECT * FROM unnest(%s::int[], %s::date[], %s::int[], %s::bigint[], %s::bigint[]) "
    "AS v(region_id, week_start, late_days, kiosks, cell_key) ORDER BY 1, 2, 3"
    + _UPSERT_DONE.replace("%", "%%")
)
# An unchanged version (the common case: a kiosk reports daily on the same list) is
# not rewritten.
_UPSERT_FEED = (
    " ON CONFLICT (kiosk_id, list_id) DO UPDATE SET version = excluded.version "
    "WHERE kiosk_feeds.version <> excluded.version"
)
_SQLITE_FEED = (
    "INSERT INTO kiosk_feeds (kiosk_id, list_id, version) VALUES (?, ?, ?)" + _UPSERT_FEED
)
_PG_FEED = (
    "INSERT INTO kiosk_feeds (kiosk_id, list_id, version) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[]) ORDER BY 1, 2" + _UPSERT_FEED
)


def _store_weeks(
    cur: Any, pg: bool, kw: list[tuple[tuple[str, date], tuple[int, int]]], now: int
) -> None:
    """The batch's kiosk weeks; the new ones (a kiosk's first report for a week) are
    added to ``completeness_weekly`` with how late they arrived."""
    if not kw:
        return
    new: list[tuple[tuple[str, date], tuple[int, int]]] = []
    if pg:
        cur.execute(
            _PG_WEEK,
            (
                [k for (k, _w), _v in kw],
                [w for (_k, w), _v in kw],
                [r for _kw, (r, _key) in kw],
                [week_end(w) for (_k, w), _v in kw],
                [now] * len(kw),
                [key for _kw, (_r, key) in kw],
            ),
        )
        inserted = {(r[0], r[1]) for r in cur.fetchall()}
        new = [item for item in kw if item[0] in inserted]
    else:
        for (k, w), (r, key) in kw:
            cur.execute(_SQLITE_WEEK, (k, w.isoformat(), r, week_end(w), now, key))
            if cur.rowcount == 1:
                new.append(((k, w), (r, key)))
    cells: dict[tuple[int, date, int], tuple[int, int]] = {}
    for (_k, w), (r, key) in new:
        late = late_days(now, week_end(w))
        n, total = cells.get((r, w, late), (0, 0))
        cells[(r, w, late)] = (n + 1, (total + key) % KEY_RANGE)
    rows = sorted(cells.items())
    if rows and pg:
        cur.execute(
            _PG_DONE,
            (
                [r for (r, _w, _l), _v in rows],
                [w for (_r, w, _l), _v in rows],
                [lt for (_r, _w, lt), _v in rows],
                [n for _c, (n, _key) in rows],
                [key for _c, (_n, key) in rows],
            ),
        )
    elif rows:
        cur.executemany(
            _SQLITE_DONE, [(r, w.isoformat(), lt, n, key) for (r, w, lt), (n, key) in rows]
        )


def _row(item: Pending, now: int) -> tuple[Any, ...]:
    report = item.report
    return (
        report.report_id,
        report.kiosk_id,
        now,
        int(report.period_start.timestamp()),
        report.period_days,
        json.dumps(report.counts, sort_keys=True, separators=(",", ":")),
        report.agent_version,
        json.dumps(report.feed_versions, sort_keys=True, separators=(",", ":")),
        item.record_key,
    )


def _insert_reports(
    cur: Any, pg: bool, items: Sequence[Pending], now: int
) -> list[bool | ReportConflict]:
    first: dict[str, Pending] = {}
    for item in items:
        first.setdefault(item.report.report_id, item)
    rows = [_row(r, now) for r in first.values()]
    inserted: set[str] = set()
    if pg:
        cur.execute(_PG_INSERT, [list(column) for column in zip(*rows, strict=True)])
        inserted = {r[0] for r in cur.fetchall()}
    else:
        for row in rows:
            cur.execute(_SQLITE_INSERT, row)
            if cur.rowcount == 1:
                inserted.add(row[0])
    owners: dict[str, str] = {}
    missing = [rid for rid in first if rid not in inserted]
    if missing:
        if pg:
            cur.execute(_PG_OWNERS, (missing,))
        else:
            cur.execute(_SQLITE_OWNERS.format(", ".join("?" * len(missing))), missing)
        owners = {r[0]: r[1] for r in cur.fetchall()}
    results: list[bool | ReportConflict] = []
    counted: set[str] = set()
    for item in items:
        rid, kiosk = item.report.report_id, item.report.kiosk_id
        owner = owners.get(rid, first[rid].report.kiosk_id)
        if owner != kiosk:
            results.append(ReportConflict("report_id already used by another kiosk"))
        elif rid in inserted and rid not in counted:
            counted.add(rid)
            results.append(True)
        else:
            results.append(False)  # stored before, or twice in this batch
    return results


@dataclass
class BatchEffects:
    """What the stored reports of a batch add up to: one row per rollup cell, kiosk
    and (kiosk, list), however many reports of the batch touch it."""

    rollup: dict[tuple[int, date, str], tuple[int, int]]
    """(region, week, counter) -> (total, sum of the reports' record keys mod KEY_RANGE)"""
    country: dict[int, str]
    seen: dict[str, tuple[str, int | None, int | None]]
    """kiosk -> (agent version, content pack, settings overlay) of its last stored report"""
    feeds: dict[tuple[str, str], int]
    weeks: dict[tuple[str, date], tuple[int, int]] = field(default_factory=dict)
    """(kiosk, week) -> (region, the first such report's record key): the weeks the
    batch's reports are for"""


def batch_effects(items: Sequence[Pending], results: Sequence[object]) -> BatchEffects:
    """Aggregate the reports stored by a batch (``results[i] is True``). Pure."""
    rollup: dict[tuple[int, date, str], tuple[int, int]] = {}
    country: dict[int, str] = {}
    seen: dict[str, tuple[str, int | None, int | None]] = {}
    feeds: dict[tuple[str, str], int] = {}
    weeks: dict[tuple[str, date], tuple[int, int]] = {}
    for item, stored in zip(items, results, strict=True):
        if stored is not True:
            continue
        report = item.report
        week = report_week(report)
        for name, value in rollup_deltas(report).items():
            total, key = rollup.get((item.region_id, week, name), (0, 0))
            rollup[(item.region_id, week, name)] = (
                total + value,
                (key + item.record_key) % KEY_RANGE,
            )
        country[item.region_id] = item.country
        seen[report.kiosk_id] = (
            report.agent_version,
            report.content_version,
            report.settings_version,
        )
        weeks.setdefault((report.kiosk_id, week), (item.region_id, item.record_key))
        for list_id, version in report.feed_versions.items():
            feeds[(report.kiosk_id, list_id)] = version
    return BatchEffects(rollup, country, seen, feeds, weeks)


def store_batch_dbapi(
    dbapi_conn: Any, dialect: str, items: Sequence[Pending], now: int
) -> list[bool | ReportConflict]:
    """``store_batch`` on a DB-API connection (``dialect``: ``sqlite`` or
    ``postgresql``) inside the caller's transaction; the caller commits."""
    if not items:
        return []
    pg = dialect == "postgresql"
    cur = dbapi_conn.cursor()
    try:
        results = _insert_reports(cur, pg, items, now)
        fx = batch_effects(items, results)
        seen = sorted(fx.seen.items())
        if seen and pg:
            columns = [[k for k, _v in seen], *map(list, zip(*(v for _k, v in seen), strict=True))]
            cur.execute(_PG_SEEN, (*columns, now))
        elif seen:
            cur.executemany(_SQLITE_SEEN, [(now, *v, k) for k, v in seen])
        feeds = sorted(fx.feeds.items())
        if feeds and pg:
            cur.execute(
                _PG_FEED,
                (
                    [k for (k, _l), _v in feeds],
                    [lid for (_k, lid), _v in feeds],
                    [v for _k, v in feeds],
                ),
            )
        elif feeds:
            cur.executemany(_SQLITE_FEED, [(k, lid, v) for (k, lid), v in feeds])
        _store_weeks(cur, pg, sorted(fx.weeks.items()), now)
        # The rollup last: its rows are the ones every batch of a region and week
        # shares, so their locks are held only from here to the commit.
        cells = sorted(fx.rollup.items())
        if cells and pg:
            cur.execute(
                _PG_ROLLUP,
                (
                    [r for (r, _w, _c), _t in cells],
                    [w for (_r, w, _c), _t in cells],
                    [c for (_r, _w, c), _t in cells],
                    [fx.country[r] for (r, _w, _c), _t in cells],
                    [t for _k, (t, _key) in cells],
                    [key for _k, (_t, key) in cells],
                ),
            )
        elif cells:
            cur.executemany(
                _SQLITE_ROLLUP,
                [(r, w.isoformat(), c, fx.country[r], t, key) for (r, w, c), (t, key) in cells],
            )
    finally:
        cur.close()
    return results


def store_batch(
    conn: Connection, items: Sequence[Pending], now: int
) -> list[bool | ReportConflict]:
    """Store ``items`` in the caller's transaction; per item: True stored, False a
    retry of a stored report, or the ``ReportConflict`` to answer with."""
    return store_batch_dbapi(conn.connection, conn.dialect.name, items, now)


def store_report(conn: Connection, report: Report, region_id: int, country: str, now: int) -> bool:
    """Store one report; True if stored, False if it was already there (a retry)."""
    (result,) = store_batch(conn, [Pending(report, region_id, country)], now)
    if isinstance(result, ReportConflict):
        raise result
    return result
