"""The coordinators' indicators, computed from rolled-up counts. Pure functions.

Input is what the rollup tables hold (per week or per region: counter -> cell, a total
with its reports' key) and the kiosk coverage figures; output is a set of tables whose
counts are already perturbed and thresholded (``perturb.publish``, the cell key
method), so pages, charts, JSON and CSV show exactly the same figures. The definitions
are documented in docs/indicators.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from regional_server.perturb import Cell, NoiseTable, cell_sum, check_threshold, publish

Kind = Literal["count", "rate", "percent", "kiosks", "text"]
Value = int | float | str | None

NO_DATA = "no_data"
"""A cell with nothing to count: no report in its week (or region and period). Shown as
"no data" on the page, empty in the CSV and ``null`` in the JSON; a hidden count is
``None`` (``<5``) and a true zero is ``0``: three different things everywhere."""


def shown_count(cell: Cell, noise: NoiseTable, threshold: int, has_data: bool = True) -> Value:
    """A published count: ``NO_DATA`` without data, ``0`` for a true zero, else the cell
    through ``perturb.publish`` (the perturbed count, or ``None`` shown as ``<5``).

    A zero is shown as zero because the cell key method keeps a zero zero (a cell with
    no records gets no noise): it names no one (docs/indicators.md).
    """
    if not has_data:
        return NO_DATA
    published = publish(cell, noise, threshold)
    if published is None and cell.value == 0 and not cell.hidden:
        return 0
    return published


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
    """Kiosks of one region: enrolled, reporting in the last 7 days, on the newest lists
    (each a count with the key of the kiosks counted)."""

    enrolled: Cell = field(default_factory=Cell)
    active: Cell = field(default_factory=Cell)
    on_newest: Cell = field(default_factory=Cell)


@dataclass(frozen=True)
class Indicators:
    weekly: Table
    blocked: Table
    regions: Table
    categories: list[str]
    threshold: int
    blocked_series: dict[str, list[int | None]] = field(default_factory=dict)
    ack_rate_series: list[float | None] = field(default_factory=list)


_FAMILIES = (
    "sessions",
    "notices_shown",
    "notices_acknowledged",
    "feedback_helpful",
    "feedback_not_helpful",
    "blocked",
    "tamper",
    "p2p",
)


def family_of(counter: str) -> str | None:
    """The indicator family a counter adds to, or None (counters the dashboard omits)."""
    if counter.startswith("sessions."):
        return "sessions"
    if counter.startswith("notices.shown."):
        return "notices_shown"
    if counter == "notices.acknowledged":
        return "notices_acknowledged"
    if counter.startswith("notices.feedback.helpful."):
        return "feedback_helpful"
    if counter.startswith("notices.feedback.not_helpful."):
        return "feedback_not_helpful"
    for prefix in ("blocked", "tamper", "p2p"):
        if counter.startswith(prefix + "."):
            return prefix
    return None


def family_totals(counts: Mapping[str, int]) -> dict[str, int]:
    """Sum the counter vocabulary into its indicator families."""
    out = dict.fromkeys(_FAMILIES, 0)
    for name, value in counts.items():
        family = family_of(name)
        if family is not None:
            out[family] += value
    return out


def family_cells(counts: Mapping[str, Cell]) -> dict[str, Cell]:
    """``family_totals`` on cells: each family's count and the key of its reports."""
    parts: dict[str, list[Cell]] = {f: [] for f in _FAMILIES}
    for name, cell in counts.items():
        family = family_of(name)
        if family is not None:
            parts[family].append(cell)
    return {f: cell_sum(cells) for f, cells in parts.items()}


def blocked_categories(*groups: Mapping[str, Mapping[str, object]]) -> list[str]:
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
    weeks: Sequence[tuple[str, Mapping[str, Cell]]],
    regions: Sequence[tuple[str, str, Mapping[str, Cell], Coverage]],
    threshold: int,
    noise: NoiseTable,
) -> Indicators:
    """Build the weekly, blocked-by-category and per-region tables, perturbed.

    ``weeks``: (ISO week label, counter -> cell) in order; ``regions``: (code, name,
    counter -> cell over the period, coverage) in order. Every count goes through
    ``perturb.publish`` once per cell; a total is a cell of its own (its reports' keys
    summed), so the same total is the same figure in every table and every query.
    """
    check_threshold(threshold)

    def shown(cell: Cell, has_data: bool = True) -> Value:
        return shown_count(cell, noise, threshold, has_data)

    week_counts = {label: counts for label, counts in weeks}
    region_counts = {code: counts for code, _n, counts, _c in regions}
    categories = blocked_categories(week_counts, region_counts)
    week_fams = [family_cells(counts) for _l, counts in weeks]
    week_has_data = [bool(counts) for _l, counts in weeks]
    any_week_data = any(week_has_data)
    total_fam = {f: cell_sum(w[f] for w in week_fams) for f in _FAMILIES}

    def weekly_row(key: str, fam: Mapping[str, Cell], has_data: bool) -> Row:
        values: dict[str, Value] = {k: shown(fam[k], has_data) for k in _WEEKLY_COUNTS}
        values["blocked"] = shown(fam["blocked"], has_data)
        _rates(values)
        return Row(key, key, values)

    weekly = Table(
        "weekly",
        _WEEKLY_COLUMNS,
        [
            weekly_row(label, fam, has)
            for (label, _c), fam, has in zip(weeks, week_fams, week_has_data, strict=True)
        ],
        weekly_row("total", total_fam, any_week_data),
    )

    # Blocked by category: weeks x categories; its total column is the weekly table's
    # "blocked" column (the same cells, so the same figures).
    by_cat = [[counts.get(f"blocked.{c}", Cell()) for c in categories] for _l, counts in weeks]
    columns = [Column(f"blocked.{c}", "count") for c in categories] + [Column("blocked", "count")]
    by_cat_shown = [[shown(cell, week_has_data[i]) for cell in row] for i, row in enumerate(by_cat)]
    rows = []
    for i, (label, _c) in enumerate(weeks):
        values: dict[str, Value] = {
            f"blocked.{c}": by_cat_shown[i][j] for j, c in enumerate(categories)
        }
        values["blocked"] = shown(week_fams[i]["blocked"], week_has_data[i])
        rows.append(Row(label, label, values))
    cat_totals = [cell_sum(row[j] for row in by_cat) for j in range(len(categories))]
    total_values: dict[str, Value] = {
        f"blocked.{c}": shown(cat_totals[j], any_week_data) for j, c in enumerate(categories)
    }
    total_values["blocked"] = shown(total_fam["blocked"], any_week_data)
    sessions_value = weekly.total.values["sessions"] if weekly.total else None
    sessions = sessions_value if isinstance(sessions_value, int) else None
    rates: dict[str, Value] = {
        key: per_thousand(v if isinstance(v, int) else None, sessions)
        for key, v in total_values.items()
    }
    blocked_table = Table(
        "blocked",
        columns,
        rows,
        Row("total", "total", total_values),
        [Row("per_1000", "per_1000", rates, kind="rate")],
    )
    regions_table = _regions_table(regions, shown)

    series = {
        c: [v if isinstance(v, int) else None for v in (row[j] for row in by_cat_shown)]
        for j, c in enumerate(categories)
    }
    ack_series = [
        r.values["ack_rate"] if isinstance(r.values["ack_rate"], float) else None
        for r in weekly.rows
    ]
    return Indicators(
        weekly, blocked_table, regions_table, categories, threshold, series, ack_series
    )


def countries_table(
    countries: Sequence[tuple[str, str, Mapping[str, Cell], Coverage]],
    threshold: int,
    noise: NoiseTable,
) -> Table:
    """The regions table's columns per country: (code, name, counter -> cell over the
    period, coverage), each country's cells the sum of its regions'."""
    check_threshold(threshold)

    def shown(cell: Cell, has_data: bool = True) -> Value:
        return shown_count(cell, noise, threshold, has_data)

    return _regions_table(countries, shown, "countries")


def _regions_table(
    regions: Sequence[tuple[str, str, Mapping[str, Cell], Coverage]],
    shown: Callable[[Cell, bool], Value],
    key: str = "regions",
) -> Table:
    columns = [
        *(Column(k, "count") for k in _REGION_COUNTS),
        Column("ack_rate", "percent"),
        Column("blocked_per_1000", "rate"),
        Column("tamper_per_1000", "rate"),
        Column("kiosks_enrolled", "kiosks"),
        Column("kiosks_active", "kiosks"),
        Column("kiosks_on_newest", "kiosks"),
    ]

    def row(key: str, label: str, fam: Mapping[str, Cell], cov: Coverage, has: bool) -> Row:
        values: dict[str, Value] = {k: shown(fam[k], has) for k in _REGION_COUNTS}
        _rates(values)
        # Kiosk counts always have data: no kiosk enrolled is a true zero.
        values["kiosks_enrolled"] = shown(cov.enrolled, True)
        values["kiosks_active"] = shown(cov.active, True)
        values["kiosks_on_newest"] = shown(cov.on_newest, True)
        return Row(key, label, values)

    fams = [family_cells(counts) for _code, _name, counts, _cov in regions]
    has_data = [bool(counts) for _code, _name, counts, _cov in regions]
    rows = [
        row(code, name, fam, cov, has)
        for (code, name, _counts, cov), fam, has in zip(regions, fams, has_data, strict=True)
    ]
    total_fam = {f: cell_sum(fam[f] for fam in fams) for f in _FAMILIES}
    total_cov = Coverage(
        cell_sum(c.enrolled for *_r, c in regions),
        cell_sum(c.active for *_r, c in regions),
        cell_sum(c.on_newest for *_r, c in regions),
    )
    total = row("total", "total", total_fam, total_cov, any(has_data))
    return Table(key, columns, rows, total)


def format_value(value: Value, kind: Kind, threshold: int) -> str:
    """A cell as the CSV prints it: ``<5`` for a hidden count, empty for no data or no
    rate, ``0`` for a true zero."""
    if value == NO_DATA:
        return ""
    if kind in ("count", "kiosks"):
        return f"<{threshold}" if value is None else str(value)
    if value is None:
        return ""
    if kind == "percent" and isinstance(value, float):
        return f"{value:.1f}"
    if kind == "rate" and isinstance(value, float):
        return f"{value:.1f}"
    return str(value)
