"""Reading the completeness cells: kiosks expected (the kiosks table), received and on
time (``completeness_weekly``, rolled up at ingest), less the kiosk weeks of kiosks
that were not expected that week (retired before it ended, or enrolled after)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, func, select

from regional_server.completeness import (
    KioskLife,
    WeekCells,
    combine,
    expected_cells,
    is_expected,
    late_days,
    week_end,
)
from regional_server.db.models import completeness_weekly, kiosk_weeks, kiosks
from regional_server.perturb import KEY_RANGE, Cell


def completeness_cells(
    conn: Connection, region_ids: frozenset[int], weeks: Sequence[date], timely_days: int
) -> dict[tuple[int, date], WeekCells]:
    """(region, week) -> expected, received, on time, for ``weeks`` (ascending)."""
    if not region_ids or not weeks:
        return {}
    ids = sorted(region_ids)
    first_end = week_end(weeks[0])
    # Kiosks expected in every week asked for (enrolled before the first one ended, not
    # retired): counted by the database; the others (few) one by one.
    steady = (kiosks.c.enrolled_at < first_end) & kiosks.c.retired_at.is_(None)
    always = {
        region_id: Cell(int(n), int(key) % KEY_RANGE)
        for region_id, n, key in conn.execute(
            select(kiosks.c.region_id, func.count(), func.sum(kiosks.c.record_key))
            .where(kiosks.c.region_id.in_(ids), steady)
            .group_by(kiosks.c.region_id)
        )
    }
    lives = {
        row[0]: KioskLife(*row[1:])
        for row in conn.execute(
            select(
                kiosks.c.id,
                kiosks.c.region_id,
                kiosks.c.enrolled_at,
                kiosks.c.retired_at,
                kiosks.c.record_key,
            ).where(kiosks.c.region_id.in_(ids), ~steady)
        )
    }
    expected = expected_cells(lives.values(), weeks)
    for region_id, cell in always.items():
        for w in weeks:
            expected[(region_id, w)] = expected.get((region_id, w), Cell()) + cell
    cw = completeness_weekly.c
    received: dict[tuple[int, date], list[int]] = {}  # [n, key, on-time n, on-time key]
    rows = conn.execute(
        select(cw.region_id, cw.week_start, cw.late_days, cw.kiosks, cw.cell_key).where(
            cw.region_id.in_(ids), cw.week_start >= weeks[0], cw.week_start <= weeks[-1]
        )
    )
    for region_id, monday, late, n, key in rows:
        _add(received, (region_id, monday), int(n), int(key), late <= timely_days)
    # Kiosk weeks counted at ingest whose kiosk was not expected that week: only the
    # kiosks read one by one can have any; theirs are read and taken back out.
    odd = sorted(lives)
    for start in range(0, len(odd), 500):
        kw = kiosk_weeks.c
        for kid, monday, end, first, key in conn.execute(
            select(
                kw.kiosk_id, kw.week_start, kw.week_end_at, kw.first_received_at, kw.record_key
            ).where(
                kw.kiosk_id.in_(odd[start : start + 500]),
                kw.week_start >= weeks[0],
                kw.week_start <= weeks[-1],
            )
        ):
            k = lives[kid]
            if not is_expected(k.enrolled_at, k.retired_at, end):
                on_time = late_days(first, end) <= timely_days
                _add(received, (k.region_id, monday), -1, -key, on_time)
    return combine(
        expected,
        {
            k: (Cell(v[0], v[1] % KEY_RANGE), Cell(v[2], v[3] % KEY_RANGE))
            for k, v in received.items()
        },
    )


def _add(
    acc: dict[tuple[int, date], list[int]], k: tuple[int, date], n: int, key: int, on_time: bool
) -> None:
    v = acc.setdefault(k, [0, 0, 0, 0])
    v[0] += n
    v[1] += key
    if on_time:
        v[2] += n
        v[3] += key
