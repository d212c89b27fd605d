"""Reporting completeness and timeliness per region and ISO week, as DHIS2 defines
them. Pure functions.

DHIS2's reporting rate is reports received / reports expected, and its timeliness the
reports received within a number of days after the period ends. Here the reporting
unit is a kiosk and the period an ISO week (docs/indicators.md):

- **expected**: kiosks enrolled before the week ended and not retired by then;
- **received**: expected kiosks that sent at least one report for the week (by the
  report's ``period_start``);
- **on time**: received kiosks whose first report for the week arrived at most
  ``timely_days`` days after the week ended.

Each figure counts kiosks, so it is a cell like the coverage figures: the sum of the
kiosks' record keys, published through ``perturb`` (small counts shown as ``<5``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from regional_server.indicators import Column, Row, Table, Value, shown_count
from regional_server.perturb import KEY_RANGE, Cell, NoiseTable, cell_sum

DAY = 86400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
COLUMNS = [
    Column("kiosks_expected", "kiosks"),
    Column("reports_received", "kiosks"),
    Column("reports_on_time", "kiosks"),
    Column("completeness_rate", "percent"),
    Column("timeliness_rate", "percent"),
]


MAX_LATE_DAYS = 61
"""Days late are counted up to 60 (the largest ``report_timely_days``); 61 is later."""


def late_days(first_received_at: int, end: int) -> int:
    """Whole days (rounded up) between a week's end and the first report for it: 0 when
    it arrived by the end, at most ``MAX_LATE_DAYS``. On time means at most
    ``report_timely_days``."""
    if first_received_at <= end:
        return 0
    return min(MAX_LATE_DAYS, -(-(first_received_at - end) // DAY))


def week_end(monday: date) -> int:
    """Unix seconds of the Monday 00:00 UTC that ends the week starting ``monday``."""
    return (monday.toordinal() - _EPOCH_ORDINAL + 7) * DAY


@dataclass(frozen=True)
class KioskLife:
    """What ``expected`` needs of a kiosk."""

    region_id: int
    enrolled_at: int
    retired_at: int | None
    record_key: int


@dataclass(frozen=True)
class WeekCells:
    expected: Cell = field(default_factory=Cell)
    received: Cell = field(default_factory=Cell)
    on_time: Cell = field(default_factory=Cell)

    def __add__(self, other: WeekCells) -> WeekCells:
        return WeekCells(
            self.expected + other.expected,
            self.received + other.received,
            self.on_time + other.on_time,
        )


def is_expected(enrolled_at: int, retired_at: int | None, end: int) -> bool:
    """A kiosk is expected to report for the week ending at ``end`` when it was enrolled
    before then and not retired by then."""
    return enrolled_at < end and (retired_at is None or retired_at >= end)


def expected_cells(
    kiosks: Iterable[KioskLife], weeks: Sequence[date]
) -> dict[tuple[int, date], Cell]:
    """(region, week) -> kiosks expected, for ``weeks`` in ascending order.

    A kiosk is expected in a run of consecutive weeks (from its enrolment to its
    retirement), found by bisection: O(kiosks × log weeks + regions × weeks).
    """
    ends = [week_end(w) for w in weeks]
    # region -> per week index: +count/+key where a kiosk's run starts, - where it ends
    diff: dict[int, list[list[int]]] = {}
    for k in kiosks:
        first = bisect_right(ends, k.enrolled_at)  # first week whose end > enrolled_at
        last = len(ends) if k.retired_at is None else bisect_right(ends, k.retired_at)
        if first >= last:
            continue
        d = diff.setdefault(k.region_id, [[0] * (len(ends) + 1), [0] * (len(ends) + 1)])
        d[0][first] += 1
        d[0][last] -= 1
        d[1][first] += k.record_key
        d[1][last] -= k.record_key
    out: dict[tuple[int, date], Cell] = {}
    for region_id, (counts, keys) in diff.items():
        n = key = 0
        for i, monday in enumerate(weeks):
            n += counts[i]
            key += keys[i]
            if n:
                out[(region_id, monday)] = Cell(n, key % KEY_RANGE)
    return out


def combine(
    expected: Mapping[tuple[int, date], Cell],
    received: Mapping[tuple[int, date], tuple[Cell, Cell]],
) -> dict[tuple[int, date], WeekCells]:
    """(region, week) -> the three cells; ``received`` gives (received, on time)."""
    keys = set(expected) | set(received)
    return {k: WeekCells(expected.get(k, Cell()), *received.get(k, (Cell(), Cell()))) for k in keys}


def rate(part: Value, whole: Value) -> float | None:
    """A published percentage, at most 100: the two figures carry independent noise,
    so a week where every kiosk reported could otherwise read 103 %."""
    if not isinstance(part, int) or not isinstance(whole, int) or whole == 0:
        return None
    return round(min(100.0, part * 100 / whole), 1)


def published_row(key: str, label: str, cells: WeekCells, noise: NoiseTable, threshold: int) -> Row:
    values: dict[str, Value] = {
        "kiosks_expected": shown_count(cells.expected, noise, threshold),
        "reports_received": shown_count(cells.received, noise, threshold),
        "reports_on_time": shown_count(cells.on_time, noise, threshold),
    }
    values["completeness_rate"] = rate(values["reports_received"], values["kiosks_expected"])
    values["timeliness_rate"] = rate(values["reports_on_time"], values["kiosks_expected"])
    return Row(key, label, values)


def completeness_table(
    key: str,
    weeks: Sequence[tuple[str, WeekCells]],
    noise: NoiseTable,
    threshold: int,
) -> Table:
    """One row per week (ISO week label, cells summed over the chosen regions) and a
    total over the weeks (kiosk-weeks, like DHIS2's expected reports over a period),
    itself a cell: the same figure in every view."""
    rows = [published_row(label, label, c, noise, threshold) for label, c in weeks]
    return Table(key, COLUMNS, rows, completeness_total([c for _l, c in weeks], noise, threshold))


def completeness_total(weeks: Sequence[WeekCells], noise: NoiseTable, threshold: int) -> Row:
    """The total row over ``weeks``: kiosk weeks, a cell of its own."""
    total = WeekCells(
        cell_sum(c.expected for c in weeks),
        cell_sum(c.received for c in weeks),
        cell_sum(c.on_time for c in weeks),
    )
    return published_row("total", "total", total, noise, threshold)


def sum_regions(
    cells: Mapping[tuple[int, date], WeekCells], region_ids: Iterable[int], weeks: Sequence[date]
) -> list[WeekCells]:
    """Per week, the cells of ``region_ids`` added up (keys too: a cell of its own).

    One pass over ``cells`` with integer sums: 50 regions x 53 weeks of dataclass
    additions had cost 10 ms a page.
    """
    ids = set(region_ids)
    acc: dict[date, list[int]] = {w: [0] * 9 for w in weeks}
    for (region_id, week), c in cells.items():
        a = acc.get(week)
        if a is None or region_id not in ids:
            continue
        a[0] += c.expected.value
        a[1] += c.expected.key
        a[2] += c.received.value
        a[3] += c.received.key
        a[4] += c.on_time.value
        a[5] += c.on_time.key
        # Hidden parts: figures a child server published hidden (docs/national-view.md).
        a[6] += c.expected.hidden
        a[7] += c.received.hidden
        a[8] += c.on_time.hidden
    return [
        WeekCells(
            Cell(a[0], a[1] % KEY_RANGE, a[6]),
            Cell(a[2], a[3] % KEY_RANGE, a[7]),
            Cell(a[4], a[5] % KEY_RANGE, a[8]),
        )
        for a in (acc[w] for w in weeks)
    ]
