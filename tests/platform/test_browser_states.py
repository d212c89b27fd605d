"""What ``kiosk-agent doctor`` reads about the browsers: which are installed and whether
their policies force-install the guard. Linux under a temporary root; Windows as the
``reg query`` outputs the commands would print."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.platform.base import CommandResult
from kiosk_agent.platform.browser_policies import (
    FIREFOX_EXTENSION_ID,
    GuardPolicy,
    chromium_forces_guard,
    firefox_forces_guard,
)
from kiosk_agent.platform.linux_browsers import LinuxBrowserPolicies
from kiosk_agent.platform.windows_browsers import (
    APP_PATHS,
    WindowsBrowserPolicies,
    chromium_state,
    firefox_state,
    parse_reg_query,
    registry_commands,
)
from tests.platform.fake_runner import FakeRunner

ID = "a" * 32
POLICY = GuardPolicy(
    firefox_install_url="file:///opt/kiosk-agent/browser-guard.xpi",
    chromium_id=ID,
    chromium_update_url="http://127.0.0.1:8054/browser-guard/update.xml",
    chromium_crx="/opt/kiosk-agent/browser-guard.crx",
)


def _install(root: Path, *executables: str) -> None:
    for exe in executables:
        path = root / exe.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")


def test_pure_checks() -> None:
    assert chromium_forces_guard([], ID) == "no managed policy"
    assert chromium_forces_guard([{"ExtensionInstallForcelist": [f"{ID};http://x"]}], ID) == ""
    assert chromium_forces_guard([{"Other": 1}, {"ExtensionInstallForcelist": [ID]}], ID) == ""
    assert "does not force-install" in chromium_forces_guard(
        [{"ExtensionInstallForcelist": ["b" * 32 + ";http://x", f"x{ID};y"]}], ID
    )
    assert "no signed package" in chromium_forces_guard([{"A": 1}], None)
    forced = {"ExtensionSettings": {FIREFOX_EXTENSION_ID: {"installation_mode": "force_installed"}}}
    assert firefox_forces_guard({"policies": forced}, FIREFOX_EXTENSION_ID) == ""
    assert firefox_forces_guard(None, FIREFOX_EXTENSION_ID) == "no policies.json"
    allowed = {"ExtensionSettings": {FIREFOX_EXTENSION_ID: {"installation_mode": "allowed"}}}
    assert firefox_forces_guard({"policies": allowed}, FIREFOX_EXTENSION_ID)


def test_linux_reports_only_installed_browsers_and_their_policies(tmp_path: Path) -> None:
    browsers = LinuxBrowserPolicies()
    assert browsers.browser_guard_states(tmp_path, POLICY) == []  # nothing installed
    _install(tmp_path, "/usr/bin/chromium", "/usr/bin/firefox-esr")
    states = {s.browser: s for s in browsers.browser_guard_states(tmp_path, POLICY)}
    assert set(states) == {"Chromium", "Firefox"}  # Chrome and Edge are not installed
    assert not states["Chromium"].guarded and states["Chromium"].reason == "no managed policy"
    assert states["Firefox"].reason == "no policies.json"
    browsers.write_browser_policies(tmp_path, POLICY)
    states = {s.browser: s for s in browsers.browser_guard_states(tmp_path, POLICY)}
    assert all(s.guarded for s in states.values()), states
    # an operator's own file beside ours that lacks the entry does not hide ours
    managed = tmp_path / "etc/chromium/policies/managed"
    (managed / "cafe.json").write_text(json.dumps({"HomepageLocation": "https://cafe.example"}))
    (managed / "broken.json").write_text("{not json")
    assert all(s.guarded for s in browsers.browser_guard_states(tmp_path, POLICY))
    # our file edited to drop the force-install: reported, with the file named
    ours = managed / "kiosk-agent-browser-guard.json"
    doc = json.loads(ours.read_text())
    del doc["ExtensionInstallForcelist"]
    ours.write_text(json.dumps(doc))
    (chromium,) = [s for s in browsers.browser_guard_states(tmp_path, POLICY) if not s.guarded]
    assert chromium.browser == "Chromium" and chromium.where == "/etc/chromium/policies/managed"
    assert "does not force-install" in chromium.reason


def test_linux_without_an_install_says_so(tmp_path: Path) -> None:
    _install(tmp_path, "/opt/google/chrome/chrome")
    (state,) = LinuxBrowserPolicies().browser_guard_states(tmp_path, None)
    assert state.browser == "Google Chrome" and "has not written" in state.reason


REG_FORCELIST = (
    "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Google\\Chrome\\ExtensionInstallForcelist\r\n"
    "    1    REG_SZ    bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb;https://clients2.google.com/x\r\n"
    f"    9023    REG_SZ    {ID};http://127.0.0.1:8054/browser-guard/update.xml\r\n\r\n"
)


def test_parse_reg_query_reads_values_not_keys() -> None:
    values = parse_reg_query(REG_FORCELIST)
    assert values == {
        "1": ("REG_SZ", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb;https://clients2.google.com/x"),
        "9023": ("REG_SZ", f"{ID};http://127.0.0.1:8054/browser-guard/update.xml"),
    }
    out = "\r\nHKEY_LOCAL_MACHINE\\X\r\n    (Default)    REG_SZ    C:\\a b\\chrome.exe\r\n"
    assert parse_reg_query(out) == {"(Default)": ("REG_SZ", "C:\\a b\\chrome.exe")}
    assert parse_reg_query("    Empty    REG_SZ\r\n") == {"Empty": ("REG_SZ", "")}


@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z0-9_()]{1,12}", fullmatch=True),
        st.tuples(
            st.sampled_from(["REG_SZ", "REG_DWORD", "REG_EXPAND_SZ"]),
            st.from_regex(r"[ -~]{0,40}", fullmatch=True).map(str.strip),
        ),
        max_size=5,
    )
)
def test_parse_reg_query_round_trips(values: dict[str, tuple[str, str]]) -> None:
    lines = ["", "HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Test"]
    for name, (kind, data) in values.items():
        lines.append(f"    {name}    {kind}    {data}" if data else f"    {name}    {kind}")
    lines.append("HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Test\\Subkey")
    assert parse_reg_query("\r\n".join(lines) + "\r\n") == values


@given(st.text(max_size=200))
def test_parse_reg_query_takes_any_text(text: str) -> None:
    assert isinstance(parse_reg_query(text), dict)


def test_windows_states_from_reg_queries() -> None:
    assert chromium_state(REG_FORCELIST, ID) == ""
    assert chromium_state(REG_FORCELIST, "c" * 32)  # another id: not ours
    assert chromium_state(None, ID) == "no ExtensionInstallForcelist policy"
    settings = json.dumps(
        {FIREFOX_EXTENSION_ID: {"installation_mode": "force_installed", "install_url": "x"}}
    )
    firefox = (
        f"\r\nHKEY_LOCAL_MACHINE\\...\\Firefox\r\n    ExtensionSettings    REG_SZ    {settings}\r\n"
    )
    assert firefox_state(firefox, FIREFOX_EXTENSION_ID) == ""
    assert "not valid JSON" in firefox_state(firefox.replace("{", "[", 1), FIREFOX_EXTENSION_ID)
    assert firefox_state(None, FIREFOX_EXTENSION_ID) == "no ExtensionSettings policy"


def test_windows_asks_the_registry_for_installed_browsers_only() -> None:
    """Chrome and Firefox installed (App Paths), Edge not; the written policies read back
    as ``reg query`` prints them; then Chrome's force-list value is deleted."""
    written: dict[tuple[str, str], str] = {}
    for argv in registry_commands(POLICY):
        written[(argv[2], argv[4])] = argv[8]
    installed = {f"{APP_PATHS}\\chrome.exe", f"{APP_PATHS}\\firefox.exe"}

    def answer(argv: list[str]) -> CommandResult:
        assert argv[:2] == ["reg", "query"]  # read-only
        key = argv[2]
        if argv[3:] == ["/ve"]:
            return CommandResult(0 if key in installed else 1, "", "not found")
        if len(argv) > 3:  # /v NAME
            data = written.get((key, argv[4]))
            if data is None:
                return CommandResult(1, "", "not found")
            return CommandResult(0, f"\r\n{key}\r\n    {argv[4]}    REG_SZ    {data}\r\n")
        values = [(n, d) for (k, n), d in written.items() if k == key]
        if not values:
            return CommandResult(1, "", "not found")
        body = "".join(f"    {n}    REG_SZ    {d}\r\n" for n, d in values)
        return CommandResult(0, f"\r\n{key}\r\n{body}")

    browsers = WindowsBrowserPolicies()
    browsers.runner = FakeRunner(answer)  # type: ignore[attr-defined]
    states = {s.browser: s for s in browsers.browser_guard_states(Path("/"), POLICY)}
    assert set(states) == {"Google Chrome", "Firefox"}
    assert all(s.guarded for s in states.values()), states
    del written[("HKLM\\SOFTWARE\\Policies\\Google\\Chrome\\ExtensionInstallForcelist", "9023")]
    states = {s.browser: s for s in browsers.browser_guard_states(Path("/"), POLICY)}
    assert not states["Google Chrome"].guarded and states["Firefox"].guarded
    assert states["Google Chrome"].reason == "no ExtensionInstallForcelist policy"
