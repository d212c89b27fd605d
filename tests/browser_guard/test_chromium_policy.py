"""Chromium installs the guard from policy alone: ``ExtensionInstallForcelist`` names the
signed ``.crx``'s id and the guard API's update URL; the browser fetches the update
manifest and the package over loopback, verifies the signature, and the installed guard
blocks a listed HTTPS page.

Chromium reads managed policies only from ``/etc/chromium/policies/managed``. The browser
runs in a private mount namespace (``unshare -m``) with a temporary folder bound over
``/etc/chromium``, so the real folder is never written. Needs root (or the test skips,
and fails under CI=true).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk_agent.filter import crx
from kiosk_agent.filter.guard import CRX_PATH, UPDATE_PATH, load_package, update_url
from kiosk_agent.installer.browser_guard import xpi_bytes
from kiosk_agent.platform.browser_policies import GuardPolicy, chromium_policy
from kiosk_agent.platform.linux_browsers import CHROMIUM_POLICY_NAME
from tests.browser_guard.test_chromium import english_title, on_block_page, page_text, visit
from tests.browser_guard.world import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    LISTED_PATH,
    World,
    extension_copy,
    resolver_rules,
)
from tests.conftest import require

REAL_POLICY_DIR = Path("/etc/chromium")


def _can_unshare_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "true"], capture_output=True, check=False
    )
    return done.returncode == 0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing (Debian's chromium package)")
    require(_can_unshare_mount(), "needs root and unshare -m (a private mount namespace)")
    tmp = tmp_path_factory.mktemp("policy-world")
    w = World(tmp)
    w.start()
    # the package as the installer ships it, with this test's API address in it
    ext = extension_copy(tmp / "extension", w.api)
    data = crx.pack(xpi_bytes(ext), crx.load_key(crx.DEMO_KEY_FILE))
    (tmp / "guard.crx").write_bytes(data)
    w.guard.api.package = load_package(str(tmp / "guard.crx"), crx.DEMO_EXTENSION_ID, demo=True)
    yield w
    w.stop()


def policy_root(world: World) -> Path:
    """A copy of ``/etc/chromium`` with the guard's managed policy as the installer
    writes it."""
    root = world.tmp / "etc-chromium"
    if REAL_POLICY_DIR.is_dir():
        shutil.copytree(REAL_POLICY_DIR, root, dirs_exist_ok=True)
    assert world.guard.address is not None
    policy = GuardPolicy(
        firefox_install_url="file:///opt/kiosk-agent/browser-guard.xpi",
        chromium_id=crx.DEMO_EXTENSION_ID,
        chromium_update_url=update_url("127.0.0.1", world.guard.address[1]),
    )
    managed = chromium_policy(policy)
    target = root / "policies" / "managed" / CHROMIUM_POLICY_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(managed))
    return root


def namespaced_chromium(world: World, root: Path) -> Path:
    """A launcher: Chromium in its own mount namespace with ``root`` over /etc/chromium."""
    script = world.tmp / "chromium-with-policy"
    script.write_text(
        "#!/bin/sh\n"
        "exec unshare -m --propagation private sh -c "
        f'\'mount --bind "$0" /etc/chromium && exec {CHROMIUM} "$@"\' {root} "$@"\n'
    )
    script.chmod(0o755)
    return script


@pytest.fixture(scope="module")
def browser(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    launcher = namespaced_chromium(world, policy_root(world))
    tmp = tmp_path_factory.mktemp("chromium-policy")
    # the extension updater is background networking; every name but loopback resolves
    # to nothing (resolver_rules), so nothing leaves the machine
    flags = [f for f in CHROMIUM_FLAGS if f != "--disable-background-networking"]
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp / "profile"),
            executable_path=str(launcher),
            headless=False,
            ignore_https_errors=True,
            locale="en-US",
            args=[*flags, f"--host-resolver-rules={resolver_rules()}"],
            ignore_default_args=["--disable-extensions", "--disable-background-networking"],
        )
        try:
            yield context
        finally:
            context.close()


def test_policy_installs_the_signed_package_and_it_blocks(world: World, browser: Any) -> None:
    page = browser.new_page()
    # the browser asks the update URL and fetches the package as it starts; the guard,
    # once running, fetches its hint at the first page it sees
    for _ in range(60):
        visit(page, world.url("plain.test", "/warm-up.html"))
        if world.guard_counts()["hint_requests"] > 0:
            break
        page.wait_for_timeout(500)
    else:
        pytest.fail(f"the guard was not installed from policy: {world.guard_counts()}")
    assert world.guard_counts()["package_requests"] >= 2  # update manifest, then the .crx
    # the real folder was not touched
    assert not (REAL_POLICY_DIR / "policies" / "managed" / CHROMIUM_POLICY_NAME).exists()
    installed = world.tmp.parent.glob("*/profile/Default/Extensions/" + crx.DEMO_EXTENSION_ID)
    assert list(installed), "no extension folder under the profile"
    before = world.guard_counts()["hits"]
    visit(page, world.url("pages.test", LISTED_PATH))
    assert on_block_page(page, world), (page.url, world.guard_counts())
    assert english_title() in page_text(page)
    assert world.guard_counts()["hits"] == before + 1
    page.close()


def test_update_manifest_names_the_package_the_api_serves(world: World) -> None:
    import urllib.request

    assert world.guard.address is not None
    with urllib.request.urlopen(update_url("127.0.0.1", world.guard.address[1])) as r:
        manifest = r.read().decode()
    assert f'appid="{crx.DEMO_EXTENSION_ID}"' in manifest
    assert f'codebase="{world.api}{CRX_PATH}"' in manifest and 'version="1.0.0"' in manifest
    with urllib.request.urlopen(world.api + CRX_PATH) as r:
        assert r.headers["Content-Type"] == "application/x-chrome-extension"
        assert crx.read(r.read()).extension_id == crx.DEMO_EXTENSION_ID
    assert UPDATE_PATH in update_url("127.0.0.1", 8054)
