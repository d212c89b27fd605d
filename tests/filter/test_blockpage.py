"""The block page: rendered from the notice locale files, served on loopback."""

from __future__ import annotations

import asyncio
import html.parser
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kiosk_agent.config import CafeConfig, Config, FilterConfig, HostPort
from kiosk_agent.content import countries
from kiosk_agent.content.countries import parse_countries
from kiosk_agent.content.locales import load_locale, shipped_codes
from kiosk_agent.filter.blockpage import (
    BlockPageServer,
    PageText,
    choose_page,
    load_page_texts,
    render_page,
)
from kiosk_agent.service.context import ServiceContext


def text(code: str, direction: str = "ltr") -> PageText:
    return PageText(
        code, f"Lang {code}", direction, "Blocked <b>", "Body & more", "Call", "Report", "Other"
    )


def test_render_escapes_and_links_other_languages() -> None:
    page = render_page(text("sw"), [text("sw"), text("ar", "rtl"), text("en")])
    assert "Blocked &lt;b&gt;" in page and "Body &amp; more" in page
    assert '<html lang="sw" dir="ltr">' in page
    assert '<a href="?lang=ar" lang="ar" dir="rtl">' in page and '?lang=sw"' not in page
    assert "<b>" not in page
    parser = html.parser.HTMLParser()
    parser.feed(page)  # well-formed enough for the stdlib parser


def test_choose_page() -> None:
    texts = {"sw": text("sw"), "en": text("en")}
    assert choose_page(texts, ["sw", "en"], "").code == "sw"
    assert choose_page(texts, ["sw", "en"], "lang=en").code == "en"
    assert choose_page(texts, ["sw", "en"], "lang=xx").code == "sw"


def test_texts_come_from_the_locale_files() -> None:
    texts = load_page_texts(["sw", "ar", "zz"], "KE")
    assert list(texts) == ["sw", "ar", "en"]  # unknown zz skipped, English always there
    assert texts["en"].title == "This page is blocked"
    assert texts["ar"].direction == "rtl"
    assert texts["sw"].title and texts["sw"].title != texts["en"].title
    assert "116" in texts["en"].helpline  # Kenya's sourced helpline number


def test_serves_the_page_for_any_path(tmp_path: Path) -> None:
    config = Config(
        state_dir=tmp_path,
        cafe=CafeConfig(languages=("sw", "en")),
        filter=FilterConfig(blockpage_listen=HostPort("127.0.0.1", 0), block_answer="sinkhole"),
    )

    async def main() -> None:
        server = BlockPageServer(ServiceContext(config))
        await server.start()
        assert server.address is not None
        host, port = server.address

        def get(path: str) -> tuple[int, str]:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            req = urllib.request.Request(
                f"http://{host}:{port}{path}", headers={"Host": "blocked.test"}
            )
            try:
                with opener.open(req, timeout=5) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()

        try:
            status, body = await asyncio.to_thread(get, "/some/path?x=1")
            assert status == 403
            assert '<html lang="sw"' in body and "blocked.test" not in body
            status, body = await asyncio.to_thread(get, "/?lang=en")
            assert "This page is blocked" in body
            assert server.status()["pages_served"] == 2
        finally:
            await server.stop()

    asyncio.run(main())


def test_a_taken_address_does_not_stop_the_service(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        config = Config(
            state_dir=tmp_path, filter=FilterConfig(blockpage_listen=HostPort("127.0.0.1", port))
        )

        async def main() -> None:
            server = BlockPageServer(ServiceContext(config))
            await server.start()
            assert "cannot listen" in str(server.status()["error"])
            await server.stop()

        asyncio.run(main())


def test_free_and_confidential_only_where_the_country_data_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page used to say "It is free." in every locale, whatever the country."""
    codes = shipped_codes()
    for code, page in load_page_texts(codes, "KE").items():  # KE: not sourced as free
        loc = load_locale(code)
        assert loc.text("notice.free") not in page.helpline, code
        assert loc.text("notice.confidential") not in page.helpline, code
    entries = parse_countries(
        "KE: {name: Kenya, helplines: [{number: '116', name: X, source: s,"
        " free: true, confidential: true}]}\n"
    )
    monkeypatch.setattr(countries, "country_for", lambda code: entries.get(str(code)))
    texts = load_page_texts(["sw", "en"], "KE")
    assert (
        texts["en"].helpline == "Want to talk to someone? Call 116. It is free. It is confidential."
    )
    assert texts["sw"].helpline.endswith("Ni bure. Ni siri.")
