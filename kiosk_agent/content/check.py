"""Validation of the shipped content: every locale file parsed and checked against English.

``notices check`` adds the notice's fit measurement (``kiosk_agent/notices/check.py``)
through ``measure``; this module needs neither fonts nor a renderer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiosk_agent.content.locales import (
    LOCALES_DIR,
    REFERENCE,
    Locale,
    LocaleError,
    locale_problems,
    parse_locale,
    shipped_codes,
)
from kiosk_agent.content.plural import category, parse_rules

# The CLDR locale whose rules a file must match, where it is not the file's code: the
# Portuguese texts are European Portuguese ("morada", "equipa").
CLDR_LOCALE = {"pt": "pt_PT"}
PLURAL_SAMPLE = range(0, 1001)


def cldr_available() -> bool:
    """Whether Babel is installed (content authoring, CI): the one-file kiosk program
    leaves it out (36 MB), and its `notices check` then checks the plural forms against
    the rules in the files without comparing the rules with CLDR."""
    try:
        import babel.core  # noqa: F401
    except ImportError:
        return False
    return True


def cldr_problems(loc: Locale) -> list[str]:
    """The locale's plural rules compared with Babel's CLDR data on whole numbers.

    Babel is needed here only (a dev / content-authoring dependency): the UI evaluates
    the rules itself (``content/plural.py``).
    """
    if not cldr_available():
        return []  # `notices check` says so once (see cldr_available)
    from babel.core import Locale as CldrLocale
    from babel.core import UnknownLocaleError

    try:
        cldr = CldrLocale.parse(CLDR_LOCALE.get(loc.code, loc.code)).plural_form
    except (UnknownLocaleError, ValueError):
        return [f"{loc.code}: not a CLDR locale; plural rules cannot be checked"]
    ours = set(loc.plural_rules)
    if ours != set(cldr.rules):
        return [
            f"language.plural: categories {', '.join(sorted(ours)) or 'none'} but CLDR has "
            f"{', '.join(sorted(cldr.rules)) or 'none'}"
        ]
    rules = parse_rules(loc.plural_rules)
    wrong = [n for n in PLURAL_SAMPLE if category(rules, n) != cldr(n)]
    if wrong:
        return [f"language.plural: differs from CLDR for {', '.join(map(str, wrong[:5]))}"]
    return []


REQUIRED_LOCALES = (
    "en",
    "fr",
    "pt",
    "es",
    "ar",
    "sw",
    "am",
    "ha",
    "hi",
    "bn",
    "th",
    "km",
    "vi",
    "id",
    "fil",
    # issue 22: the languages of the cafés of the regions served
    "ur",
    "ne",
    "my",
    "yo",
    "so",
    "mg",
    "lo",
    "si",
)


@dataclass(frozen=True)
class CheckRow:
    code: str
    language: str
    direction: str
    reviewed: bool
    problems: tuple[str, ...]


def check_content(
    *, directory: Path = LOCALES_DIR, measure: Callable[[Locale], list[str]] | None = None
) -> list[CheckRow]:
    """One row per locale file (and per required locale that is missing).

    ``measure`` adds its problems for a locale whose texts are complete (measuring needs
    every key present)."""
    codes = shipped_codes(directory)
    rows: list[CheckRow] = []
    try:
        reference = parse_locale(REFERENCE, (directory / f"{REFERENCE}.yaml").read_text("utf-8"))
    except (OSError, LocaleError) as e:
        return [CheckRow(REFERENCE, "?", "?", False, (f"English reference unusable: {e}",))]
    for code in codes:
        try:
            loc = parse_locale(code, (directory / f"{code}.yaml").read_text("utf-8"))
        except (OSError, UnicodeDecodeError, LocaleError) as e:
            rows.append(CheckRow(code, "?", "?", False, (str(e),)))
            continue
        problems = locale_problems(loc, reference)
        problems += cldr_problems(loc)
        if not problems and measure is not None:
            problems += [p for p in measure(loc) if p not in problems]
        rows.append(CheckRow(code, loc.name, loc.direction, loc.reviewed, tuple(problems)))
    for code in REQUIRED_LOCALES:
        if code not in codes:
            rows.append(CheckRow(code, "?", "?", False, ("required locale file is missing",)))
    return rows


def format_table(rows: list[CheckRow]) -> str:
    """The rows as an aligned text table; each problem on its own line."""
    header = ("code", "language", "direction", "reviewed", "problems")
    body = [
        (
            r.code,
            r.language,
            r.direction,
            "yes" if r.reviewed else "no",
            r.problems[0] if r.problems else "-",
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(4)]
    lines = []
    for row_index, row in enumerate([header, *body]):
        cells = [str(row[i]).ljust(widths[i]) for i in range(4)]
        lines.append("  ".join([*cells, str(row[4])]))
        if row_index > 0:
            for extra in rows[row_index - 1].problems[1:]:
                lines.append("  ".join([" " * w for w in widths] + [extra]))
    return "\n".join(lines)
