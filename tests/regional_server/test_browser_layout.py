"""Every page at 390 px and 1366 px in all four languages, in headless Chromium: no
element outside the viewport (tables scroll inside their own box), screenshots kept.

Uses Debian's /usr/bin/chromium through Playwright (never a downloaded browser).
Screenshots go to the test's folder, and to docs/screenshots/layout/ when
KIOSK_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from sqlalchemy import Engine

from regional_server.dashboard.i18n import LANGUAGES
from regional_server.national.children import register_child
from regional_server.national.receive import apply_push
from tests.conftest import REPO_ROOT, require
from tests.regional_server.helpers import PASSWORD, World
from tests.regional_server.test_browser import CHROMIUM, CHROMIUM_ARGS, db_kind, live_server
from tests.regional_server.test_national import KEY_A, MONDAY, _figures, _push

__all__ = ["db_kind", "live_server"]  # fixtures shared with test_browser

PAGES = (
    "/",
    "/alerts",
    "/admin/users",
    "/admin/regions",
    "/admin/codes",
    "/admin/kiosks",
    "/admin/dhis2",
    "/admin/children",
    "/account",
    "/docs",
)
WIDTHS = ((390, 844), (1366, 768))

# Elements whose box is outside the viewport, leaving out what a scrolling box clips
# (a table wider than the phone scrolls inside its card, first column fixed).
OVERFLOW_JS = """() => {
  const w = window.innerWidth;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.scroll') && !el.classList.contains('scroll')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > w + 1 || r.left < -1) {
      out.push(el.tagName.toLowerCase() + '.' + (el.getAttribute('class') || '') +
               ' ' + Math.round(r.left) + '..' + Math.round(r.right));
    }
  }
  return {out: out.slice(0, 10), scroll: document.documentElement.scrollWidth - w};
}"""


def test_every_page_fits_at_390_and_1366_in_every_language(
    live_server: str, world: World, tmp_path: Path, engine: Engine
) -> None:
    require(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is not installed")
    # A child server and a region it pushed: the admin pages list it, the dashboard
    # shows a pushed region and a second country (docs/national-view.md).
    with engine.begin() as conn:
        child = register_child(conn, "uganda-1", KEY_A, ["KE-MSA"], ["UG"], int(time.time()))
        apply_push(conn, child, _push("UG-KLA", {MONDAY: _figures(120)}, country="UG"), 0)
    from playwright.sync_api import sync_playwright

    shots = tmp_path / "layout"
    shots.mkdir()
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(f"{live_server}/login")
            page.fill("input[name=email]", world.admin)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#headline-title")
            # Follow the region, so that the dashboard and /alerts show alerts.
            page.goto(f"{live_server}/alerts")
            page.check("input[name=subscribe]")
            page.click("form[action='/alerts'] button[type=submit]")
            page.wait_for_selector("ul.alerts")
            for lang in LANGUAGES:
                for width, height in WIDTHS:
                    page.set_viewport_size({"width": width, "height": height})
                    for path in PAGES:
                        r = page.goto(f"{live_server}{path}?lang={lang}")
                        assert r is not None and r.status == 200, (path, lang)
                        assert page.get_attribute("html", "lang") == lang
                        direction = "rtl" if lang == "ar" else "ltr"
                        assert page.get_attribute("html", "dir") == direction
                        found = page.evaluate(OVERFLOW_JS)
                        if found["out"] or found["scroll"] > 0:
                            problems.append(f"{path} {lang} {width}px: {found}")
                        name = (path.strip("/").replace("/", "-") or "dashboard") + ".png"
                        page.screenshot(
                            path=str(shots / f"{lang}-{width}-{name}"), full_page=width == 390
                        )
        finally:
            browser.close()
    if os.environ.get("KIOSK_UPDATE_SCREENSHOTS") == "1":
        target = REPO_ROOT / "docs" / "screenshots" / "layout"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(shots, target)
    assert not problems, "\n".join(problems)
    assert len(list(shots.iterdir())) == len(LANGUAGES) * len(WIDTHS) * len(PAGES)
