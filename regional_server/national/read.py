"""The parent's dashboard rows for regions pushed by child servers.

Pushed figures are already published (perturbed on the child), so they come back as
cells to be summed and shown without new noise (``perturb.NO_NOISE``): a figure is
``Cell(value)``, a hidden one ``Cell(hidden=1)`` (its value never reached this server,
so it adds nothing to any sum; a sum of hidden parts only stays hidden). The dashboard's
sums are taken in the database (``GROUP BY``, with a count of the hidden parts), not row
by row here: a year of 50 regions is ~34,000 figures. Family figures
come back under one counter name each (``FAMILY_COUNTER``) so that the dashboard's
``indicators.family_of`` sums them like kiosk counters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, select

from regional_server.completeness import WeekCells
from regional_server.db.models import child_regions, child_servers, pushed_weekly
from regional_server.indicators import Coverage
from regional_server.national.payload import COMPLETENESS, Published
from regional_server.perturb import Cell

FAMILY_COUNTER = {
    "sessions": "sessions.all",
    "notices_shown": "notices.shown.all",
    "notices_acknowledged": "notices.acknowledged",
    "feedback_helpful": "notices.feedback.helpful.all",
    "feedback_not_helpful": "notices.feedback.not_helpful.all",
    "tamper": "tamper.all",
    "p2p": "p2p.all",
}


def as_cell(value: Published) -> Cell:
    """A published figure as a part of a sum: its value, or one hidden part."""
    return Cell(0, 0, 1) if value is None else Cell(value)


def figures_to_cells(figures: Mapping[str, Published]) -> dict[str, Cell]:
    """Published figures (families and ``blocked.<cat>``) as counter -> cell."""
    return {FAMILY_COUNTER.get(name, name): as_cell(v) for name, v in figures.items()}


def pushed_region_ids(conn: Connection, ids: frozenset[int]) -> dict[int, str]:
    """Which of ``ids`` are pushed by a child server: region id -> the child's name."""
    if not ids:
        return {}
    rows = conn.execute(
        select(child_regions.c.region_id, child_servers.c.name)
        .join(child_servers, child_servers.c.id == child_regions.c.child_id)
        .where(child_regions.c.region_id.in_(sorted(ids)))
    )
    return {rid: name for rid, name in rows}


def _rows(
    conn: Connection, ids: frozenset[int], first: date, last: date
) -> list[tuple[int, date, str, Published]]:
    """Each figure of the dashboard's counters (not the completeness ones)."""
    return [
        (rid, week, name, value)
        for rid, week, name, value in conn.execute(
            select(
                pushed_weekly.c.region_id,
                pushed_weekly.c.week_start,
                pushed_weekly.c.name,
                pushed_weekly.c.value,
            ).where(
                pushed_weekly.c.region_id.in_(sorted(ids)),
                pushed_weekly.c.week_start >= first,
                pushed_weekly.c.week_start <= last,
                pushed_weekly.c.name.not_in(COMPLETENESS),
            )
        )
    ]


_SUM = func.coalesce(func.sum(pushed_weekly.c.value), 0)
_HIDDEN = func.count() - func.count(pushed_weekly.c.value)
"""Summed in the database: the figures' sum (a hidden one, NULL, adds nothing) and how
many were hidden, i.e. the sum of ``as_cell`` of each, as one row per group."""


def _summed(
    conn: Connection, by: ColumnElement[Any], ids: frozenset[int], first: date, last: date
) -> Iterator[tuple[Any, str, Cell]]:
    rows = conn.execute(
        select(by, pushed_weekly.c.name, _SUM, _HIDDEN)
        .where(
            pushed_weekly.c.region_id.in_(sorted(ids)),
            pushed_weekly.c.week_start >= first,
            pushed_weekly.c.week_start <= last,
            pushed_weekly.c.name.not_in(COMPLETENESS),
        )
        .group_by(by, pushed_weekly.c.name)
    )
    for group, name, total, hidden in rows:
        yield group, FAMILY_COUNTER.get(name, name), Cell(int(total), 0, int(hidden))


def pushed_by_week(
    conn: Connection, ids: frozenset[int], first: date, last: date
) -> dict[date, dict[str, Cell]]:
    """week -> counter -> sum of the regions' published figures."""
    out: dict[date, dict[str, Cell]] = defaultdict(dict)
    for week, counter, cell in _summed(conn, pushed_weekly.c.week_start, ids, first, last):
        out[week][counter] = cell
    return out


def pushed_by_region(
    conn: Connection, ids: frozenset[int], first: date, last: date
) -> dict[int, dict[str, Cell]]:
    """region id -> counter -> sum of the weeks' published figures."""
    out: dict[int, dict[str, Cell]] = defaultdict(dict)
    for rid, counter, cell in _summed(conn, pushed_weekly.c.region_id, ids, first, last):
        out[rid][counter] = cell
    return out


def pushed_by_region_week(
    conn: Connection, ids: frozenset[int], first: date, last: date
) -> dict[tuple[int, date], dict[str, Cell]]:
    """(region id, week) -> counter -> the published figure (DHIS2 exports)."""
    out: dict[tuple[int, date], dict[str, Cell]] = defaultdict(dict)
    for rid, week, name, value in _rows(conn, ids, first, last):
        out[(rid, week)][FAMILY_COUNTER.get(name, name)] = as_cell(value)
    return out


def _completeness_sums() -> list[ColumnElement[Any]]:
    """Per completeness figure: the sum of its values and the count of its hidden ones."""
    cols: list[ColumnElement[Any]] = []
    for name in COMPLETENESS:
        is_name = pushed_weekly.c.name == name
        cols.append(func.coalesce(func.sum(case((is_name, pushed_weekly.c.value))), 0))
        cols.append(func.count(case((is_name & pushed_weekly.c.value.is_(None), 1))))
    return cols


def _completeness(
    conn: Connection,
    group: Sequence[ColumnElement[Any]],
    ids: frozenset[int],
    first: date,
    last: date,
) -> Iterator[tuple[tuple[Any, ...], WeekCells]]:
    rows = conn.execute(
        select(*group, *_completeness_sums())
        .where(
            pushed_weekly.c.region_id.in_(sorted(ids)),
            pushed_weekly.c.week_start >= first,
            pushed_weekly.c.week_start <= last,
            pushed_weekly.c.name.in_(COMPLETENESS),
        )
        .group_by(*group)
    )
    n = len(group)
    for row in rows:
        e, eh, r, rh, o, oh = (int(v) for v in row[n:])
        yield tuple(row[:n]), WeekCells(Cell(e, 0, eh), Cell(r, 0, rh), Cell(o, 0, oh))


def pushed_completeness(
    conn: Connection, ids: frozenset[int], first: date, last: date
) -> dict[tuple[int, date], WeekCells]:
    """(region id, week) -> kiosks expected, reports received and on time as published
    (a figure a child did not send counts as 0, as it did before children sent them)."""
    group = [pushed_weekly.c.region_id, pushed_weekly.c.week_start]
    return {(rid, week): c for (rid, week), c in _completeness(conn, group, ids, first, last)}


def pushed_completeness_by_week(
    conn: Connection, ids: frozenset[int], first: date, last: date
) -> dict[date, WeekCells]:
    """week -> the regions' completeness figures summed (in the database)."""
    group = [pushed_weekly.c.week_start]
    return {week: c for (week,), c in _completeness(conn, group, ids, first, last)}


def pushed_coverage(conn: Connection, ids: frozenset[int]) -> dict[int, Coverage]:
    """The kiosk figures each region's child published with its last push."""
    rows = conn.execute(
        select(
            child_regions.c.region_id,
            child_regions.c.kiosks_enrolled,
            child_regions.c.kiosks_active,
            child_regions.c.kiosks_on_newest,
        ).where(child_regions.c.region_id.in_(sorted(ids)))
    )
    return {
        rid: Coverage(as_cell(enrolled), as_cell(active), as_cell(newest))
        for rid, enrolled, active, newest in rows
    }
