"""Headless Chromium with the browser guard loaded, against an HTTPS origin on loopback.

A listed page is replaced by the agent's block page and counted once; an unlisted page of
the same host loads; a page on a host without listed pages loads without a single request
to the guard's API; a DNS-blocked HTTPS host shows the block page instead of the error.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk_agent.filter.blockpage import load_page_texts
from tests.browser_guard.world import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    LISTED_PATH,
    World,
    extension_copy,
    resolver_rules,
    wait_for,
)
from tests.conftest import REPO_ROOT, require

SCREENSHOT = REPO_ROOT / "docs" / "screenshots" / "browser-guard-blocked.png"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing (Debian's chromium package)")
    w = World(tmp_path_factory.mktemp("guard-world"))
    w.start()
    yield w
    w.stop()


@pytest.fixture(scope="module")
def browser(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("chromium")
    ext = extension_copy(tmp / "extension", world.api)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp / "profile"),  # a fresh profile: nothing trusted or cached from elsewhere
            executable_path=CHROMIUM,
            headless=False,  # --headless=new below: the old headless mode has no extensions
            ignore_https_errors=True,  # the origin's certificate is trusted by this profile only
            locale="en-US",
            args=[
                *CHROMIUM_FLAGS,
                f"--host-resolver-rules={resolver_rules()}",
                f"--disable-extensions-except={ext}",
                f"--load-extension={ext}",
            ],
        )
        try:
            worker = context.service_workers or [context.wait_for_event("serviceworker")]
            assert worker[0].url.endswith("/src/background.js")
            warm_up(context, world)
            yield context
        finally:
            context.close()


def warm_up(context: Any, world: World) -> None:
    """Wait until the browser delivers requests to the extension: in a fresh profile the
    extension is installed at launch, and a request made before its worker registered
    its listeners is not seen (docs/browser-guard.md, "Limits")."""
    page = context.new_page()
    for _ in range(50):
        visit(page, world.url("plain.test", "/warm-up.html"))
        if guard_stats(context)["checked"] > 0:
            break
        page.wait_for_timeout(200)
    else:
        pytest.fail("the extension never saw a request")
    page.close()


def visit(page: Any, url: str) -> None:
    """Navigate; a navigation the guard replaces is reported as aborted, which is fine."""
    from playwright.sync_api import Error

    try:
        page.goto(url, wait_until="load", timeout=15000)
    except Error as e:
        if "ERR_ABORTED" not in str(e) and "ERR_NAME_NOT_RESOLVED" not in str(e):
            raise


def on_block_page(page: Any, world: World, timeout: float = 10.0) -> bool:
    """Whether the tab reaches the block page; Playwright's events (and so ``page.url``)
    are processed only while it waits, hence ``wait_for_timeout`` rather than sleep."""
    for _ in range(int(timeout * 10)):
        if page.url == world.api + "/blocked":
            page.wait_for_load_state("load")
            return True
        page.wait_for_timeout(100)
    return False


def page_text(page: Any, timeout: float = 10.0) -> str:
    """The page's HTML once it stops navigating: the guard may send a tab to the block
    page twice (before the request and again when the listed page commits), and
    Playwright refuses ``content()`` while the second navigation is under way."""
    for _ in range(int(timeout * 10)):
        try:
            page.wait_for_load_state("load")
            return str(page.content())
        except Exception as e:
            if "navigating" not in str(e):
                raise
            page.wait_for_timeout(100)
    return str(page.content())


def guard_stats(browser: Any) -> Any:
    """The extension's own counters (checked, skipped, asked, blocked, errors)."""
    return browser.service_workers[0].evaluate("guard().then((g) => g.stats)")


def english_title() -> str:
    return load_page_texts(["en"], "KE")["en"].title


def test_listed_https_page_is_replaced_by_the_block_page(world: World, browser: Any) -> None:
    page = browser.new_page()
    before = world.guard_counts()
    visit(page, world.url("pages.test", LISTED_PATH))
    assert on_block_page(page, world), repr((page.url, world.guard_counts(), guard_stats(browser)))
    page.wait_for_load_state("load")
    assert english_title() in page_text(page)  # Accept-Language en-US: the English page
    assert "pages.test" not in page.content()  # the page names no site
    after = world.guard_counts()
    assert after["hits"] - before["hits"] == 1
    assert after["pages_served"] - before["pages_served"] >= 1
    # counted once, as a DNS block is, and the count reaches the service's reporting
    assert wait_for(lambda: world.today().get("blocked.csam") == 1), world.today()
    shot = world.tmp / "blocked.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 5000
    if os.environ.get("KIOSK_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
    page.close()


def test_unlisted_page_of_the_same_host_loads(world: World, browser: Any) -> None:
    page = browser.new_page()
    before = world.guard_counts()
    for host in ("pages.test", "www.pages.test"):
        visit(page, world.url(host, "/listed/other.html"))
        assert page.title() == "origin page"
    # a suspect host: each page is asked about (in Chromium while it loads)
    assert wait_for(lambda: world.guard_counts()["checks"] - before["checks"] >= 2)
    assert world.guard_counts()["hits"] == before["hits"]
    assert page.url == world.url("www.pages.test", "/listed/other.html")
    page.close()


def test_page_on_an_unlisted_host_costs_no_request_to_the_guard(world: World, browser: Any) -> None:
    page = browser.new_page()
    visit(page, world.url("plain.test", "/warm-up.html"))  # the hint is loaded by now
    before = world.guard_counts()
    seen = len(world.origin.requests)
    for path in ("/a.html", "/gallery/b.html?x=1", LISTED_PATH):
        visit(page, world.url("plain.test", path))
        assert page.title() == "origin page"
    assert ("plain.test", LISTED_PATH) in world.origin.requests[seen:]
    page.wait_for_timeout(500)  # time for a (wrong) request to arrive
    after = world.guard_counts()
    assert after["requests"] == before["requests"], (before, after)
    page.close()


def test_dns_blocked_https_host_shows_the_block_page_not_the_error(
    world: World, browser: Any
) -> None:
    page = browser.new_page()
    counted = world.today().get("blocked.csam", 0)
    visit(page, world.url("dns-blocked.test", "/"))
    assert on_block_page(page, world), page.url
    assert english_title() in page_text(page)
    # an unlisted name that does not resolve keeps the browser's own error
    other = browser.new_page()
    visit(other, world.url("nowhere.test", "/"))
    assert not on_block_page(other, world, timeout=2)
    # the resolver counted the NXDOMAIN; the guard does not count it again
    assert world.today().get("blocked.csam", 0) == counted
    page.close()
    other.close()


def test_extension_files_are_the_shipped_ones(world: World, tmp_path: Path) -> None:
    ext = extension_copy(tmp_path / "ext", world.api)
    shipped = sorted(
        p.relative_to(REPO_ROOT / "browser_guard")
        for p in (REPO_ROOT / "browser_guard" / "src").rglob("*.js")
    )
    copied = sorted(p.relative_to(ext) for p in (ext / "src").rglob("*.js"))
    assert shipped == copied
