"""Debian's firefox-esr with the guard, driven over WebDriver BiDi (its built-in remote
agent): the ``.xpi`` the installer builds is installed as a temporary add-on (unsigned is
allowed for those), and a listed HTTPS page on loopback is replaced by the block page
before the origin sees the request; an unlisted page of the same host loads.

The origin's certificate is issued by a test CA that only this profile trusts (added
to the profile's own NSS store with ``certutil``). Every name resolves to 127.0.0.1
(``network.dns.forceResolve``), so nothing leaves the machine.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kiosk_agent.filter.blockpage import load_page_texts
from kiosk_agent.installer.browser_guard import build_xpi
from tests.browser_guard.world import HOSTS, LISTED_PATH, Origin, World, extension_copy
from tests.conftest import require, require_tool

FIREFOX = "/usr/bin/firefox-esr"
PREFS = {
    "network.dns.forceResolve": "127.0.0.1",  # every name: loopback only
    "network.trr.mode": 5,  # no DNS over HTTPS
    "network.proxy.type": 0,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "intl.accept_languages": "en-US, en",
    "security.enterprise_roots.enabled": False,  # only the profile's own store
}


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca_and_leaf(tmp: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """(CA certificate, leaf certificate, leaf key) files: Firefox refuses a CA
    certificate used as the server's own (the other tests' self-signed one)."""
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))
    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("kiosk-agent TEST CA"))
        .issuer_name(_name("kiosk-agent TEST CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .sign(ca_key, hashes.SHA256())
    )
    files = tmp / "ca.pem", tmp / "leaf.pem", tmp / "leaf.key"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require(os.access(FIREFOX, os.X_OK), f"{FIREFOX} is missing (Debian's firefox-esr package)")
    tmp = tmp_path_factory.mktemp("firefox-world")
    w = World(tmp)
    _, leaf, key = make_ca_and_leaf(tmp, list(HOSTS))
    w.origin = Origin(leaf, key)
    w.start()
    yield w
    w.stop()


def make_profile(profile: Path, ca: Path) -> None:
    certutil = require_tool("certutil")  # Debian's libnss3-tools
    profile.mkdir(parents=True)
    subprocess.run(
        [certutil, "-N", "-d", f"sql:{profile}", "--empty-password"], check=True, timeout=60
    )
    subprocess.run(
        [
            certutil,
            "-A",
            "-d",
            f"sql:{profile}",
            "-n",
            "kiosk-agent TEST CA",
            "-t",
            "C,,",
            "-i",
            ca,
        ],
        check=True,
        timeout=60,
    )
    lines = [f"user_pref({_js(k)}, {_js(v)});" for k, v in PREFS.items()]
    (profile / "user.js").write_text("\n".join(lines) + "\n")


def _js(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture(scope="module")
def firefox(world: World) -> Iterator[tuple[Any, str]]:
    from tests.browser_guard.bidi import Firefox

    profile = world.tmp / "profile"
    make_profile(profile, world.tmp / "ca.pem")
    home = world.tmp / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(HOME=str(home), MOZ_HEADLESS="1")
    browser = Firefox(FIREFOX, profile, env)
    try:
        browser.send("session.new", {"capabilities": {}})
        xpi = world.tmp / "browser-guard.xpi"
        build_xpi(extension_copy(world.tmp / "extension", world.api), xpi)
        installed = browser.send(
            "webExtension.install", {"extensionData": {"type": "archivePath", "path": str(xpi)}}
        )
        assert installed["extension"] == "browser-guard@kiosk-agent.example"
        tree = browser.send("browsingContext.getTree", {})
        yield browser, tree["contexts"][0]["context"]
    finally:
        browser.close()
        shutil.rmtree(home, ignore_errors=True)


def navigate(browser: Any, context: str, url: str) -> None:
    """Navigate; a navigation the guard cancels is reported as an error, which is fine."""
    from tests.browser_guard.bidi import BidiError

    try:
        browser.send(
            "browsingContext.navigate", {"context": context, "url": url, "wait": "complete"}
        )
    except BidiError as e:
        if e.error != "unknown error":
            raise


def current(browser: Any, context: str) -> tuple[str, str]:
    """(URL, document title) of the tab."""
    url = browser.send("browsingContext.getTree", {"root": context})["contexts"][0]["url"]
    title = browser.send(
        "script.evaluate",
        {"expression": "document.title", "target": {"context": context}, "awaitPromise": False},
    )["result"].get("value", "")
    return str(url), str(title)


def test_listed_https_page_is_blocked_in_firefox_before_it_loads(
    world: World, firefox: tuple[Any, str]
) -> None:
    browser, tab = firefox
    for _ in range(40):  # the add-on's listeners are in place once it asks for the hint
        navigate(browser, tab, world.url("plain.test", "/warm-up.html"))
        if world.guard_counts()["hint_requests"] > 0:
            break
        time.sleep(0.25)
    else:
        pytest.fail(f"the guard never asked for its hint: {world.guard_counts()}")
    assert current(browser, tab)[1] == "origin page"  # the test CA is trusted
    before = world.guard_counts()
    navigate(browser, tab, world.url("pages.test", LISTED_PATH))
    end = time.monotonic() + 10
    while current(browser, tab)[0] != world.api + "/blocked" and time.monotonic() < end:
        time.sleep(0.1)
    url, title = current(browser, tab)
    assert url == world.api + "/blocked", (url, world.guard_counts())
    assert title == load_page_texts(["en"], "KE")["en"].title
    assert world.guard_counts()["hits"] == before["hits"] + 1
    # Firefox held the request until the answer: the origin never saw the listed page
    assert ("pages.test", LISTED_PATH) not in world.origin.requests


def test_unlisted_page_of_the_same_host_loads_in_firefox(
    world: World, firefox: tuple[Any, str]
) -> None:
    browser, tab = firefox
    before = world.guard_counts()
    navigate(browser, tab, world.url("pages.test", "/listed/other.html"))
    assert current(browser, tab) == (world.url("pages.test", "/listed/other.html"), "origin page")
    assert world.guard_counts()["checks"] > before["checks"]  # a suspect host: asked
    assert world.guard_counts()["hits"] == before["hits"]
