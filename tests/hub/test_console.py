"""The operator's console: the table's rules, the PIN/CSRF gate on the LAN, and the page in
headless Chromium at 1024×768 and on a phone."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kiosk_agent.config import CafeConfig, Config, HostPort, OperatorConfig
from kiosk_agent.hub import console, http
from kiosk_agent.hub.registry import STALE_AFTER, Registry, parse_heartbeat
from kiosk_agent.hub.server import HubComponent
from kiosk_agent.service.context import ServiceContext
from kiosk_agent.service.pin import hash_pin
from tests.conftest import require
from tests.regional_server.test_browser import CHROMIUM, CHROMIUM_ARGS

BEAT = {
    "pc": "pc1",
    "name": "PC 1",
    "rx": 1,
    "tx": 1,
    "protected": True,
    "lists": [{"list_id": "hotline", "version": 7, "updated_at": 0}],
    "ui_running": True,
    "notices_today": 4,
}


def test_rows_say_why_in_plain_words() -> None:
    reg = Registry()
    now = 1000.0
    reg.update(
        parse_heartbeat(
            {**BEAT, "lists": [{"list_id": "hotline", "version": 7, "updated_at": 900}]}
        ),
        now,
    )
    reg.update(
        parse_heartbeat(
            {
                **BEAT,
                "pc": "pc2",
                "name": "PC 2",
                "protected": False,
                "problems": ["no blocklist has been loaded yet"],
                "lists": [],
            }
        ),
        now,
    )
    reg.update(parse_heartbeat({**BEAT, "pc": "pc3", "name": "PC 3"}), now - STALE_AFTER - 1)
    loc = console.console_locale("en")
    rows = {r.name: r for r in console.rows(reg, now, loc)}
    assert rows["PC 1"].protected and rows["PC 1"].lists == "hotline v7 (1 min ago)"
    assert not rows["PC 2"].protected and rows["PC 2"].why == "no blocklist has been loaded yet"
    assert "no blocklist is loaded" in rows["PC 2"].warnings
    # a PC whose service stopped is not protected, whatever it said last
    assert not rows["PC 3"].protected and "not heard from" in rows["PC 3"].why
    page = console.render_page(list(rows.values()), loc, now)
    assert page.count("NOT protected") == 2
    sw = console.render_page(
        console.rows(reg, now, console.console_locale("sw")), console.console_locale("sw"), now
    )
    assert "HAILINDWI" in sw and 'lang="sw"' in sw


def _request(
    method: str, path: str, peer: str, body: bytes = b"", cookie: str = ""
) -> http.Request:
    headers = {"cookie": cookie} if cookie else {}
    return http.Request(method, path, {}, headers, body, peer)


def test_lan_console_needs_the_pin_and_a_csrf_token() -> None:
    config = Config(
        cafe=CafeConfig(hub="this", hub_console="lan"),
        operator=OperatorConfig(pin_scrypt=hash_pin("2468", n=2**4)),
    )
    c = console.Console(config)
    reg = Registry()
    reg.update(parse_heartbeat(BEAT), time.time())

    async def run() -> None:
        now = time.time()
        # from loopback: the table itself
        page = await c.handle(_request("GET", "/console", "127.0.0.1"), reg, now)
        assert b"PC 1" in page.body
        # from the LAN: a PIN form, with its CSRF token in a cookie
        form = await c.handle(_request("GET", "/console", "192.0.2.20"), reg, now)
        assert b"PC 1" not in form.body and b'name="pin"' in form.body
        token = form.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
        cookie = f"hublogin={token}"
        # a page elsewhere can post the form but cannot know the token
        with pytest.raises(http.HttpError) as e:
            await c.handle(
                _request("POST", "/console/login", "192.0.2.20", b"pin=2468&csrf=guess", cookie),
                reg,
                now,
            )
        assert e.value.status == 403
        wrong = await c.handle(
            _request(
                "POST", "/console/login", "192.0.2.20", f"pin=1111&csrf={token}".encode(), cookie
            ),
            reg,
            now,
        )
        assert wrong.status == 403
        ok = await c.handle(
            _request(
                "POST", "/console/login", "192.0.2.20", f"pin=2468&csrf={token}".encode(), cookie
            ),
            reg,
            now,
        )
        assert ok.status == 303
        session = ok.headers["Set-Cookie"].split(";")[0]
        assert (
            "HttpOnly" in ok.headers["Set-Cookie"] and "SameSite=Strict" in ok.headers["Set-Cookie"]
        )
        page = await c.handle(_request("GET", "/console", "192.0.2.20", cookie=session), reg, now)
        assert b"PC 1" in page.body
        # wrong PINs lock the form
        form = await c.handle(_request("GET", "/console", "192.0.2.21"), reg, now)
        token = form.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
        for _ in range(console.PIN_FAILURES_BEFORE_LOCK):
            await c.handle(
                _request(
                    "POST",
                    "/console/login",
                    "192.0.2.21",
                    f"pin=0000&csrf={token}".encode(),
                    f"hublogin={token}",
                ),
                reg,
                now,
            )
        with pytest.raises(http.HttpError) as e:
            await c.handle(
                _request(
                    "POST",
                    "/console/login",
                    "192.0.2.21",
                    f"pin=2468&csrf={token}".encode(),
                    f"hublogin={token}",
                ),
                reg,
                now,
            )
        assert e.value.status == 429

    asyncio.run(run())


@pytest.fixture
def live_hub(tmp_path: Path) -> Iterator[tuple[str, HubComponent]]:
    config = Config(
        state_dir=tmp_path, cafe=CafeConfig(hub="this", hub_listen=HostPort("127.0.0.1", 0))
    )
    hub = HubComponent(ServiceContext(config))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(hub.start(), loop).result(10)
    assert hub.address is not None
    try:
        yield f"http://127.0.0.1:{hub.address[1]}", hub
    finally:
        asyncio.run_coroutine_threadsafe(hub.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_console_in_chromium(live_hub: tuple[str, HubComponent]) -> None:
    require(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    base, hub = live_hub
    for i in range(1, 9):
        beat = {
            **BEAT,
            "pc": f"pc{i}",
            "name": f"PC {i}",
            "lists": [{"list_id": "hotline", "version": 7, "updated_at": time.time() - 3600}],
        }
        r = requests.post(base + "/hub/v1/heartbeat", data=json.dumps(beat), timeout=5)
        assert r.status_code == 200
    # PC 3's service stopped: nothing since
    hub.registry.pcs["pc3"].last_seen -= STALE_AFTER + 1
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width, height in ((1024, 768), (390, 844)):
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(base + "/console")
                row = page.locator('tr[data-pc="PC 3"]')
                assert "NOT protected" in row.inner_text()
                assert "not heard from" in row.inner_text()
                assert "7 of 8 PCs are protected" in page.inner_text("body")
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"the page is wider than {width} px"
                page.close()
        finally:
            browser.close()
