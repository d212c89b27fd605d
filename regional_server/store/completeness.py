"""Reading the completeness cells: kiosks expected (kiosks table), received and on time
(``kiosk_weeks``, one row per kiosk and week it reported, written at ingest)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, case, func, or_, select

from regional_server.completeness import KioskLife, WeekCells, combine, expected_cells, week_end
from regional_server.db.models import kiosk_weeks, kiosks
from regional_server.perturb import KEY_RANGE, Cell

DAY = 86400


def completeness_cells(
    conn: Connection, region_ids: frozenset[int], weeks: Sequence[date], timely_days: int
) -> dict[tuple[int, date], WeekCells]:
    """(region, week) -> expected, received, on time, for ``weeks`` (ascending)."""
    if not region_ids or not weeks:
        return {}
    ids = sorted(region_ids)
    last_end = week_end(weeks[-1])
    lives = [
        KioskLife(*row)
        for row in conn.execute(
            select(
                kiosks.c.region_id, kiosks.c.enrolled_at, kiosks.c.retired_at, kiosks.c.record_key
            ).where(
                kiosks.c.region_id.in_(ids),
                kiosks.c.enrolled_at < last_end,
                or_(kiosks.c.retired_at.is_(None), kiosks.c.retired_at >= week_end(weeks[0])),
            )
        )
    ]
    expected = expected_cells(lives, weeks)
    kw = kiosk_weeks.c
    on_time = kw.first_received_at <= kw.week_end_at + timely_days * DAY
    key = kiosks.c.record_key
    rows = conn.execute(
        select(
            kw.region_id,
            kw.week_start,
            func.count(),
            func.sum(key),
            func.sum(case((on_time, 1), else_=0)),
            func.sum(case((on_time, key), else_=0)),
        )
        .select_from(kiosk_weeks.join(kiosks, kiosks.c.id == kw.kiosk_id))
        .where(
            kw.region_id.in_(ids),
            kw.week_start >= weeks[0],
            kw.week_start <= weeks[-1],
            # Received counts only kiosks expected that week (DHIS2 counts the reports
            # of the org units assigned): a retired kiosk's late report adds nothing.
            kiosks.c.enrolled_at < kw.week_end_at,
            or_(kiosks.c.retired_at.is_(None), kiosks.c.retired_at >= kw.week_end_at),
        )
        .group_by(kw.region_id, kw.week_start)
    )
    received: dict[tuple[int, date], tuple[Cell, Cell]] = {}
    for region_id, monday, n, keys, n_on_time, keys_on_time in rows:
        received[(region_id, monday)] = (
            Cell(int(n), int(keys or 0) % KEY_RANGE),
            Cell(int(n_on_time or 0), int(keys_on_time or 0) % KEY_RANGE),
        )
    return combine(expected, received)
