"""Windows: the browser guard's policies as registry policy keys, set with ``reg``.

The values are those of ``browser_policies`` under HKLM\\SOFTWARE\\Policies for Chrome,
Edge and Chromium, and Firefox's registry form of the same ``policies.json`` entries.
The commands are pure functions of the policy; the tests check them exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from kiosk_agent.platform.base import CommandRunner, PlatformError, run_command
from kiosk_agent.platform.browser_policies import (
    FIREFOX_EXTENSION_ID,
    BrowserGuardState,
    GuardPolicy,
    chromium_forces_guard,
    chromium_policy,
    firefox_forces_guard,
    firefox_policies,
)

POLICY_ROOT = r"HKLM\SOFTWARE\Policies"
CHROMIUM_KEYS = (
    POLICY_ROOT + r"\Google\Chrome",
    POLICY_ROOT + r"\Microsoft\Edge",
    POLICY_ROOT + r"\Chromium",
)
FIREFOX_KEY = POLICY_ROOT + r"\Mozilla\Firefox"
APP_PATHS = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\App Paths"
BROWSERS = (
    # (name, its App Paths entry: installed when present, its policy key)
    ("Google Chrome", "chrome.exe", CHROMIUM_KEYS[0]),
    ("Microsoft Edge", "msedge.exe", CHROMIUM_KEYS[1]),
    ("Firefox", "firefox.exe", FIREFOX_KEY),
)
"""Chromium itself has no installer of record on Windows (no App Paths entry); a copy
unpacked somewhere is a portable browser (docs/browser-guard.md)."""
FORCELIST_VALUE = "9023"
"""Our value's name in each ``ExtensionInstallForcelist`` key: a list policy's entries are
values named by numbers; a high one keeps clear of the operator's own entries 1, 2, ..."""


def _value(key: str, name: str, value: object) -> list[str]:
    if isinstance(value, bool):
        return ["reg", "add", key, "/v", name, "/t", "REG_DWORD", "/d", str(int(value)), "/f"]
    if isinstance(value, int):
        return ["reg", "add", key, "/v", name, "/t", "REG_DWORD", "/d", str(value), "/f"]
    return ["reg", "add", key, "/v", name, "/t", "REG_SZ", "/d", str(value), "/f"]


def registry_commands(policy: GuardPolicy) -> list[list[str]]:
    """The ``reg add`` commands that set every guard policy."""
    out: list[list[str]] = []
    for key in CHROMIUM_KEYS:
        for name, value in chromium_policy(policy).items():
            if name == "ExtensionInstallForcelist":
                assert isinstance(value, list)
                out.append(_value(key + r"\ExtensionInstallForcelist", FORCELIST_VALUE, value[0]))
            else:
                out.append(_value(key, name, value))
    ff = firefox_policies(policy)
    settings = json.dumps(ff["ExtensionSettings"], separators=(",", ":"))
    out.append(_value(FIREFOX_KEY, "ExtensionSettings", settings))  # JSON in a string value
    out.append(_value(FIREFOX_KEY + r"\DNSOverHTTPS", "Enabled", False))
    out.append(_value(FIREFOX_KEY + r"\DNSOverHTTPS", "Locked", True))
    out.append(_value(FIREFOX_KEY, "DisablePrivateBrowsing", True))
    return out


def registry_remove_commands(policy: GuardPolicy) -> list[list[str]]:
    """The ``reg delete`` commands that remove every value ``registry_commands`` sets."""
    out: list[list[str]] = []
    for command in registry_commands(policy):
        key, name = command[2], command[4]
        out.append(["reg", "delete", key, "/v", name, "/f"])
    return out


def registry_check_commands(policy: GuardPolicy) -> list[tuple[list[str], str]]:
    """(``reg query`` command, the data its output must show) for every value."""
    out = []
    for command in registry_commands(policy):
        key, name, data = command[2], command[4], command[8]
        kind = command[6]
        shown = hex(int(data)) if kind == "REG_DWORD" else data
        out.append((["reg", "query", key, "/v", name], shown))
    return out


_REG_LINE = re.compile(r"^ {4}(.+?) {4}(REG_[A-Z_]+)(?: {4}(.*))?$")


def parse_reg_query(output: str) -> dict[str, tuple[str, str]]:
    """The values ``reg query KEY`` lists directly under KEY: name -> (type, data).
    ``(Default)`` is the key's unnamed value; subkeys' lines are not values."""
    values: dict[str, tuple[str, str]] = {}
    for line in output.splitlines():
        match = _REG_LINE.match(line.rstrip("\r"))
        if match:
            values[match.group(1)] = (match.group(2), match.group(3) or "")
    return values


def chromium_state(forcelist_output: str | None, chromium_id: str | None) -> str:
    """Why a Chromium-family browser's registry policy does not force-install the guard
    ("" when it does), from ``reg query KEY\\ExtensionInstallForcelist`` (None: no key)."""
    if forcelist_output is None:
        return "no ExtensionInstallForcelist policy"
    entries = [
        data for kind, data in parse_reg_query(forcelist_output).values() if kind == "REG_SZ"
    ]
    return chromium_forces_guard([{"ExtensionInstallForcelist": entries}], chromium_id)


def firefox_state(settings_output: str | None, firefox_id: str) -> str:
    """The same for Firefox, from ``reg query KEY /v ExtensionSettings`` (JSON in a
    string value)."""
    if settings_output is None:
        return "no ExtensionSettings policy"
    value = parse_reg_query(settings_output).get("ExtensionSettings")
    try:
        settings = json.loads(value[1]) if value else None
    except ValueError:
        return "the ExtensionSettings policy is not valid JSON"
    if not isinstance(settings, dict):
        return "no ExtensionSettings policy"
    return firefox_forces_guard({"ExtensionSettings": settings}, firefox_id)


class WindowsBrowserPolicies:
    """Sets, removes and checks the registry policies through ``reg.exe``."""

    def _reg_runner(self) -> CommandRunner:
        runner: CommandRunner = getattr(self, "runner", None) or run_command
        return runner

    def _run_reg_all(self, commands: Sequence[list[str]], *, tolerate_missing: bool) -> list[str]:
        done = []
        for argv in commands:
            result = self._reg_runner()(argv)
            if result.returncode != 0 and not tolerate_missing:
                raise PlatformError(f"{' '.join(argv[:5])} failed: {result.stderr.strip()}")
            if result.returncode == 0:
                done.append(f"{argv[1]} {argv[2]} {argv[4]}")
        return done

    def write_browser_policies(self, root: Path, policy: GuardPolicy) -> list[str]:
        # ``root`` is for file-based OSes; the registry has no install prefix
        return self._run_reg_all(registry_commands(policy), tolerate_missing=False)

    def remove_browser_policies(self, root: Path, policy: GuardPolicy) -> list[str]:
        return self._run_reg_all(registry_remove_commands(policy), tolerate_missing=True)

    def missing_browser_policies(self, root: Path, policy: GuardPolicy) -> list[str]:
        missing = []
        for argv, shown in registry_check_commands(policy):
            result = self._reg_runner()(argv)
            if result.returncode != 0 or shown not in result.stdout:
                missing.append(f"{argv[2]}\\{argv[4]}")
        return missing

    def browser_guard_states(
        self, root: Path, policy: GuardPolicy | None
    ) -> list[BrowserGuardState]:
        """Each browser installed (its App Paths entry) and whether its registry policies
        force-install the guard."""

        def query(argv: list[str]) -> str | None:
            result = self._reg_runner()(argv)
            return result.stdout if result.returncode == 0 else None

        states = []
        for name, exe, key in BROWSERS:
            if query(["reg", "query", f"{APP_PATHS}\\{exe}", "/ve"]) is None:
                continue
            if key == FIREFOX_KEY:
                out = query(["reg", "query", key, "/v", "ExtensionSettings"])
                reason = firefox_state(out, policy.firefox_id if policy else FIREFOX_EXTENSION_ID)
            else:
                where = key + r"\ExtensionInstallForcelist"
                out = query(["reg", "query", where])
                reason = chromium_state(out, policy.chromium_id if policy else None)
            if reason and policy is None:
                reason = "`kiosk-agent install` has not written the guard's policies"
            states.append(BrowserGuardState(name, not reason, key, reason))
        return states
