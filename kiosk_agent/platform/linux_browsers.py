"""Linux: the browser guard's policies as files (Chromium/Chrome/Edge managed policy
folders, Firefox's system-wide ``policies.json``), under an install root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kiosk_agent.atomic import write_atomic
from kiosk_agent.platform.base import PlatformError
from kiosk_agent.platform.browser_policies import (
    FIREFOX_EXTENSION_ID,
    BrowserGuardState,
    GuardPolicy,
    chromium_forces_guard,
    chromium_policy,
    firefox_forces_guard,
    firefox_has_guard,
    merge_firefox,
    strip_firefox,
)

CHROMIUM_POLICY_DIRS = (
    Path("/etc/chromium/policies/managed"),  # Debian's chromium
    Path("/etc/opt/chrome/policies/managed"),  # Google Chrome
    Path("/etc/opt/edge/policies/managed"),  # Microsoft Edge
)
CHROMIUM_POLICY_NAME = "kiosk-agent-browser-guard.json"
FIREFOX_POLICY_FILE = Path("/etc/firefox/policies/policies.json")  # firefox and firefox-esr
BROWSERS = (
    # (name, executables that mean it is installed, its policy folder or file)
    ("Chromium", ("/usr/bin/chromium", "/usr/bin/chromium-browser"), CHROMIUM_POLICY_DIRS[0]),
    ("Google Chrome", ("/opt/google/chrome/chrome",), CHROMIUM_POLICY_DIRS[1]),
    ("Microsoft Edge", ("/opt/microsoft/msedge/msedge",), CHROMIUM_POLICY_DIRS[2]),
    (
        "Firefox",
        ("/usr/bin/firefox", "/usr/bin/firefox-esr", "/usr/lib/firefox/firefox"),
        FIREFOX_POLICY_FILE,
    ),
)
"""Browsers installed from packages. A snap or flatpak browser reads its policies from
its own confinement and is not found here (docs/browser-guard.md)."""


def _under(root: Path, path: Path) -> Path:
    return root.joinpath(*path.parts[1:])


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise PlatformError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise PlatformError(f"{path} is not a JSON object")
    return data


def _dump(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


class LinuxBrowserPolicies:
    """Writes, removes and checks the guard's policy files (files stay readable by all:
    browsers run as the customer)."""

    def write_browser_policies(self, root: Path, policy: GuardPolicy) -> list[str]:
        done = []
        body = _dump(chromium_policy(policy))
        for folder in CHROMIUM_POLICY_DIRS:
            path = _under(root, folder) / CHROMIUM_POLICY_NAME
            write_atomic(path, body, mode=0o644)
            done.append(f"wrote {folder / CHROMIUM_POLICY_NAME}")
        firefox = _under(root, FIREFOX_POLICY_FILE)
        write_atomic(firefox, _dump(merge_firefox(_read_json(firefox), policy)), mode=0o644)
        done.append(f"wrote {FIREFOX_POLICY_FILE} (the guard's entries)")
        return done

    def remove_browser_policies(self, root: Path, policy: GuardPolicy) -> list[str]:
        done = []
        for folder in CHROMIUM_POLICY_DIRS:
            path = _under(root, folder) / CHROMIUM_POLICY_NAME
            if path.exists():
                path.unlink()
                done.append(f"removed {folder / CHROMIUM_POLICY_NAME}")
        firefox = _under(root, FIREFOX_POLICY_FILE)
        existing = _read_json(firefox)
        if existing is not None:
            left = strip_firefox(existing, policy)
            if left.get("policies") or set(left) - {"policies"}:
                write_atomic(firefox, _dump(left), mode=0o644)
                done.append(f"removed the guard's entries from {FIREFOX_POLICY_FILE}")
            else:
                firefox.unlink()
                done.append(f"removed {FIREFOX_POLICY_FILE}")
        return done

    def missing_browser_policies(self, root: Path, policy: GuardPolicy) -> list[str]:
        """The policy files (as the system names them) that no longer say what we wrote."""
        missing = []
        want = chromium_policy(policy)
        for folder in CHROMIUM_POLICY_DIRS:
            path = _under(root, folder) / CHROMIUM_POLICY_NAME
            try:
                intact = _read_json(path) == want
            except PlatformError:
                intact = False
            if not intact:
                missing.append(str(folder / CHROMIUM_POLICY_NAME))
        try:
            intact = firefox_has_guard(_read_json(_under(root, FIREFOX_POLICY_FILE)), policy)
        except PlatformError:
            intact = False
        if not intact:
            missing.append(str(FIREFOX_POLICY_FILE))
        return missing

    def browser_guard_states(
        self, root: Path, policy: GuardPolicy | None
    ) -> list[BrowserGuardState]:
        """Each browser installed under ``root`` and whether its policies force-install
        the guard (``policy``: what the installer wrote, None if it never did)."""
        states = []
        for name, executables, where in BROWSERS:
            if not any(_under(root, Path(e)).is_file() for e in executables):
                continue
            if where == FIREFOX_POLICY_FILE:
                try:
                    doc = _read_json(_under(root, where))
                except PlatformError:
                    doc = None
                firefox_id = policy.firefox_id if policy else FIREFOX_EXTENSION_ID
                reason = firefox_forces_guard(doc, firefox_id)
            else:
                reason = chromium_forces_guard(
                    _managed_documents(_under(root, where)), policy.chromium_id if policy else None
                )
            if reason and policy is None:
                reason = "`kiosk-agent install` has not written the guard's policies"
            states.append(BrowserGuardState(name, not reason, str(where), reason))
        return states


def _managed_documents(folder: Path) -> list[dict[str, Any]]:
    """Every readable JSON object in a managed policy folder (Chromium merges them)."""
    docs = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            doc = _read_json(path)
        except PlatformError:
            continue
        if doc is not None:
            docs.append(doc)
    return docs
