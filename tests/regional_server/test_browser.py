"""The dashboard in headless Chromium: log in, see the chart, download the CSV, log out.

Uses Debian's /usr/bin/chromium through Playwright (never a downloaded browser). The
screenshot is written to docs/screenshots/dashboard.png when KIOSK_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine

from regional_server.app import create_app
from regional_server.settings import Settings
from tests.conftest import REPO_ROOT, require
from tests.regional_server.helpers import PASSWORD, Clock, World
from tests.regional_server.seed import seed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def db_kind() -> str:
    return "sqlite"  # the browser test is about the pages, not storage


@pytest.fixture
def live_server(settings: Settings, engine: Engine, world: World, clock: Clock) -> Iterator[str]:
    seed(engine, "KE-NBO", int(clock()))
    app = create_app(settings, engine, clock)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", date_header=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_dashboard_in_chromium(live_server: str, world: World, tmp_path: Path) -> None:
    require(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    shot = tmp_path / "dashboard.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768}, accept_downloads=True)
            page.goto(f"{live_server}/")
            assert page.url.startswith(f"{live_server}/login")
            page.fill("input[name=email]", world.coord_a)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("svg.chart polyline")
            # Blocked, acknowledgement, reporting completeness.
            assert page.locator("svg.chart:visible").count() == 3
            assert "<5" in page.inner_text("main")
            assert "Mama Njeri Cyber" in page.inner_text("main")  # silent for 10 days
            page.screenshot(path=str(shot), full_page=True)

            with page.expect_download() as info:
                page.click("a[download]")
            csv_path = tmp_path / "export.csv"
            info.value.save_as(str(csv_path))
            lines = csv_path.read_text(encoding="utf-8-sig").splitlines()
            assert lines[0] == "table,row,column,value" and len(lines) > 50

            # A phone: nothing wider than the screen except inside scrolling tables.
            phone = page
            phone.set_viewport_size({"width": 390, "height": 844})
            phone.goto(f"{live_server}/?lang=fr")
            phone.wait_for_selector(".narrow-only svg.chart")
            overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0
            assert "Tentatives bloquées" in phone.inner_text("main")
            phone.screenshot(path=str(tmp_path / "dashboard-phone.png"), full_page=False)

            page.click("header form[action='/logout'] button")
            page.wait_for_url(f"{live_server}/login")
            page.goto(f"{live_server}/")
            assert page.url.startswith(f"{live_server}/login")
        finally:
            browser.close()
    if os.environ.get("KIOSK_UPDATE_SCREENSHOTS") == "1":
        target = REPO_ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / "dashboard.png")
        shutil.copy(tmp_path / "dashboard-phone.png", target / "dashboard-phone.png")
