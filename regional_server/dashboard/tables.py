"""Indicator tables made ready for the page: every cell formatted once, in Python.

Formatting thousands of cells through Jinja macros cost more than the database queries;
here each cell becomes one escaped string, and the template only writes rows out.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from regional_server.dashboard.i18n import column_label, translate
from regional_server.indicators import NO_DATA, Kind, Row, Table, Value


@dataclass(frozen=True)
class HtmlRow:
    label: str
    cells: list[Markup]
    css: str = ""


@dataclass(frozen=True)
class HtmlTable:
    headers: list[str]
    rows: list[HtmlRow]
    footer: list[HtmlRow]


def cell_html(value: Value, kind: Kind, threshold: int, no_data: str = "no data") -> Markup:
    """Hidden (``<5``), no data, a true zero and a figure each look different."""
    if value == NO_DATA:
        return Markup('<span class="nodata">{}</span>').format(no_data)
    if kind in ("count", "kiosks") and value is None:
        return Markup('<span class="hidden-cell">&lt;{}</span>').format(threshold)
    if value is None:
        return Markup('<span class="na">–</span>')
    if kind in ("count", "kiosks") and isinstance(value, int):
        return Markup(f"{value:,}")
    if kind in ("rate", "percent") and isinstance(value, float):
        return Markup(f"{value:.1f}")
    return escape(str(value))


def html_table(table: Table, lang: str, label_key: str, threshold: int) -> HtmlTable:
    """Headers, body rows and footer rows (total, then rates) of ``table``."""

    no_data = translate(lang, "no_data_cell")

    def row(r: Row, label: str, css: str = "") -> HtmlRow:
        return HtmlRow(
            label,
            [
                cell_html(r.values[c.key], r.kind or c.kind, threshold, no_data)
                if c.key in r.values
                else Markup("")
                for c in table.columns
            ],
            css,
        )

    headers = [translate(lang, label_key), *(column_label(lang, c.key) for c in table.columns)]
    footer = [row(r, translate(lang, r.key), "rates" if r.kind else "") for r in table.footer()]
    return HtmlTable(headers, [row(r, r.label) for r in table.rows], footer)
