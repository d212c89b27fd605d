"""What the browsers' policies say about the browser guard (issue 23), as plain data.

Chromium-family browsers (Chromium, Chrome, Edge) and Firefox are told to install the
guard extension and keep it (the user cannot disable or remove a force-installed
extension), to use the system's DNS rather than their own DNS-over-HTTPS, and to offer
no private/incognito or guest window (those run without extensions). The OS modules
(``linux_browsers.py``, ``windows_browsers.py``) write these values; the installer saves
the ``GuardPolicy`` in the state folder so the watchdog can put back what was removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kiosk_agent.atomic import write_atomic

FIREFOX_EXTENSION_ID = "browser-guard@kiosk-agent.example"
"""The extension's Firefox id (``browser_specific_settings.gecko.id`` in its manifest)."""
STATE_FILE = "browser-policies.json"


@dataclass(frozen=True)
class GuardPolicy:
    """Where browsers get the guard. ``chromium_id``/``chromium_update_url``: the packed
    extension's id and its update manifest, which the guard API serves with the ``.crx``
    at ``chromium_crx`` (None: Chromium policies are written without the force-install,
    and ``kiosk-agent doctor`` says the guard is missing there)."""

    firefox_install_url: str
    chromium_id: str | None = None
    chromium_update_url: str | None = None
    firefox_id: str = FIREFOX_EXTENSION_ID
    chromium_crx: str | None = None


def chromium_policy(policy: GuardPolicy) -> dict[str, Any]:
    """The managed policy for Chromium, Chrome and Edge (one JSON file on Linux; the same
    names as registry values on Windows)."""
    out: dict[str, Any] = {
        "DnsOverHttpsMode": "off",  # the browser resolves through the system (the agent)
        "IncognitoModeAvailability": 1,  # 1 = incognito disabled
        "BrowserGuestModeEnabled": False,  # a guest window runs without extensions
        "BrowserAddPersonEnabled": False,
    }
    if policy.chromium_id and policy.chromium_update_url:
        entry = f"{policy.chromium_id};{policy.chromium_update_url}"
        out["ExtensionInstallForcelist"] = [entry]  # force-installed: cannot be disabled
        # no developer mode: no unpacked look-alike, no reloading or stopping the guard
        out["ExtensionDeveloperModeSettings"] = 1
    return out


def firefox_policies(policy: GuardPolicy) -> dict[str, Any]:
    """The ``policies`` entries for Firefox (``policies.json`` or the registry)."""
    return {
        "ExtensionSettings": {
            policy.firefox_id: {
                "installation_mode": "force_installed",
                "install_url": policy.firefox_install_url,
            }
        },
        "DNSOverHTTPS": {"Enabled": False, "Locked": True},
        "DisablePrivateBrowsing": True,
    }


def merge_firefox(existing: Mapping[str, Any] | None, policy: GuardPolicy) -> dict[str, Any]:
    """``policies.json`` with the guard's entries added to what the operator has there."""
    doc = dict(existing or {})
    policies = dict(doc.get("policies") or {})
    ours = firefox_policies(policy)
    settings = dict(policies.get("ExtensionSettings") or {})
    settings.update(ours.pop("ExtensionSettings"))
    policies["ExtensionSettings"] = settings
    policies.update(ours)
    doc["policies"] = policies
    return doc


def strip_firefox(existing: Mapping[str, Any], policy: GuardPolicy) -> dict[str, Any]:
    """``policies.json`` without the guard's entries (the operator's own stay)."""
    doc = dict(existing)
    policies = dict(doc.get("policies") or {})
    settings = dict(policies.get("ExtensionSettings") or {})
    settings.pop(policy.firefox_id, None)
    if settings:
        policies["ExtensionSettings"] = settings
    else:
        policies.pop("ExtensionSettings", None)
    for key in ("DNSOverHTTPS", "DisablePrivateBrowsing"):
        policies.pop(key, None)
    doc["policies"] = policies
    return doc


def firefox_has_guard(existing: Mapping[str, Any] | None, policy: GuardPolicy) -> bool:
    """True when ``policies.json`` still carries every one of the guard's entries."""
    policies = (existing or {}).get("policies") or {}
    ours = firefox_policies(policy)
    settings = policies.get("ExtensionSettings") or {}
    return settings.get(policy.firefox_id) == ours["ExtensionSettings"][policy.firefox_id] and all(
        policies.get(k) == v for k, v in ours.items() if k != "ExtensionSettings"
    )


@dataclass(frozen=True)
class BrowserGuardState:
    """One browser found on the PC and whether its policies force-install the guard;
    ``where``: the policy file or key read; ``reason``: why not, in plain words."""

    browser: str
    guarded: bool
    where: str
    reason: str = ""


def chromium_forces_guard(documents: Sequence[Mapping[str, Any]], chromium_id: str | None) -> str:
    """ "" when one of a Chromium-family browser's managed policy documents (it merges
    them all) force-installs the guard, else why not."""
    if not documents:
        return "no managed policy"
    if chromium_id is None:
        return "the installer had no signed package for Chromium-family browsers"
    for doc in documents:
        forcelist = doc.get("ExtensionInstallForcelist")
        if isinstance(forcelist, list) and any(
            isinstance(e, str) and (e == chromium_id or e.startswith(chromium_id + ";"))
            for e in forcelist
        ):
            return ""
    return "the policy does not force-install the guard"


def firefox_forces_guard(doc: Mapping[str, Any] | None, firefox_id: str) -> str:
    """ "" when a Firefox ``policies.json`` (or its registry form) force-installs the
    guard, else why not."""
    if doc is None:
        return "no policies.json"
    policies = doc.get("policies", doc)  # the registry form has no "policies" level
    settings = policies.get("ExtensionSettings") if isinstance(policies, Mapping) else None
    entry = settings.get(firefox_id) if isinstance(settings, Mapping) else None
    if isinstance(entry, Mapping) and entry.get("installation_mode") == "force_installed":
        return ""
    return "the policy does not force-install the guard"


def save_policy(state_dir: Path, policy: GuardPolicy) -> None:
    """Remember what the installer wrote, for the watchdog (written atomically)."""
    write_atomic(state_dir / STATE_FILE, json.dumps(asdict(policy), indent=2).encode())


def load_policy(state_dir: Path) -> GuardPolicy | None:
    """What the installer wrote, or None (not installed, or the file is damaged)."""
    try:
        data = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
        return GuardPolicy(
            firefox_install_url=str(data["firefox_install_url"]),
            chromium_id=data.get("chromium_id"),
            chromium_update_url=data.get("chromium_update_url"),
            firefox_id=str(data.get("firefox_id") or FIREFOX_EXTENSION_ID),
            chromium_crx=data.get("chromium_crx"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
