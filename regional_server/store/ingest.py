"""Storing verified reports and adding them to the weekly rollup, in one transaction.

Idempotent by ``report_id`` through the primary key (``INSERT ... ON CONFLICT DO
NOTHING``); the rollup is updated with ``ON CONFLICT DO UPDATE total = total + n``.
Both are atomic in SQLite and PostgreSQL (same SQL on both), so any number of server
processes can ingest at once without counting a report twice or losing an increment.
Several reports can be stored in one transaction (see ``ingest_queue``): one commit,
one fsync, for a whole batch.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Date, bindparam, select, text
from sqlalchemy.dialects import postgresql, sqlite

from kiosk_agent.reporting.schema import Report
from regional_server.db.models import reports
from regional_server.rollup import report_week, rollup_deltas


class ReportConflict(ValueError):
    """A ``report_id`` already stored for a different kiosk."""


@dataclass(frozen=True)
class Pending:
    """A verified report waiting to be stored, with its kiosk's region."""

    report: Report
    region_id: int
    country: str


# Statements are built once: constructing SQLAlchemy expressions per report cost more
# than executing them. The SQL is the same for SQLite (3.35+) and PostgreSQL.
_ROLLUP = text(
    "INSERT INTO rollup_weekly (region_id, week_start, counter, country, total) "
    "VALUES (:region_id, :week_start, :counter, :country, :total) "
    "ON CONFLICT (region_id, week_start, counter) "
    "DO UPDATE SET total = rollup_weekly.total + excluded.total"
).bindparams(bindparam("week_start", type_=Date))
_KIOSK_SEEN = text(
    "UPDATE kiosks SET last_report_at = :now, agent_version = :agent_version WHERE id = :id"
)
_KIOSK_FEED = text(
    "INSERT INTO kiosk_feeds (kiosk_id, list_id, version) VALUES (:kiosk_id, :list_id, "
    ":version) ON CONFLICT (kiosk_id, list_id) DO UPDATE SET version = excluded.version"
)


def _insert_statement(conn: Connection) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING report_id`` for a list of reports:
    SQLAlchemy sends it as one multi-row statement, not a round trip per report."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return (
        dialect.insert(reports)
        .on_conflict_do_nothing(index_elements=["report_id"])
        .returning(reports.c.report_id, sort_by_parameter_order=True)
    )


def _row(report: Report, now: int) -> dict[str, Any]:
    return {
        "report_id": report.report_id,
        "kiosk_id": report.kiosk_id,
        "received_at": now,
        "period_start": int(report.period_start.timestamp()),
        "period_days": report.period_days,
        "counts": json.dumps(report.counts, sort_keys=True, separators=(",", ":")),
        "agent_version": report.agent_version,
        "feed_versions": json.dumps(report.feed_versions, sort_keys=True, separators=(",", ":")),
    }


def _insert_reports(
    conn: Connection, items: Sequence[Pending], now: int
) -> list[bool | ReportConflict]:
    first: dict[str, Report] = {}
    for item in items:
        first.setdefault(item.report.report_id, item.report)
    rows = [_row(r, now) for r in first.values()]
    inserted: set[str] = set()
    if rows:
        inserted = {r[0] for r in conn.execute(_insert_statement(conn), rows)}
    owners: dict[str, str] = {}
    missing = [rid for rid in first if rid not in inserted]
    if missing:
        owners = {
            r[0]: r[1]
            for r in conn.execute(
                select(reports.c.report_id, reports.c.kiosk_id).where(
                    reports.c.report_id.in_(missing)
                )
            )
        }
    results: list[bool | ReportConflict] = []
    counted: set[str] = set()
    for item in items:
        rid, kiosk = item.report.report_id, item.report.kiosk_id
        owner = owners.get(rid, first[rid].kiosk_id)
        if owner != kiosk:
            results.append(ReportConflict("report_id already used by another kiosk"))
        elif rid in inserted and rid not in counted:
            counted.add(rid)
            results.append(True)
        else:
            results.append(False)  # stored before, or twice in this batch
    return results


def store_batch(
    conn: Connection, items: Sequence[Pending], now: int
) -> list[bool | ReportConflict]:
    """Store ``items`` in the caller's transaction; per item: True stored, False a
    retry of a stored report, or the ``ReportConflict`` to answer with."""
    results = _insert_reports(conn, items, now)
    rollup: dict[tuple[int, date, str], int] = defaultdict(int)
    country: dict[int, str] = {}
    seen: dict[str, str] = {}
    feeds: dict[tuple[str, str], int] = {}
    for item, stored in zip(items, results, strict=True):
        if stored is not True:
            continue
        report = item.report
        week = report_week(report)
        for name, value in rollup_deltas(report).items():
            rollup[(item.region_id, week, name)] += value
        country[item.region_id] = item.country
        seen[report.kiosk_id] = report.agent_version
        for list_id, version in report.feed_versions.items():
            feeds[(report.kiosk_id, list_id)] = version
    # Sorted, so that concurrent batches lock rollup rows in the same order (no deadlock).
    if rollup:
        conn.execute(
            _ROLLUP,
            [
                {"region_id": r, "week_start": w, "counter": c, "country": country[r], "total": t}
                for (r, w, c), t in sorted(rollup.items())
            ],
        )
    if seen:
        conn.execute(
            _KIOSK_SEEN,
            [{"now": now, "agent_version": v, "id": k} for k, v in sorted(seen.items())],
        )
    if feeds:
        conn.execute(
            _KIOSK_FEED,
            [
                {"kiosk_id": k, "list_id": lid, "version": v}
                for (k, lid), v in sorted(feeds.items())
            ],
        )
    return results


def store_report(conn: Connection, report: Report, region_id: int, country: str, now: int) -> bool:
    """Store one report; True if stored, False if it was already there (a retry)."""
    (result,) = store_batch(conn, [Pending(report, region_id, country)], now)
    if isinstance(result, ReportConflict):
        raise result
    return result
