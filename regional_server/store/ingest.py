"""Storing a verified report and adding it to the weekly rollup, in one transaction.

Idempotent by ``report_id`` through the primary key (``INSERT ... ON CONFLICT DO
NOTHING``), and the rollup is updated with ``ON CONFLICT DO UPDATE total = total + n``:
both are atomic in SQLite and PostgreSQL, so any number of server processes can ingest
at once without counting a report twice or losing an increment.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kiosk_agent.reporting.schema import Report
from regional_server.db.models import kiosk_feeds, kiosks, reports, rollup_weekly
from regional_server.rollup import report_week, rollup_deltas


class ReportConflict(ValueError):
    """A ``report_id`` already stored for a different kiosk."""


def _insert(conn: Connection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def store_report(conn: Connection, report: Report, region_id: int, country: str, now: int) -> bool:
    """Store ``report``; True if stored, False if it was already there (a retry)."""
    stmt = _insert(conn, reports).values(
        report_id=report.report_id,
        kiosk_id=report.kiosk_id,
        received_at=now,
        period_start=int(report.period_start.timestamp()),
        period_days=report.period_days,
        counts=json.dumps(report.counts, sort_keys=True, separators=(",", ":")),
        agent_version=report.agent_version,
        feed_versions=json.dumps(report.feed_versions, sort_keys=True, separators=(",", ":")),
    )
    inserted = conn.execute(
        stmt.on_conflict_do_nothing(index_elements=["report_id"]).returning(reports.c.report_id)
    ).first()
    if inserted is None:
        owner = conn.execute(
            select(reports.c.kiosk_id).where(reports.c.report_id == report.report_id)
        ).scalar_one_or_none()
        if owner is not None and owner != report.kiosk_id:
            raise ReportConflict("report_id already used by another kiosk")
        return False

    deltas = rollup_deltas(report)
    if deltas:
        week = report_week(report)
        up = _insert(conn, rollup_weekly)
        up = up.on_conflict_do_update(
            index_elements=["region_id", "week_start", "counter"],
            set_={"total": rollup_weekly.c.total + up.excluded.total},
        )
        conn.execute(
            up,
            [
                {
                    "region_id": region_id,
                    "week_start": week,
                    "counter": name,
                    "country": country,
                    "total": value,
                }
                for name, value in sorted(deltas.items())
            ],
        )
    conn.execute(
        update(kiosks)
        .where(kiosks.c.id == report.kiosk_id)
        .values(last_report_at=now, agent_version=report.agent_version)
    )
    if report.feed_versions:
        fv = _insert(conn, kiosk_feeds)
        fv = fv.on_conflict_do_update(
            index_elements=["kiosk_id", "list_id"], set_={"version": fv.excluded.version}
        )
        conn.execute(
            fv,
            [
                {"kiosk_id": report.kiosk_id, "list_id": k, "version": v}
                for k, v in sorted(report.feed_versions.items())
            ],
        )
    return True
