"""`notices check`: the content's validation plus the notice's fit, as table rows."""

from __future__ import annotations

from pathlib import Path

from kiosk_agent.content.check import CheckRow, check_content, format_table
from kiosk_agent.content.countries import country_for
from kiosk_agent.content.locales import LOCALES_DIR, Locale
from kiosk_agent.notices.layout import fit_problems

__all__ = ["CheckRow", "check_locales", "format_table"]


def check_locales(
    *, font_size: int, country: str | None = None, directory: Path = LOCALES_DIR
) -> list[CheckRow]:
    """One row per locale file (and per required locale that is missing)."""
    # Measure with the general 116 111 lines (the longest) and with the café's country.
    countries = [None, country_for(country)] if country else [None]

    def measure(loc: Locale) -> list[str]:
        problems: list[str] = []
        for c in countries:
            problems += [p for p in fit_problems(loc, c, font_size) if p not in problems]
        return problems

    return check_content(directory=directory, measure=measure)
