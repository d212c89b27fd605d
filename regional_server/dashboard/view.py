"""Everything one dashboard view shows, gathered from the rollups (never raw reports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection

from regional_server.auth.sessions import CurrentUser
from regional_server.completeness import (
    WeekCells,
    completeness_table,
    completeness_total,
    sum_regions,
)
from regional_server.dashboard.filters import Filters, select_regions
from regional_server.dashboard.headline import Headline, headline
from regional_server.indicators import (
    Coverage,
    Indicators,
    Table,
    compute_indicators,
    countries_table,
)
from regional_server.national.read import pushed_region_ids
from regional_server.national.sources import published_completeness, published_sources
from regional_server.perturb import NO_NOISE, Cell, NoiseTable, cell_sum, noise_table
from regional_server.rollup import week_label, weeks_between
from regional_server.store.completeness import completeness_cells
from regional_server.store.kiosks import SilentKiosk, kiosk_overview
from regional_server.store.regions import Region, list_regions
from regional_server.store.rollups import totals_by_region, totals_by_week

SILENT_SHOWN = 200
CHART_WEEKS = 12
"""Charts show at least this many weeks (ending with the period's last week)."""


@dataclass(frozen=True)
class DashboardData:
    filters: Filters
    allowed_regions: list[Region]
    regions: list[Region]
    weeks: list[date]
    indicators: Indicators
    silent_total: int
    silent: list[SilentKiosk]
    newest: dict[str, int]
    silent_days: int
    headline: Headline | None = None
    chart_weeks: tuple[date, ...] = ()
    chart: Indicators | None = None
    """The indicators over ``chart_weeks`` (at least ``CHART_WEEKS``), for the charts."""
    completeness: Table | None = None
    """Reporting completeness and timeliness per week, the chosen regions together."""
    completeness_regions: tuple[Table, ...] = ()
    """The same per region (key ``completeness:<code>``), for the exports (the page
    does not show them: built only when asked, ``region_completeness``)."""
    completeness_series: dict[str, list[float | None]] = field(default_factory=dict)
    """``completeness_rate`` and ``timeliness_rate`` over ``chart_weeks``."""
    country_table: Table | None = None
    """The regions table's figures per country (the chosen regions only)."""
    pushed: dict[str, str] = field(default_factory=dict)
    """Chosen regions pushed by a child server: region code -> the server's name."""

    @property
    def week_labels(self) -> list[str]:
        return [week_label(w) for w in self.weeks]

    @property
    def chart_labels(self) -> list[str]:
        return [week_label(w) for w in self.chart_weeks]

    @property
    def countries(self) -> list[str]:
        return sorted({r.country for r in self.allowed_regions})


def build_dashboard(
    conn: Connection,
    user: CurrentUser,
    filters: Filters,
    now: int,
    threshold: int,
    silent_days: int = 7,
    noise: NoiseTable | None = None,
    timely_days: int = 3,
    region_completeness: bool = False,
) -> DashboardData:
    """Gather the indicators, coverage and silent kiosks for ``user`` and ``filters``.

    Raises ``FilterError`` (404) for a region outside the user's grant.
    """
    allowed = list_regions(conn, user.region_ids)
    regions = select_regions(filters, allowed)
    ids = frozenset(r.id for r in regions)
    weeks = weeks_between(filters.date_from, filters.date_to)
    n = len(weeks)
    # One rollup query covers the period, the previous period of the same length (for
    # the first screen's trends) and the charts' context of at least 12 weeks.
    previous = [weeks[0] - timedelta(weeks=n - i) for i in range(n)]
    chart_weeks = [weeks[-1] - timedelta(weeks=k) for k in range(max(n, CHART_WEEKS) - 1, -1, -1)]
    first = min(previous[0], chart_weeks[0])
    table = own_noise = noise or noise_table()
    pushed = pushed_region_ids(conn, ids)
    if pushed:
        # Regions pushed by child servers: every figure is a published one, summed
        # without new noise (docs/national-view.md).
        src = published_sources(
            conn,
            ids,
            frozenset(pushed),
            first,
            weeks[0],
            weeks[-1],
            now,
            silent_days,
            SILENT_SHOWN,
            table,
            threshold,
        )
        by_week, by_region, cov, overview = src.by_week, src.by_region, src.coverage, src.overview
        table = NO_NOISE
    else:
        by_week = totals_by_week(conn, ids, first, weeks[-1]) if ids else {}
        by_region = totals_by_region(conn, ids, weeks[0], weeks[-1]) if ids else {}
        overview = kiosk_overview(conn, ids, now, silent_days, SILENT_SHOWN) if ids else None
        cov = overview.coverage if overview else {}
    region_cov = [cov.get(r.id, Coverage()) for r in regions]
    indicators = compute_indicators(
        [(week_label(w), by_week.get(w, {})) for w in weeks],
        [
            (r.code, r.name, by_region.get(r.id, {}), c)
            for r, c in zip(regions, region_cov, strict=True)
        ],
        threshold,
        table,
    )
    chart = compute_indicators(
        [(week_label(w), by_week.get(w, {})) for w in chart_weeks], [], threshold, table
    )
    if pushed:
        per_week, done = published_completeness(
            conn,
            ids,
            frozenset(pushed),
            chart_weeks,
            timely_days,
            own_noise,
            threshold,
            region_completeness,
        )
    else:
        done = completeness_cells(conn, ids, chart_weeks, timely_days) if ids else {}
        per_week = sum_regions(done, ids, chart_weeks)
    chart_done = completeness_table(
        "completeness",
        list(zip(map(week_label, chart_weeks), per_week, strict=True)),
        table,
        threshold,
    )
    # The period's rows are the chart's last rows (same cells, same figures); only the
    # period's total is a new cell.
    done_table = Table(
        "completeness",
        chart_done.columns,
        chart_done.rows[-n:],
        completeness_total(per_week[-n:], table, threshold),
    )
    empty = WeekCells()
    done_regions = tuple(
        completeness_table(
            f"completeness:{r.code}",
            [(week_label(w), done.get((r.id, w), empty)) for w in weeks],
            table,
            threshold,
        )
        for r in (regions if region_completeness else [])
    )
    series = {
        key: [v if isinstance(v := row.values[key], float) else None for row in chart_done.rows]
        for key in ("completeness_rate", "timeliness_rate")
    }
    countries = countries_table(country_rows(regions, by_region, region_cov), threshold, table)
    head = headline(
        [by_week.get(w, {}) for w in weeks],
        [by_week.get(w, {}) for w in previous],
        region_cov,
        table,
        threshold,
    )
    return DashboardData(
        filters,
        allowed,
        regions,
        weeks,
        indicators,
        overview.silent_total if overview else 0,
        overview.silent if overview else [],
        overview.newest if overview else {},
        silent_days,
        head,
        tuple(chart_weeks),
        chart,
        done_table,
        done_regions,
        series,
        countries,
        {r.code: pushed[r.id] for r in regions if r.id in pushed},
    )


def country_rows(
    regions: list[Region], by_region: dict[int, dict[str, Cell]], coverage: list[Coverage]
) -> list[tuple[str, str, dict[str, Cell], Coverage]]:
    """One row per country: its regions' cells summed (a cell of its own; with pushed
    regions, a sum of published figures)."""
    out: dict[str, tuple[dict[str, Cell], list[Coverage]]] = {}
    for region, cov in zip(regions, coverage, strict=True):
        counts, covs = out.setdefault(region.country, ({}, []))
        for name, cell in by_region.get(region.id, {}).items():
            counts[name] = counts.get(name, Cell()) + cell
        covs.append(cov)
    return [
        (
            country,
            country,
            counts,
            Coverage(
                cell_sum(c.enrolled for c in covs),
                cell_sum(c.active for c in covs),
                cell_sum(c.on_newest for c in covs),
            ),
        )
        for country, (counts, covs) in sorted(out.items())
    ]
