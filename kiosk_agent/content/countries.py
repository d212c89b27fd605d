"""Child helplines and report addresses per country (``countries.yaml``), and the contact
lines that the notice, block page and tray show.

A country without a sourced helpline gets the locale's general guidance (116 111 "in many
countries") instead of a guessed number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from kiosk_agent.content import active
from kiosk_agent.content.locales import Locale

COUNTRIES_FILE = Path(__file__).resolve().parent / "countries.yaml"
GENERAL_HELPLINE = "116 111"

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_NUMBER = re.compile(r"^[0-9][0-9 ]{1,15}[0-9]$|^[0-9]{2,4}$")


class CountriesError(Exception):
    """``countries.yaml`` is malformed; the message lists every problem."""


@dataclass(frozen=True)
class Helpline:
    number: str
    name: str
    source: str
    # Shown ("It is free.", "It is confidential.") only when the entry says so, i.e. when
    # its source says so: never assumed.
    free: bool = False
    confidential: bool = False


@dataclass(frozen=True)
class ReportSite:
    url: str
    name: str
    source: str

    @property
    def label(self) -> str:
        """The address as a child would type it: no scheme, no trailing slash."""
        return re.sub(r"^https?://(www\.)?", "", self.url).rstrip("/")


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    helplines: tuple[Helpline, ...] = ()
    reports: tuple[ReportSite, ...] = ()


def parse_countries(text: str) -> dict[str, Country]:
    """Parse and check ``countries.yaml``: every entry needs its source; numbers are digits
    and spaces; report addresses are https URLs. Raises ``CountriesError`` listing all."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise CountriesError(f"not valid YAML: {e}") from None
    if not isinstance(data, Mapping):
        raise CountriesError("expected a mapping of country codes")
    problems: list[str] = []
    out: dict[str, Country] = {}
    for code, entry in data.items():
        where = str(code)
        if not isinstance(code, str) or not _COUNTRY.match(code):
            problems.append(f"{where}: not an ISO 3166 country code like KE")
            continue
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            problems.append(f"{where}: needs a name and helplines and/or report")
            continue
        helplines = [
            Helpline(
                item["number"],
                item["name"],
                item["source"],
                free=_flag(item, "free", where, problems),
                confidential=_flag(item, "confidential", where, problems),
            )
            for item in _items(entry, "helplines", ("number", "name", "source"), where, problems)
            if _check(_NUMBER.match(str(item["number"])), f"{where}: bad number", problems)
        ]
        reports = [
            ReportSite(item["url"], item["name"], item["source"])
            for item in _items(entry, "report", ("url", "name", "source"), where, problems)
            if _check(item["url"].startswith("https://"), f"{where}: report url", problems)
        ]
        out[code] = Country(code, entry["name"], tuple(helplines), tuple(reports))
    if problems:
        raise CountriesError("; ".join(problems))
    return out


def _flag(item: Mapping[str, object], key: str, where: str, problems: list[str]) -> bool:
    value = item.get(key, False)
    if not isinstance(value, bool):
        problems.append(f"{where}: {key} must be true or false")
        return False
    return value


def _items(
    entry: Mapping[str, Any], key: str, fields: tuple[str, ...], where: str, problems: list[str]
) -> list[dict[str, Any]]:
    raw = entry.get(key) or []
    if not isinstance(raw, list):
        problems.append(f"{where}.{key}: expected a list")
        return []
    good: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or not all(
            isinstance(item.get(f), str) and item[f].strip() for f in fields
        ):
            problems.append(f"{where}.{key}[{i}]: needs {', '.join(fields)} (a source is required)")
            continue
        flags = {f: item[f] for f in ("free", "confidential") if f in item}
        good.append({**{f: str(item[f]).strip() for f in fields}, **flags})
    return good


def _check(ok: object, message: str, problems: list[str]) -> bool:
    if not ok:
        problems.append(message)
    return bool(ok)


def load_countries(path: Path | None = None) -> dict[str, Country]:
    """The country table of ``path`` (default: the applied content pack's; cached per file)."""
    return _load_countries(active.countries_file() if path is None else path)


@cache
def _load_countries(path: Path) -> dict[str, Country]:
    return parse_countries(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ContactLines:
    """What to print under the tips: a helpline line and a report line, in one language."""

    helpline: str
    report: str
    helpline_number: str | None  # None: the general 116 111 guidance is shown
    report_url: str | None
    helpline_notes: str = ""  # "It is free. It is confidential." where the entry says so


def contact_lines(locale: Locale, country: Country | None, section: str = "notice") -> ContactLines:
    """Fill the helpline / report lines of ``section`` (notice or block_page) for ``country``.

    Falls back to the locale's general texts where the country has no sourced entry (the
    block page has no general variants, so it uses the notice's).
    """
    helplines = country.helplines if country else ()
    helpline = helplines[0] if helplines else None
    report = country.reports[0] if country and country.reports else None
    if helpline is not None:
        numbers = " / ".join(h.number for h in helplines[:2])
        help_text = locale.text(f"{section}.helpline", helpline=numbers)
    else:
        help_text = locale.text("notice.helpline_general")
    if report is not None:
        report_text = locale.text(f"{section}.report", report=report.label)
    else:
        report_text = locale.text("notice.report_general")
    # "free" / "confidential" only where every number shown is sourced as such, on the
    # notice and the block page alike (the block page used to say "It is free." always).
    notes = []
    if helpline is not None:
        shown = helplines[:2]
        if all(h.free for h in shown):
            notes.append(locale.text("notice.free"))
        if all(h.confidential for h in shown):
            notes.append(locale.text("notice.confidential"))
    return ContactLines(
        helpline=help_text,
        report=report_text,
        helpline_number=helpline.number if helpline else None,
        report_url=report.url if report else None,
        helpline_notes=" ".join(notes),
    )


def country_for(code: str | None) -> Country | None:
    """The shipped entry for ``code`` (ISO 3166, any case), or None when there is none."""
    if not code:
        return None
    return load_countries().get(code.upper())
