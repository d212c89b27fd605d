"""The dashboard's query parameters (region, country, from, to): parsing and scoping.

The page, ``/export.csv`` and ``/api/v1/indicators`` take the same parameters and go
through the same functions, so they always show the same cells.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from regional_server.store.regions import Region

DEFAULT_DAYS = 12 * 7
MAX_DAYS = 3 * 366
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


class FilterError(ValueError):
    """A bad parameter (status 400) or a region the user may not see (404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Filters:
    regions: tuple[str, ...]
    """Region codes asked for; empty means every region the user may see."""
    country: str | None
    date_from: date
    date_to: date

    def query(self, **extra: str) -> str:
        """The query string that reproduces these filters (for CSV/JSON links)."""
        pairs: list[tuple[str, str]] = [("region", r) for r in self.regions]
        if self.country:
            pairs.append(("country", self.country))
        pairs += [("from", self.date_from.isoformat()), ("to", self.date_to.isoformat())]
        pairs += list(extra.items())
        return urlencode(pairs)


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise FilterError(f"{name} must be a date like 2026-11-27") from None


def parse_filters(
    regions: Sequence[str],
    country: str | None,
    date_from: str | None,
    date_to: str | None,
    today: date,
) -> Filters:
    """Validate the raw parameters; dates default to the last 12 weeks."""
    codes: list[str] = []
    for value in regions[:100]:
        for code in value.split(","):
            code = code.strip()
            if not code:
                continue
            if not _REGION.fullmatch(code):
                raise FilterError(f"region {code[:40]!r} is not a region code")
            if code.upper() not in codes:
                codes.append(code.upper())
    cc = (country or "").strip()
    if cc and not _COUNTRY.fullmatch(cc):
        raise FilterError("country must be a two-letter code such as KE")
    last = _date(date_to, "to") if date_to else today
    first = _date(date_from, "from") if date_from else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise FilterError("from must not be after to")
    if (last - first).days > MAX_DAYS:
        raise FilterError(f"the date range may span at most {MAX_DAYS} days")
    if first.year < 2020 or last.year > 2100:
        raise FilterError("dates must be within 2020-2100")
    return Filters(tuple(codes), cc.upper() or None, first, last)


def select_regions(filters: Filters, allowed: Sequence[Region]) -> list[Region]:
    """The regions to show: those asked for (all allowed ones by default), in the country.

    A region the user may not see is answered exactly like one that does not exist,
    so a coordinator cannot even learn which other regions there are.
    """
    by_code = {r.code: r for r in allowed}
    for code in filters.regions:
        if code not in by_code:
            raise FilterError(f"unknown region {code}", 404)
    chosen = [by_code[c] for c in filters.regions] if filters.regions else list(allowed)
    if filters.country:
        chosen = [r for r in chosen if r.country == filters.country]
    return chosen
