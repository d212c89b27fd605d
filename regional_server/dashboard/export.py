"""The dashboard's data as CSV and JSON: the same figures as the page (perturbed, ``<5``)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from regional_server.dashboard.view import DashboardData
from regional_server.indicators import NO_DATA, Row, Table, format_value

CSV_HEADER = ("table", "row", "column", "value")
BOM = "\ufeff"
"""Starts the CSV: without it Excel reads UTF-8 as the local code page and garbles
accented café and region names."""


def _iso(ts: int | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def safe_csv_text(value: str) -> str:
    """Neutralize a spreadsheet formula: a café name typed at enrollment is untrusted."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _table_rows(table: Table, threshold: int) -> list[tuple[str, str, str, str]]:
    out: list[tuple[str, str, str, str]] = []
    rows: list[Row] = [*table.rows, *([table.total] if table.total else [])]
    for row in rows:
        for col in table.columns:
            if col.key not in row.values:
                continue
            out.append(
                (
                    table.key,
                    row.key,
                    col.key,
                    format_value(row.values[col.key], col.kind, threshold),
                )
            )
    return out


def _tables(data: DashboardData) -> list[Table]:
    ind = data.indicators
    countries = [data.country_table] if data.country_table else []
    return [ind.weekly, ind.blocked, ind.regions, *countries]


def to_csv(data: DashboardData) -> str:
    """Long format (table, row, column, value): one line per cell shown on the page,
    after a UTF-8 byte order mark (for Excel)."""
    threshold = data.indicators.threshold
    buf = io.StringIO()
    buf.write(BOM)
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for table in _tables(data):
        writer.writerows(_table_rows(table, threshold))
    # Completeness: the chosen regions together, then each region (``completeness:KE-NBO``).
    for table in (*([data.completeness] if data.completeness else []), *data.completeness_regions):
        writer.writerows(_table_rows(table, threshold))
    for k in data.silent:
        writer.writerow(("silent_kiosks", k.kiosk_id, "cafe_name", safe_csv_text(k.cafe_name)))
        writer.writerow(("silent_kiosks", k.kiosk_id, "region", k.region_code))
        writer.writerow(("silent_kiosks", k.kiosk_id, "last_report", _iso(k.last_report_at)))
    return buf.getvalue()


def _json_value(value: Any, kind: str, threshold: int) -> Any:
    """``"<5"`` hidden, ``0`` a true zero, ``null`` no data (or a rate that cannot be
    computed)."""
    if value == NO_DATA:
        return None
    if kind in ("count", "kiosks") and value is None:
        return f"<{threshold}"
    return value


def _json_table(table: Table, threshold: int) -> dict[str, Any]:
    def row(r: Row) -> dict[str, Any]:
        return {
            "key": r.key,
            "label": r.label,
            "values": {
                c.key: _json_value(r.values[c.key], r.kind or c.kind, threshold)
                for c in table.columns
                if c.key in r.values
            },
        }

    out: dict[str, Any] = {
        "columns": [{"key": c.key, "kind": c.kind} for c in table.columns],
        "rows": [row(r) for r in table.rows],
        "total": row(table.total) if table.total else None,
    }
    if table.extra:
        out["extra"] = [row(r) for r in table.extra]
    return out


def to_json(data: DashboardData) -> dict[str, Any]:
    """The dashboard as JSON; a hidden count is the string ``"<5"`` as on the page."""
    ind = data.indicators
    f = data.filters
    return {
        "filters": {
            "regions": [r.code for r in data.regions],
            "country": f.country,
            "from": f.date_from.isoformat(),
            "to": f.date_to.isoformat(),
        },
        "suppression_threshold": ind.threshold,
        "weeks": data.week_labels,
        "tables": {t.key: _json_table(t, ind.threshold) for t in _tables(data)},
        "pushed_regions": data.pushed,
        "completeness": _json_table(data.completeness, ind.threshold)
        if data.completeness
        else None,
        "completeness_by_region": {
            t.key.partition(":")[2]: _json_table(t, ind.threshold)
            for t in data.completeness_regions
        },
        "newest_list_versions": data.newest,
        "silent_kiosks": {
            "days": data.silent_days,
            "total": data.silent_total,
            "kiosks": [
                {
                    "kiosk_id": k.kiosk_id,
                    "cafe_name": k.cafe_name,
                    "region": k.region_code,
                    "last_report": _iso(k.last_report_at) or None,
                    "enrolled": _iso(k.enrolled_at),
                }
                for k in data.silent
            ],
        },
    }
