"""Reading the weekly rollups for the dashboard: never touches the raw reports.

Each counter comes back as a ``Cell``: its total and the key of the reports it sums
(the sum of the rollup cells' keys, modulo ``KEY_RANGE``), for ``perturb``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import Connection, func, select

from regional_server.db.models import rollup_weekly
from regional_server.perturb import KEY_RANGE, Cell

_TOTAL = func.sum(rollup_weekly.c.total)
_KEY = func.sum(rollup_weekly.c.cell_key)


def totals_by_week(
    conn: Connection, region_ids: frozenset[int], first_week: date, last_week: date
) -> dict[date, dict[str, Cell]]:
    """week -> counter -> cell, summed over ``region_ids``."""
    rows = conn.execute(
        select(rollup_weekly.c.week_start, rollup_weekly.c.counter, _TOTAL, _KEY)
        .where(
            rollup_weekly.c.region_id.in_(sorted(region_ids)),
            rollup_weekly.c.week_start >= first_week,
            rollup_weekly.c.week_start <= last_week,
        )
        .group_by(rollup_weekly.c.week_start, rollup_weekly.c.counter)
    )
    out: dict[date, dict[str, Cell]] = defaultdict(dict)
    for week, counter, total, key in rows:
        out[week][counter] = Cell(int(total), int(key) % KEY_RANGE)
    return out


def totals_by_region(
    conn: Connection, region_ids: frozenset[int], first_week: date, last_week: date
) -> dict[int, dict[str, Cell]]:
    """region id -> counter -> cell over the weeks."""
    rows = conn.execute(
        select(rollup_weekly.c.region_id, rollup_weekly.c.counter, _TOTAL, _KEY)
        .where(
            rollup_weekly.c.region_id.in_(sorted(region_ids)),
            rollup_weekly.c.week_start >= first_week,
            rollup_weekly.c.week_start <= last_week,
        )
        .group_by(rollup_weekly.c.region_id, rollup_weekly.c.counter)
    )
    out: dict[int, dict[str, Cell]] = defaultdict(dict)
    for region_id, counter, total, key in rows:
        out[region_id][counter] = Cell(int(total), int(key) % KEY_RANGE)
    return out


def totals_by_region_week(
    conn: Connection, region_ids: frozenset[int], first_week: date, last_week: date
) -> dict[tuple[int, date], dict[str, Cell]]:
    """(region id, week) -> counter -> cell: the cells of a region's week (DHIS2)."""
    rows = conn.execute(
        select(
            rollup_weekly.c.region_id,
            rollup_weekly.c.week_start,
            rollup_weekly.c.counter,
            rollup_weekly.c.total,
            rollup_weekly.c.cell_key,
        ).where(
            rollup_weekly.c.region_id.in_(sorted(region_ids)),
            rollup_weekly.c.week_start >= first_week,
            rollup_weekly.c.week_start <= last_week,
        )
    )
    out: dict[tuple[int, date], dict[str, Cell]] = defaultdict(dict)
    for region_id, week, counter, total, key in rows:
        out[(region_id, week)][counter] = Cell(int(total), int(key) % KEY_RANGE)
    return out
