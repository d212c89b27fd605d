"""Block page words from the notice locales, in the language the customer reads.

The browser's ``Accept-Language`` picks among the café's configured languages; the
café's first language is the fallback, and English the last resort.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache

from kiosk_agent.filter.proxy.page import ENGLISH, BlockPageSource, BlockPageText

log = logging.getLogger(__name__)

_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*")
_Q = re.compile(r"q=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)")
MAX_ACCEPT_LANGUAGE = 512


def preferred_languages(header: str | None) -> list[str]:
    """Primary language subtags from an ``Accept-Language`` value, most wanted first.

    Tolerant: unparsable items are skipped, ``q=0`` means "not wanted", equal weights keep
    the header's order, and only the first ``MAX_ACCEPT_LANGUAGE`` characters are read.
    """
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header[:MAX_ACCEPT_LANGUAGE].split(",")):
        tag, *params = (p.strip() for p in item.split(";"))
        if not _TAG.fullmatch(tag) or tag == "*":
            continue
        weight = 1.0
        for param in params:
            m = _Q.fullmatch(param.replace(" ", ""))
            if m:
                weight = float(m.group(1))
        if weight > 0:
            weighted.append((-weight, position, tag.split("-")[0].lower()))
    out: list[str] = []
    for _, _, code in sorted(weighted):
        if code not in out:
            out.append(code)
    return out


def choose_language(accept_language: str | None, cafe_languages: Sequence[str]) -> str:
    """The first wanted language the café offers, else the café's first language."""
    offered = list(cafe_languages)
    for code in preferred_languages(accept_language):
        if code in offered:
            return code
    return offered[0] if offered else ENGLISH.lang


@lru_cache(maxsize=32)
def _text_for(code: str) -> BlockPageText:
    from kiosk_agent.notices.locales import LocaleError, load_locale

    try:
        loc = load_locale(code)
        return BlockPageText(
            lang=loc.code,
            title=loc.text("block_page.title"),
            body=loc.text("block_page.body"),
            direction=loc.direction,
            extra=(loc.text("notice.helpline_general"), loc.text("notice.report_general")),
        )
    except (LocaleError, KeyError, ValueError) as e:
        log.warning("block page locale %s unusable (%s); using English", code, type(e).__name__)
        return ENGLISH


def locale_block_pages(cafe_languages: Sequence[str]) -> BlockPageSource:
    """A ``BlockPageSource`` for the café's languages (texts loaded once, then cached)."""
    languages = tuple(cafe_languages)

    def source(accept_language: str | None) -> BlockPageText:
        return _text_for(choose_language(accept_language, languages))

    return source
