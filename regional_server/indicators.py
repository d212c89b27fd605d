"""The coordinators' indicators, computed from rolled-up counts. Pure functions.

Input is what the rollup tables hold (per week or per region: counter -> total) and the
kiosk coverage figures; output is a set of tables whose counts are already suppressed
(see ``suppression``), so pages, JSON and CSV show exactly the same cells. The
definitions are documented in docs/indicators.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from regional_server.suppression import SuppressedTable, suppress_small_cells

Kind = Literal["count", "rate", "percent", "kiosks", "text"]
Value = int | float | str | None


@dataclass(frozen=True)
class Column:
    key: str
    kind: Kind


@dataclass(frozen=True)
class Row:
    key: str
    """The row's id: an ISO week ``2026-W48``, a region code, ``total``."""
    label: str
    values: dict[str, Value]
    kind: Kind | None = None
    """Set when every value of the row is of one kind (a row of rates under counts)."""


@dataclass(frozen=True)
class Table:
    """One table of indicators. A ``count`` value of ``None`` is a suppressed cell;
    a ``rate``/``percent`` of ``None`` cannot be shown (a count it needs is hidden or 0)."""

    key: str
    columns: list[Column]
    rows: list[Row]
    total: Row | None = None
    extra: list[Row] = field(default_factory=list)
    """Rows shown under the total (per-1,000-session rates of the total)."""

    def footer(self) -> list[Row]:
        return [*([self.total] if self.total else []), *self.extra]


@dataclass(frozen=True)
class Coverage:
    """Kiosks of one region: enrolled, reporting in the last 7 days, on the newest lists."""

    enrolled: int = 0
    active: int = 0
    on_newest: int = 0


@dataclass(frozen=True)
class Indicators:
    weekly: Table
    blocked: Table
    regions: Table
    categories: list[str]
    threshold: int
    blocked_series: dict[str, list[int | None]] = field(default_factory=dict)
    ack_rate_series: list[float | None] = field(default_factory=list)


def family_totals(counts: Mapping[str, int]) -> dict[str, int]:
    """Sum the counter vocabulary into its indicator families."""
    out = dict.fromkeys(
        (
            "sessions",
            "notices_shown",
            "notices_acknowledged",
            "feedback_helpful",
            "feedback_not_helpful",
            "blocked",
            "tamper",
            "p2p",
        ),
        0,
    )
    for name, value in counts.items():
        if name.startswith("sessions."):
            out["sessions"] += value
        elif name.startswith("notices.shown."):
            out["notices_shown"] += value
        elif name == "notices.acknowledged":
            out["notices_acknowledged"] += value
        elif name.startswith("notices.feedback.helpful."):
            out["feedback_helpful"] += value
        elif name.startswith("notices.feedback.not_helpful."):
            out["feedback_not_helpful"] += value
        elif name.startswith("blocked."):
            out["blocked"] += value
        elif name.startswith("tamper."):
            out["tamper"] += value
        elif name.startswith("p2p."):
            out["p2p"] += value
    return out


def blocked_categories(*groups: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Every blocked category that appears in the data, sorted."""
    found = {
        name.split(".", 1)[1]
        for group in groups
        for counts in group.values()
        for name in counts
        if name.startswith("blocked.")
    }
    return sorted(found)


def per_thousand(numerator: int | None, sessions: int | None) -> float | None:
    """Events per 1,000 sessions; ``None`` when either is hidden or there were no sessions."""
    if numerator is None or sessions is None or sessions == 0:
        return None
    return round(numerator * 1000 / sessions, 1)


def percent(part: int | None, whole: int | None) -> float | None:
    if part is None or whole is None or whole == 0:
        return None
    return round(part * 100 / whole, 1)


_WEEKLY_COUNTS = ("sessions", "notices_shown", "notices_acknowledged", "tamper", "p2p")
_WEEKLY_COLUMNS = [
    Column("sessions", "count"),
    Column("notices_shown", "count"),
    Column("notices_acknowledged", "count"),
    Column("ack_rate", "percent"),
    Column("blocked", "count"),
    Column("blocked_per_1000", "rate"),
    Column("tamper", "count"),
    Column("tamper_per_1000", "rate"),
    Column("p2p", "count"),
]
_REGION_COUNTS = (
    "sessions",
    "notices_shown",
    "notices_acknowledged",
    "feedback_helpful",  # "This helped" under a tip (optional; per tip in the counters)
    "feedback_not_helpful",
    "blocked",
    "tamper",
    "p2p",
)


def _rates(values: dict[str, Value]) -> None:
    def count(key: str) -> int | None:
        v = values.get(key)
        return v if isinstance(v, int) else None

    values["ack_rate"] = percent(count("notices_acknowledged"), count("notices_shown"))
    values["blocked_per_1000"] = per_thousand(count("blocked"), count("sessions"))
    values["tamper_per_1000"] = per_thousand(count("tamper"), count("sessions"))


def compute_indicators(
    weeks: Sequence[tuple[str, Mapping[str, int]]],
    regions: Sequence[tuple[str, str, Mapping[str, int], Coverage]],
    threshold: int,
) -> Indicators:
    """Build the weekly, blocked-by-category and per-region tables, suppressed.

    ``weeks``: (ISO week label, counter -> total) in order; ``regions``: (code, name,
    counter -> total over the period, coverage) in order.
    """
    week_counts = {label: counts for label, counts in weeks}
    region_counts = {code: counts for code, _n, counts, _c in regions}
    categories = blocked_categories(week_counts, region_counts)

    # Blocked by category: weeks x categories with both totals, so the weekly "blocked"
    # column below is exactly this table's total column (same hidden cells).
    blocked = suppress_small_cells(
        [[counts.get(f"blocked.{c}", 0) for c in categories] for _l, counts in weeks],
        threshold,
        row_totals=True,
        col_totals=True,
    )
    fam = [family_totals(counts) for _l, counts in weeks]
    weekly_counts = suppress_small_cells(
        [[f[k] for k in _WEEKLY_COUNTS] for f in fam], threshold, col_totals=True
    )

    def weekly_row(key: str, counts: Sequence[int | None], blocked_total: int | None) -> Row:
        values: dict[str, Value] = dict(zip(_WEEKLY_COUNTS, counts, strict=True))
        values["blocked"] = blocked_total
        _rates(values)
        return Row(key, key, values)

    assert blocked.row_totals is not None and blocked.col_totals is not None
    assert weekly_counts.col_totals is not None
    weekly = Table(
        "weekly",
        _WEEKLY_COLUMNS,
        [
            weekly_row(label, weekly_counts.cells[i], blocked.row_totals[i])
            for i, (label, _c) in enumerate(weeks)
        ],
        weekly_row("total", weekly_counts.col_totals, blocked.grand_total),
    )

    blocked_table = _blocked_table(weeks, categories, blocked, weekly)
    regions_table = _regions_table(regions, threshold, blocked.grand_total)

    series = {c: [blocked.cells[i][j] for i in range(len(weeks))] for j, c in enumerate(categories)}
    ack_series = [
        r.values["ack_rate"] if isinstance(r.values["ack_rate"], float) else None
        for r in weekly.rows
    ]
    return Indicators(
        weekly, blocked_table, regions_table, categories, threshold, series, ack_series
    )


def _blocked_table(
    weeks: Sequence[tuple[str, Mapping[str, int]]],
    categories: list[str],
    blocked: SuppressedTable,
    weekly: Table,
) -> Table:
    columns = [Column(f"blocked.{c}", "count") for c in categories] + [Column("blocked", "count")]
    rows = []
    for i, (label, _c) in enumerate(weeks):
        values: dict[str, Value] = {
            f"blocked.{c}": blocked.cells[i][j] for j, c in enumerate(categories)
        }
        assert blocked.row_totals is not None
        values["blocked"] = blocked.row_totals[i]
        rows.append(Row(label, label, values))
    assert blocked.col_totals is not None
    total_values: dict[str, Value] = {
        f"blocked.{c}": blocked.col_totals[j] for j, c in enumerate(categories)
    }
    total_values["blocked"] = blocked.grand_total
    sessions_total = weekly.total.values["sessions"] if weekly.total else None
    sessions = sessions_total if isinstance(sessions_total, int) else None
    rates: dict[str, Value] = {
        f"blocked.{c}": per_thousand(blocked.col_totals[j], sessions)
        for j, c in enumerate(categories)
    }
    rates["blocked"] = per_thousand(blocked.grand_total, sessions)
    return Table(
        "blocked",
        columns,
        rows,
        Row("total", "total", total_values),
        [Row("per_1000", "per_1000", rates, kind="rate")],
    )


def _regions_table(
    regions: Sequence[tuple[str, str, Mapping[str, int], Coverage]],
    threshold: int,
    blocked_grand_total: int | None,
) -> Table:
    fam = [family_totals(counts) for _code, _name, counts, _cov in regions]
    force: frozenset[tuple[int, int]] = frozenset()
    if blocked_grand_total is None:
        # The blocked table hid its grand total; the same number must stay hidden here.
        force = frozenset({(len(regions), _REGION_COUNTS.index("blocked"))})
    table = suppress_small_cells(
        [[f[k] for k in _REGION_COUNTS] for f in fam],
        threshold,
        col_totals=True,
        force=force,
        columns=len(_REGION_COUNTS),
    )
    columns = [
        *(Column(k, "count") for k in _REGION_COUNTS),
        Column("ack_rate", "percent"),
        Column("blocked_per_1000", "rate"),
        Column("tamper_per_1000", "rate"),
        Column("kiosks_enrolled", "kiosks"),
        Column("kiosks_active", "kiosks"),
        Column("kiosks_on_newest", "kiosks"),
    ]

    def row(key: str, label: str, counts: Sequence[int | None], cov: Coverage) -> Row:
        values: dict[str, Value] = dict(zip(_REGION_COUNTS, counts, strict=True))
        _rates(values)
        values["kiosks_enrolled"] = cov.enrolled
        values["kiosks_active"] = cov.active
        values["kiosks_on_newest"] = cov.on_newest
        return Row(key, label, values)

    rows = [
        row(code, name, table.cells[i], cov) for i, (code, name, _counts, cov) in enumerate(regions)
    ]
    total_cov = Coverage(
        sum(c.enrolled for *_r, c in regions),
        sum(c.active for *_r, c in regions),
        sum(c.on_newest for *_r, c in regions),
    )
    assert table.col_totals is not None
    return Table("regions", columns, rows, row("total", "total", table.col_totals, total_cov))


def format_value(value: Value, kind: Kind, threshold: int) -> str:
    """A cell as pages and CSV print it: ``<5`` for a hidden count, ``–`` for no rate."""
    if kind == "count":
        return f"<{threshold}" if value is None else str(value)
    if value is None:
        return ""
    if kind == "percent" and isinstance(value, float):
        return f"{value:.1f}"
    if kind == "rate" and isinstance(value, float):
        return f"{value:.1f}"
    return str(value)
