"""Firefox: the packed extension passes Mozilla's validator (addons-linter, from the
committed npm lock) and the policies name it as it is. ``test_firefox.py`` loads the
same package in Debian's firefox-esr over WebDriver BiDi.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

from kiosk_agent.installer.browser_guard import build_xpi, guard_policy, shipped_files
from kiosk_agent.platform.browser_policies import firefox_policies
from tests.browser_guard.helpers import GUARD_DIR, node
from tests.conftest import require

# Firefox ignores the service worker (it runs background.scripts); Chromium needs it.
# data_collection_permissions (required for new listings on addons.mozilla.org, "none"
# here: nothing leaves the PC) is newer than the ESR versions cafés run, which ignore it.
EXPECTED_WARNINGS = {
    "BACKGROUND_SERVICE_WORKER_IGNORED",
    "KEY_FIREFOX_UNSUPPORTED_BY_MIN_VERSION",
    "KEY_FIREFOX_ANDROID_UNSUPPORTED_BY_MIN_VERSION",
}


def test_xpi_holds_exactly_the_shipped_files_and_is_reproducible(tmp_path: Path) -> None:
    first, second = tmp_path / "a.xpi", tmp_path / "b.xpi"
    count = build_xpi(GUARD_DIR, first)
    build_xpi(GUARD_DIR, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as z:
        names = sorted(z.namelist())
    assert count == len(names)
    assert names == sorted(p.as_posix() for p in shipped_files(GUARD_DIR))
    assert "manifest.json" in names and "src/background.js" in names
    assert not any("node_modules" in n or n.startswith("test/") for n in names)
    manifest = json.loads((GUARD_DIR / "manifest.json").read_text())
    for script in manifest["background"]["scripts"]:
        assert script in names
    assert manifest["background"]["service_worker"] in names


def test_mozilla_validator_accepts_the_package(tmp_path: Path) -> None:
    node()
    linter = GUARD_DIR / "node_modules" / "addons-linter" / "bin" / "addons-linter"
    require(
        linter.is_file(), "addons-linter is not installed (make test runs npm ci in browser_guard/)"
    )
    xpi = tmp_path / "browser-guard.xpi"
    build_xpi(GUARD_DIR, xpi)
    done = subprocess.run(
        [node(), str(linter), "--self-hosted", "--output", "json", str(xpi)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout)
    assert report["errors"] == [], report["errors"]
    assert {w["code"] for w in report["warnings"]} <= EXPECTED_WARNINGS, report["warnings"]


def test_firefox_policy_names_the_package_the_installer_writes() -> None:
    manifest = json.loads((GUARD_DIR / "manifest.json").read_text())
    gecko_id = manifest["browser_specific_settings"]["gecko"]["id"]
    policy = guard_policy(Path("/opt/kiosk-agent"), windows=False)
    settings = firefox_policies(policy)["ExtensionSettings"]
    assert settings == {
        gecko_id: {
            "installation_mode": "force_installed",
            "install_url": "file:///opt/kiosk-agent/browser-guard.xpi",
        }
    }
    windows = guard_policy(Path("C:/Program Files/kiosk-agent"), windows=True)
    assert windows.firefox_install_url == "file:///C:/Program%20Files/kiosk-agent/browser-guard.xpi"
