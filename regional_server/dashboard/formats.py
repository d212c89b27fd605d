"""Numbers, dates, week labels and category names per locale, with Babel (CLDR).

One ``Formatter`` per page: ``2 166,7`` in French, ``2.166,7`` in Portuguese, Arabic
dates and week labels, translated category names. Every cell of a table goes through
``cell``, so hidden (``<5``), no data, a true zero and a figure look different.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from markupsafe import Markup

from regional_server.dashboard.i18n import RTL, category_name, translate
from regional_server.indicators import NO_DATA, Kind, Value

_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@functools.cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


@dataclass(frozen=True)
class Formatter:
    lang: str

    @property
    def direction(self) -> str:
        return "rtl" if self.lang in RTL else "ltr"

    def t(self, key: str, **values: object) -> str:
        return translate(self.lang, key, **values)

    def integer(self, value: int) -> str:
        return format_decimal(value, locale=_locale(self.lang))

    def decimal(self, value: float) -> str:
        """One decimal, grouped: ``2,166.7`` / ``2 166,7``."""
        return format_decimal(value, format="#,##0.0", locale=_locale(self.lang))

    def number(self, value: float) -> str:
        """A chart tick or point: whole numbers without decimals."""
        return self.integer(int(value)) if value == int(value) else self.decimal(value)

    def date(self, value: int | date | None) -> str:
        """A Unix time (UTC) or a date, in the locale's medium form."""
        if value is None:
            return ""
        day = value if isinstance(value, date) else datetime.fromtimestamp(value, UTC).date()
        return format_date(day, format="medium", locale=_locale(self.lang))

    def _plain(self, value: int) -> str:
        return format_decimal(value, format="0", locale=_locale(self.lang))

    def week(self, label: str) -> str:
        """``2026-W48`` as the locale writes it (``W48 2026``, ``S48 2026``, ...)."""
        match = _WEEK.fullmatch(label)
        if not match:
            return label
        year, week = int(match.group(1)), int(match.group(2))
        return self.t("week_label", week=self._plain(week), year=self._plain(year))

    def week_short(self, label: str) -> str:
        """The week number alone, for chart ticks."""
        match = _WEEK.fullmatch(label)
        return self.t("week_short", week=self._plain(int(match.group(2)))) if match else label

    def category(self, category: str) -> str:
        """A blocked category's name; an unknown token is shown readably."""
        return category_name(self.lang, category)

    def cell(self, value: Value, kind: Kind, threshold: int) -> Markup:
        """A table cell: hidden, no data, a zero and a figure each look different."""
        if value == NO_DATA:
            return Markup('<span class="nodata">{}</span>').format(self.t("no_data_cell"))
        if kind in ("count", "kiosks") and value is None:
            return Markup('<span class="hidden-cell" title="{}">&lt;{}</span>').format(
                self.t("hidden_title", threshold=threshold), self._plain(threshold)
            )
        if value is None:
            return Markup('<span class="na">–</span>')
        if kind in ("count", "kiosks") and isinstance(value, int):
            return Markup(self.integer(value))
        if kind in ("rate", "percent") and isinstance(value, float):
            return Markup(self.decimal(value))
        return Markup.escape(str(value))
