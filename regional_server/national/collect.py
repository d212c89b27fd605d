"""What a regional server pushes to its parent: each region's figures as it publishes them.

Every figure goes through ``indicators.shown_count`` (the cell key method's
``perturb.publish``) here, on the child: the parent receives published figures only
(``null`` for a hidden one), never a cell, a key or anything about a kiosk.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import Connection, select

from regional_server.completeness import WeekCells
from regional_server.db.models import child_regions
from regional_server.indicators import Coverage, family_cells, shown_count
from regional_server.national.payload import FAMILIES, Published, Push
from regional_server.perturb import Cell, NoiseTable
from regional_server.rollup import epoch_to_date, week_start
from regional_server.store.completeness import completeness_cells
from regional_server.store.kiosks import kiosk_overview
from regional_server.store.regions import Region, list_regions
from regional_server.store.rollups import totals_by_region_week


def _figure(cell: Cell, noise: NoiseTable, threshold: int) -> Published:
    value = shown_count(cell, noise, threshold)
    return value if isinstance(value, int) else None


def week_figures(
    counts: dict[str, Cell], noise: NoiseTable, threshold: int
) -> dict[str, Published]:
    """One region's week as published: each family, and blocked per category."""
    fam = family_cells(counts)
    out = {f: _figure(fam[f], noise, threshold) for f in FAMILIES}
    for name, cell in counts.items():
        if name.startswith("blocked."):
            out[name] = _figure(cell, noise, threshold)
    return out


def completeness_figures(
    cells: WeekCells, noise: NoiseTable, threshold: int
) -> dict[str, Published]:
    """A region's week of reporting completeness as published (``COMPLETENESS``)."""
    return {
        "kiosks_expected": _figure(cells.expected, noise, threshold),
        "reports_received": _figure(cells.received, noise, threshold),
        "reports_on_time": _figure(cells.on_time, noise, threshold),
    }


def pushed_weeks(now: int, weeks: int) -> tuple[date, date]:
    """The ``weeks`` ISO weeks ending with the current one (first and last Monday)."""
    last = week_start(epoch_to_date(now))
    return last - timedelta(weeks=weeks - 1), last


def local_regions(conn: Connection) -> list[Region]:
    """Regions whose figures come from this server's kiosks (not from a child server)."""
    forwarded = {r for (r,) in conn.execute(select(child_regions.c.region_id))}
    return [r for r in list_regions(conn) if r.id not in forwarded]


def collect_push(
    conn: Connection,
    region: Region,
    now: int,
    weeks: int,
    noise: NoiseTable,
    threshold: int,
    silent_days: int = 7,
    timely_days: int = 3,
) -> Push:
    """``region``'s push for the last ``weeks`` weeks, with a fresh push id."""
    first, last = pushed_weeks(now, weeks)
    cells = totals_by_region_week(conn, frozenset({region.id}), first, last)
    by_week = {
        week: week_figures(counts, noise, threshold)
        for (_rid, week), counts in sorted(cells.items())
        if counts
    }
    mondays = [first + timedelta(weeks=k) for k in range(weeks)]
    done = completeness_cells(conn, frozenset({region.id}), mondays, timely_days)
    for (_rid, week), c in sorted(done.items()):
        by_week.setdefault(week, {}).update(completeness_figures(c, noise, threshold))
    cov = kiosk_overview(conn, frozenset({region.id}), now, silent_days, 0).coverage.get(
        region.id, Coverage()
    )
    coverage = {
        "kiosks_enrolled": _figure(cov.enrolled, noise, threshold),
        "kiosks_active": _figure(cov.active, noise, threshold),
        "kiosks_on_newest": _figure(cov.on_newest, noise, threshold),
    }
    return Push(
        str(uuid.uuid4()),
        now,
        region.code,
        region.name,
        region.country,
        first,
        last,
        by_week,
        coverage,
    )
