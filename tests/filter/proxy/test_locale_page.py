"""Block page language choice and rendering from the notice locales."""

from __future__ import annotations

import html

from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.content.locales import load_locale
from kiosk_agent.filter.proxy.locale_page import (
    choose_language,
    locale_block_pages,
    preferred_languages,
)
from kiosk_agent.filter.proxy.page import block_response, english_only


def test_preferred_languages() -> None:
    assert preferred_languages("sw-KE,sw;q=0.9,en;q=0.8") == ["sw", "en"]
    assert preferred_languages("en;q=0.5, fr") == ["fr", "en"]
    assert preferred_languages("fr;q=0, en") == ["en"]
    assert preferred_languages("*, ar;q=0.1") == ["ar"]
    assert preferred_languages("   ;;, ,q=1, 12ab, en-") == []
    assert preferred_languages(None) == []


@given(st.text(max_size=300))
def test_preferred_languages_never_fails(header: str) -> None:
    for code in preferred_languages(header):
        assert code.isascii() and code == code.lower()


def test_choose_language() -> None:
    assert choose_language("fr-FR,en;q=0.5", ["sw", "en"]) == "en"
    assert choose_language("de", ["sw", "en"]) == "sw"
    assert choose_language(None, ["am"]) == "am"
    assert choose_language("fr", []) == "en"


def test_pages_in_the_cafe_languages() -> None:
    source = locale_block_pages(["sw", "ar"], "KE")
    sw = source("sw-KE").decode()
    assert 'lang="sw"' in sw and html.escape(load_locale("sw").text("block_page.title")) in sw
    ar = source("ar").decode()
    assert 'dir="rtl"' in ar
    assert 'lang="sw"' in source("de").decode()  # the café's first language
    assert 'lang="en"' in source("en").decode()  # English is always there
    assert "?lang=" not in sw  # no links to other URLs of a suspect host
    response = block_response(source(None), keep_alive=True)
    head, body = response.split(b"\r\n\r\n", 1)
    assert f"Content-Length: {len(body)}".encode() in head
    assert b"Connection: keep-alive" in head


def test_unknown_locale_falls_back_to_english() -> None:
    assert 'lang="en"' in locale_block_pages(["zz"], "ZZ")(None).decode()


def test_minimal_english_page() -> None:
    page = english_only("sw").decode()
    assert "<h1>This page is blocked</h1>" in page
