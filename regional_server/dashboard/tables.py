"""Indicator tables made ready for the page: every cell formatted once, in Python.

Formatting thousands of cells through Jinja macros cost more than the database queries;
here each cell becomes one escaped string, and the template only writes rows out.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from regional_server.dashboard.formats import Formatter
from regional_server.dashboard.i18n import column_label, translate
from regional_server.indicators import Row, Table


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


def html_table(table: Table, fmt: Formatter, label_key: str, threshold: int) -> HtmlTable:
    """Headers, body rows and footer rows (total, then rates) of ``table``, formatted
    for ``fmt``'s locale (week labels, numbers, category names)."""
    lang = fmt.lang

    def row(r: Row, label: str, css: str = "") -> HtmlRow:
        return HtmlRow(
            label,
            [
                fmt.cell(r.values[c.key], r.kind or c.kind, threshold)
                if c.key in r.values
                else Markup("")
                for c in table.columns
            ],
            css,
        )

    def label_of(r: Row) -> str:
        return fmt.week(r.label) if label_key == "week" else r.label

    headers = [translate(lang, label_key), *(column_label(lang, c.key) for c in table.columns)]
    footer = [row(r, translate(lang, r.key), "rates" if r.kind else "") for r in table.footer()]
    return HtmlTable(headers, [row(r, label_of(r)) for r in table.rows], footer)
