"""The browser guard's policies: their content, the Linux files under a temporary root,
the Windows ``reg`` commands, and the watchdog that puts removed policies back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from kiosk_agent.config import Config
from kiosk_agent.contracts.report import is_counter_name
from kiosk_agent.filter.policy_watchdog import PolicyWatchdog, create_policy_watchdog
from kiosk_agent.platform.base import CommandResult
from kiosk_agent.platform.browser_policies import (
    FIREFOX_EXTENSION_ID,
    GuardPolicy,
    chromium_policy,
    firefox_has_guard,
    load_policy,
    merge_firefox,
    save_policy,
    strip_firefox,
)
from kiosk_agent.platform.linux import LinuxPlatform
from kiosk_agent.platform.linux_browsers import (
    CHROMIUM_POLICY_DIRS,
    CHROMIUM_POLICY_NAME,
    FIREFOX_POLICY_FILE,
    LinuxBrowserPolicies,
)
from kiosk_agent.platform.windows import WindowsPlatform
from kiosk_agent.platform.windows_browsers import (
    WindowsBrowserPolicies,
    registry_commands,
    registry_remove_commands,
)
from kiosk_agent.reporting.events import Event, TamperDetected
from kiosk_agent.service.context import ServiceContext
from tests.conftest import REPO_ROOT
from tests.platform.fake_runner import FakeRunner

POLICY = GuardPolicy(
    firefox_install_url="file:///opt/kiosk-agent/browser-guard.xpi",
    chromium_id="a" * 32,
    chromium_update_url="file:///opt/kiosk-agent/browser-guard-updates.xml",
)


def on_disk(root: Path, path: Path) -> Path:
    return root.joinpath(*path.parts[1:])


def test_chromium_policy_forces_the_extension_and_closes_the_side_doors() -> None:
    policy = chromium_policy(POLICY)
    assert policy["ExtensionInstallForcelist"] == [
        "a" * 32 + ";file:///opt/kiosk-agent/browser-guard-updates.xml"
    ]
    assert policy["DnsOverHttpsMode"] == "off"
    assert policy["IncognitoModeAvailability"] == 1
    assert policy["BrowserGuestModeEnabled"] is False
    # without a packed extension: the other policies, no force-install line
    assert "ExtensionInstallForcelist" not in chromium_policy(GuardPolicy("file:///x.xpi"))


def test_firefox_merge_keeps_the_operators_policies_and_strip_removes_ours() -> None:
    operator = {
        "policies": {
            "Homepage": {"URL": "https://cafe.example/"},
            "ExtensionSettings": {"other@addon.example": {"installation_mode": "blocked"}},
        }
    }
    merged = merge_firefox(operator, POLICY)
    policies = merged["policies"]
    assert policies["Homepage"] == {"URL": "https://cafe.example/"}
    assert policies["ExtensionSettings"][FIREFOX_EXTENSION_ID] == {
        "installation_mode": "force_installed",
        "install_url": "file:///opt/kiosk-agent/browser-guard.xpi",
    }
    assert policies["ExtensionSettings"]["other@addon.example"]["installation_mode"] == "blocked"
    assert policies["DNSOverHTTPS"] == {"Enabled": False, "Locked": True}
    assert policies["DisablePrivateBrowsing"] is True
    assert firefox_has_guard(merged, POLICY)
    assert strip_firefox(merged, POLICY) == operator
    assert not firefox_has_guard(operator, POLICY)
    assert not firefox_has_guard(None, POLICY)


def test_firefox_id_is_the_extensions() -> None:
    manifest = json.loads((REPO_ROOT / "browser_guard" / "manifest.json").read_text())
    assert manifest["browser_specific_settings"]["gecko"]["id"] == FIREFOX_EXTENSION_ID


def test_linux_writes_checks_and_removes_under_a_root(tmp_path: Path) -> None:
    browsers = LinuxBrowserPolicies()
    firefox = on_disk(tmp_path, FIREFOX_POLICY_FILE)
    firefox.parent.mkdir(parents=True)
    firefox.write_text(json.dumps({"policies": {"Homepage": {"URL": "https://cafe.example/"}}}))
    assert len(browsers.missing_browser_policies(tmp_path, POLICY)) == len(CHROMIUM_POLICY_DIRS) + 1
    lines = browsers.write_browser_policies(tmp_path, POLICY)
    assert len(lines) == len(CHROMIUM_POLICY_DIRS) + 1
    for folder in CHROMIUM_POLICY_DIRS:
        written = json.loads((on_disk(tmp_path, folder) / CHROMIUM_POLICY_NAME).read_text())
        assert written == chromium_policy(POLICY)
    assert (
        on_disk(tmp_path, CHROMIUM_POLICY_DIRS[0]) / CHROMIUM_POLICY_NAME
    ).stat().st_mode & 0o777 == 0o644
    ff = json.loads(firefox.read_text())
    assert ff["policies"]["Homepage"] == {"URL": "https://cafe.example/"}
    assert firefox_has_guard(ff, POLICY)
    assert browsers.missing_browser_policies(tmp_path, POLICY) == []
    assert browsers.write_browser_policies(tmp_path, POLICY) == lines  # idempotent
    # removing puts the operator's file back as it was; Chromium files go
    browsers.remove_browser_policies(tmp_path, POLICY)
    assert json.loads(firefox.read_text()) == {
        "policies": {"Homepage": {"URL": "https://cafe.example/"}}
    }
    for folder in CHROMIUM_POLICY_DIRS:
        assert not (on_disk(tmp_path, folder) / CHROMIUM_POLICY_NAME).exists()
    # a policies.json that held only ours is removed altogether
    firefox.unlink()
    browsers.write_browser_policies(tmp_path, POLICY)
    browsers.remove_browser_policies(tmp_path, POLICY)
    assert not firefox.exists()
    assert browsers.remove_browser_policies(tmp_path, POLICY) == []


def test_linux_damaged_files_count_as_missing(tmp_path: Path) -> None:
    browsers = LinuxBrowserPolicies()
    browsers.write_browser_policies(tmp_path, POLICY)
    chromium = on_disk(tmp_path, CHROMIUM_POLICY_DIRS[0]) / CHROMIUM_POLICY_NAME
    chromium.write_text("{not json")
    on_disk(tmp_path, FIREFOX_POLICY_FILE).write_text("[]")
    assert browsers.missing_browser_policies(tmp_path, POLICY) == [
        str(CHROMIUM_POLICY_DIRS[0] / CHROMIUM_POLICY_NAME),
        str(FIREFOX_POLICY_FILE),
    ]


def test_windows_reg_commands() -> None:
    commands = registry_commands(POLICY)
    chrome = r"HKLM\SOFTWARE\Policies\Google\Chrome"
    assert [
        "reg", "add", chrome + r"\ExtensionInstallForcelist", "/v", "9023", "/t", "REG_SZ",
        "/d", "a" * 32 + ";file:///opt/kiosk-agent/browser-guard-updates.xml", "/f",
    ] in commands  # fmt: skip
    assert [
        "reg",
        "add",
        chrome,
        "/v",
        "DnsOverHttpsMode",
        "/t",
        "REG_SZ",
        "/d",
        "off",
        "/f",
    ] in commands
    assert [
        "reg", "add", chrome, "/v", "IncognitoModeAvailability", "/t", "REG_DWORD", "/d", "1", "/f",
    ] in commands  # fmt: skip
    assert [
        "reg", "add", r"HKLM\SOFTWARE\Policies\Microsoft\Edge", "/v", "BrowserGuestModeEnabled",
        "/t", "REG_DWORD", "/d", "0", "/f",
    ] in commands  # fmt: skip
    firefox = r"HKLM\SOFTWARE\Policies\Mozilla\Firefox"
    settings = next(c for c in commands if c[2] == firefox and c[4] == "ExtensionSettings")
    assert json.loads(settings[8]) == {
        FIREFOX_EXTENSION_ID: {
            "installation_mode": "force_installed",
            "install_url": "file:///opt/kiosk-agent/browser-guard.xpi",
        }
    }
    assert [
        "reg",
        "add",
        firefox + r"\DNSOverHTTPS",
        "/v",
        "Enabled",
        "/t",
        "REG_DWORD",
        "/d",
        "0",
        "/f",
    ] in commands
    assert [
        "reg",
        "add",
        firefox,
        "/v",
        "DisablePrivateBrowsing",
        "/t",
        "REG_DWORD",
        "/d",
        "1",
        "/f",
    ] in commands
    assert all(c[:2] == ["reg", "add"] and c[-1] == "/f" for c in commands)
    removes = registry_remove_commands(POLICY)
    assert len(removes) == len(commands)
    assert ["reg", "delete", chrome, "/v", "DnsOverHttpsMode", "/f"] in removes


def test_windows_runs_reg_and_reads_back() -> None:
    written: dict[tuple[str, str], str] = {}

    def answer(argv: list[str]) -> CommandResult:
        if argv[1] == "add":
            written[(argv[2], argv[4])] = argv[8] if argv[6] == "REG_SZ" else hex(int(argv[8]))
            return CommandResult(0)
        if argv[1] == "delete":
            return CommandResult(0 if written.pop((argv[2], argv[4]), None) else 1, "", "not found")
        value = written.get((argv[2], argv[4]))
        if value is None:
            return CommandResult(1, "", "ERROR: The system was unable to find the value")
        return CommandResult(0, f"\n{argv[2]}\n    {argv[4]}    REG_X    {value}\n")

    runner = FakeRunner(answer)
    browsers = WindowsBrowserPolicies()
    browsers.runner = runner  # type: ignore[attr-defined]
    assert len(browsers.missing_browser_policies(Path("/"), POLICY)) == len(
        registry_commands(POLICY)
    )
    browsers.write_browser_policies(Path("/"), POLICY)
    assert browsers.missing_browser_policies(Path("/"), POLICY) == []
    del written[(r"HKLM\SOFTWARE\Policies\Mozilla\Firefox", "DisablePrivateBrowsing")]
    assert browsers.missing_browser_policies(Path("/"), POLICY) == [
        r"HKLM\SOFTWARE\Policies\Mozilla\Firefox\DisablePrivateBrowsing"
    ]
    browsers.remove_browser_policies(Path("/"), POLICY)  # a value already gone is fine
    assert written == {}
    assert set(runner.programs()) == {"reg"}


def test_windows_failure_is_a_platform_error() -> None:
    from kiosk_agent.platform.base import PlatformError

    browsers = WindowsBrowserPolicies()
    browsers.runner = FakeRunner(lambda argv: CommandResult(1, "", "Access is denied."))  # type: ignore[attr-defined]
    with pytest.raises(PlatformError, match="Access is denied"):
        browsers.write_browser_policies(Path("/"), POLICY)


def test_platforms_have_browser_policies() -> None:
    for platform in (LinuxPlatform, WindowsPlatform):
        for name in (
            "write_browser_policies",
            "remove_browser_policies",
            "missing_browser_policies",
        ):
            assert callable(getattr(platform, name))


def test_saved_policy_round_trip(tmp_path: Path) -> None:
    assert load_policy(tmp_path) is None
    save_policy(tmp_path, POLICY)
    assert load_policy(tmp_path) == POLICY
    (tmp_path / "browser-policies.json").write_text("{")
    assert load_policy(tmp_path) is None


def test_watchdog_restores_removed_policies_and_counts_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    root = tmp_path / "root"
    ctx = ServiceContext(Config(state_dir=state))
    events: list[Event] = []
    ctx.bus.subscribe(events.append)
    browsers = LinuxBrowserPolicies()
    watchdog = PolicyWatchdog(ctx, browsers, root)

    async def main() -> None:
        await watchdog.start()
        assert watchdog.status()["watching"] is False  # nothing installed: nothing to watch
        save_policy(state, POLICY)
        browsers.write_browser_policies(root, POLICY)
        assert await watchdog.check()
        (on_disk(root, CHROMIUM_POLICY_DIRS[0]) / CHROMIUM_POLICY_NAME).unlink()
        assert not await watchdog.check()
        assert browsers.missing_browser_policies(root, POLICY) == []
        assert await watchdog.check()
        await watchdog.start()
        assert watchdog.status()["watching"] is True
        await watchdog.stop()

    asyncio.run(main())
    assert events == [TamperDetected("policy_removed")]
    assert watchdog.status()["restored"] == 1
    assert is_counter_name("tamper.policy_removed")
    assert isinstance(create_policy_watchdog(ctx), PolicyWatchdog)
