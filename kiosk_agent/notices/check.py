"""`notices check`: the content's validation plus the notice's fit, as table rows."""

from __future__ import annotations

from pathlib import Path

from kiosk_agent.content.check import CheckRow, check_content, format_table
from kiosk_agent.content.countries import country_for
from kiosk_agent.content.locales import LOCALES_DIR, Locale
from kiosk_agent.notices.layout import fit_problems
from kiosk_agent.notices.render import coverage

# Format characters the renderer handles itself (break points, joiners, bidi marks).
_NOT_DRAWN = frozenset("\u200b\u200c\u200d\u200e\u200f\n")


def font_problems(loc: Locale) -> list[str]:
    """Characters of ``loc`` that neither its script font nor Noto Sans can draw (they
    would show as empty boxes)."""
    own, latin = coverage(loc.script), coverage("Latn")
    texts = [*loc.strings.values(), *(t.text for t in loc.tips), *(t.author for t in loc.tips)]
    for forms in loc.plurals.values():
        texts += forms.values()
    chars = {ch for text in texts for ch in text} - _NOT_DRAWN
    missing = sorted(ch for ch in chars if ch not in own and ch not in latin)
    if not missing:
        return []
    shown = " ".join(f"U+{ord(ch):04X}" for ch in missing[:8])
    return [f"fonts: no glyph for {shown} (in {loc.script} or Latin)"]


__all__ = ["CheckRow", "check_locales", "format_table"]


def check_locales(
    *, font_size: int, country: str | None = None, directory: Path = LOCALES_DIR
) -> list[CheckRow]:
    """One row per locale file (and per required locale that is missing)."""
    # Measure with the general 116 111 lines (the longest) and with the café's country.
    countries = [None, country_for(country)] if country else [None]

    def measure(loc: Locale) -> list[str]:
        problems: list[str] = font_problems(loc)
        for c in countries:
            problems += [p for p in fit_problems(loc, c, font_size) if p not in problems]
        return problems

    return check_content(directory=directory, measure=measure)
