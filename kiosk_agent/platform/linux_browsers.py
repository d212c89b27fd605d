"""Linux: the browser guard's policies as files (Chromium/Chrome/Edge managed policy
folders, Firefox's system-wide ``policies.json``), under an install root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kiosk_agent.atomic import write_atomic
from kiosk_agent.platform.base import PlatformError
from kiosk_agent.platform.browser_policies import (
    GuardPolicy,
    chromium_policy,
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
