"""The block page in the language the customer reads, for requests the proxy blocks.

It is the same page as the sinkhole's (``kiosk_agent.filter.blockpage``: words from the
notice locales, the country's helpline), chosen by the browser's ``Accept-Language``
among the café's languages (the café's first language as fallback). Unlike the sinkhole
page it has no ``?lang=`` links: on a page served in place of a listed URL, such a link
would request a different URL of the same suspect host.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kiosk_agent.filter.proxy.page import BlockPageSource

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


def choose_language(accept_language: str | None, offered: Sequence[str]) -> str:
    """The first wanted language among ``offered``, else the first offered (else English)."""
    for code in preferred_languages(accept_language):
        if code in offered:
            return code
    return offered[0] if offered else "en"


def locale_block_pages(cafe_languages: Sequence[str], country: str) -> BlockPageSource:
    """A ``BlockPageSource`` for the café: texts loaded at the first block, pages cached."""
    rendered: dict[str, bytes] = {}
    order: list[str] = []

    def source(accept_language: str | None) -> bytes:
        from kiosk_agent.filter.blockpage import load_page_texts, render_page

        if not order:
            texts = load_page_texts(cafe_languages, country)  # English always included
            for code, text in texts.items():
                rendered[code] = render_page(text, []).encode("utf-8")
            order.extend(c for c in cafe_languages if c in rendered)
            order.extend(c for c in rendered if c not in order)
        return rendered[choose_language(accept_language, order)]

    return source
