"""The dashboard's cells when some chosen regions are pushed by child servers.

Pushed regions only have published figures, so every region of such a view is taken as
published figures: this server's own regions are published first (family figures and
blocked categories, exactly as it would push them), then everything is summed as
published figures and shown without new noise. A region's own figures are the ones its
own dashboard shows; a sum (weeks, a country, all regions) is a sum of published figures,
where a hidden part adds nothing (docs/national-view.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection

from regional_server.completeness import WeekCells, sum_regions
from regional_server.indicators import Coverage
from regional_server.national.collect import week_figures
from regional_server.national.read import (
    figures_to_cells,
    pushed_by_region,
    pushed_by_week,
    pushed_completeness,
    pushed_completeness_by_week,
    pushed_coverage,
)
from regional_server.perturb import Cell, NoiseTable, published_cell
from regional_server.store.completeness import completeness_cells
from regional_server.store.kiosks import KioskOverview, kiosk_overview
from regional_server.store.rollups import totals_by_region, totals_by_week


@dataclass(frozen=True)
class Sources:
    by_week: dict[date, dict[str, Cell]]
    by_region: dict[int, dict[str, Cell]]
    coverage: dict[int, Coverage]
    overview: KioskOverview | None
    """Silent kiosks and list versions of this server's own regions only."""


def _merge(a: Mapping[str, Cell], b: Mapping[str, Cell]) -> dict[str, Cell]:
    out = dict(a)
    for name, cell in b.items():
        out[name] = out.get(name, Cell()) + cell
    return out


def published_sources(
    conn: Connection,
    ids: frozenset[int],
    pushed: frozenset[int],
    first: date,
    period_first: date,
    last: date,
    now: int,
    silent_days: int,
    shown_limit: int,
    noise: NoiseTable,
    threshold: int,
) -> Sources:
    """Cells (of published figures) for ``ids``, of which ``pushed`` come from children:
    per week from ``first`` to ``last``, per region over ``period_first..last``."""
    local = ids - pushed
    local_week = totals_by_week(conn, local, first, last) if local else {}
    local_region = totals_by_region(conn, local, period_first, last) if local else {}
    overview = kiosk_overview(conn, local, now, silent_days, shown_limit) if local else None

    def published(counts: Mapping[str, Cell]) -> dict[str, Cell]:
        return figures_to_cells(week_figures(dict(counts), noise, threshold))

    by_week = {w: published(c) for w, c in local_week.items() if c}
    for week, cells in pushed_by_week(conn, pushed, first, last).items():
        by_week[week] = _merge(by_week.get(week, {}), cells)
    by_region = {rid: published(c) for rid, c in local_region.items() if c}
    by_region.update(pushed_by_region(conn, pushed, period_first, last))
    coverage = {
        rid: Coverage(
            published_cell(c.enrolled, noise, threshold),
            published_cell(c.active, noise, threshold),
            published_cell(c.on_newest, noise, threshold),
        )
        for rid, c in (overview.coverage.items() if overview else ())
    }
    coverage.update(pushed_coverage(conn, pushed))
    return Sources(by_week, by_region, coverage, overview)


def published_completeness(
    conn: Connection,
    ids: frozenset[int],
    pushed: frozenset[int],
    weeks: Sequence[date],
    timely_days: int,
    noise: NoiseTable,
    threshold: int,
    per_region: bool,
) -> tuple[list[WeekCells], dict[tuple[int, date], WeekCells]]:
    """Completeness of published figures for ``ids`` over ``weeks``: per week, the
    regions together; and per (region, week), the pushed regions only if ``per_region``
    (exports). This server's own regions are published as it would push them."""
    local = ids - pushed
    own = completeness_cells(conn, local, weeks, timely_days) if local else {}
    by_region = {
        k: WeekCells(
            published_cell(c.expected, noise, threshold),
            published_cell(c.received, noise, threshold),
            published_cell(c.on_time, noise, threshold),
        )
        for k, c in own.items()
    }
    sums = pushed_completeness_by_week(conn, pushed, weeks[0], weeks[-1])
    per_week = [
        c + sums.get(w, WeekCells())
        for c, w in zip(sum_regions(by_region, local, weeks), weeks, strict=True)
    ]
    if per_region:
        by_region.update(pushed_completeness(conn, pushed, weeks[0], weeks[-1]))
    return per_week, by_region
