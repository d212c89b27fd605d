"""Windows: the browser guard's policies as registry policy keys, set with ``reg``.

The values are those of ``browser_policies`` under HKLM\\SOFTWARE\\Policies for Chrome,
Edge and Chromium, and Firefox's registry form of the same ``policies.json`` entries.
The commands are pure functions of the policy; the tests check them exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from kiosk_agent.platform.base import CommandRunner, PlatformError, run_command
from kiosk_agent.platform.browser_policies import GuardPolicy, chromium_policy, firefox_policies

POLICY_ROOT = r"HKLM\SOFTWARE\Policies"
CHROMIUM_KEYS = (
    POLICY_ROOT + r"\Google\Chrome",
    POLICY_ROOT + r"\Microsoft\Edge",
    POLICY_ROOT + r"\Chromium",
)
FIREFOX_KEY = POLICY_ROOT + r"\Mozilla\Firefox"
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
