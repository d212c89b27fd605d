"""Reading the weekly rollups for the dashboard: never touches the raw reports."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import Connection, func, select

from regional_server.db.models import rollup_weekly


def totals_by_week(
    conn: Connection, region_ids: frozenset[int], first_week: date, last_week: date
) -> dict[date, dict[str, int]]:
    """week -> counter -> total, summed over ``region_ids``."""
    rows = conn.execute(
        select(rollup_weekly.c.week_start, rollup_weekly.c.counter, func.sum(rollup_weekly.c.total))
        .where(
            rollup_weekly.c.region_id.in_(sorted(region_ids)),
            rollup_weekly.c.week_start >= first_week,
            rollup_weekly.c.week_start <= last_week,
        )
        .group_by(rollup_weekly.c.week_start, rollup_weekly.c.counter)
    )
    out: dict[date, dict[str, int]] = defaultdict(dict)
    for week, counter, total in rows:
        out[week][counter] = int(total)
    return out


def totals_by_region(
    conn: Connection, region_ids: frozenset[int], first_week: date, last_week: date
) -> dict[int, dict[str, int]]:
    """region id -> counter -> total over the weeks."""
    rows = conn.execute(
        select(rollup_weekly.c.region_id, rollup_weekly.c.counter, func.sum(rollup_weekly.c.total))
        .where(
            rollup_weekly.c.region_id.in_(sorted(region_ids)),
            rollup_weekly.c.week_start >= first_week,
            rollup_weekly.c.week_start <= last_week,
        )
        .group_by(rollup_weekly.c.region_id, rollup_weekly.c.counter)
    )
    out: dict[int, dict[str, int]] = defaultdict(dict)
    for region_id, counter, total in rows:
        out[region_id][counter] = int(total)
    return out
