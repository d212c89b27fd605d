"""The system's DNS settings from before the agent was installed, kept in ``state_dir``.

The installer saves them once (a re-run never overwrites them with the agent's own
address); the resolver's ``upstreams: [auto]`` forwards to them; ``uninstall`` restores
them. The file holds resolver addresses only, never a query or a name.
"""

from __future__ import annotations

import json
from pathlib import Path

from kiosk_agent.atomic import write_text_atomic
from kiosk_agent.platform.base import DnsSnapshot

SAVED_DNS_FILE = "dns-before-install.json"


def saved_dns_path(state_dir: Path) -> Path:
    return state_dir / SAVED_DNS_FILE


def snapshot_to_json(snapshot: DnsSnapshot) -> str:
    return json.dumps(
        {
            "method": snapshot.method,
            "global_servers": list(snapshot.global_servers),
            "interfaces": {k: list(v) for k, v in snapshot.interfaces.items()},
        },
        indent=2,
        sort_keys=True,
    )


def snapshot_from_json(text: str) -> DnsSnapshot:
    """Parse what ``snapshot_to_json`` wrote; raises ``ValueError`` for anything else.

    A plain ``{"servers": [...]}`` (written by hand, or by a packager) is read too, as
    global servers with the method ``saved``.
    """
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("expected an object")
    method = data.get("method", "saved")
    if not isinstance(method, str):
        raise ValueError("method must be a text")
    servers = data.get("global_servers", data.get("servers", []))
    interfaces = data.get("interfaces", {})
    if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
        raise ValueError("global_servers must be a list of addresses")
    if not isinstance(interfaces, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v)
        for k, v in interfaces.items()
    ):
        raise ValueError("interfaces must map names to lists of addresses")
    return DnsSnapshot(
        method=method,
        global_servers=tuple(servers),
        interfaces={k: tuple(v) for k, v in interfaces.items()},
    )


def save_snapshot(state_dir: Path, snapshot: DnsSnapshot) -> Path:
    path = saved_dns_path(state_dir)
    write_text_atomic(path, snapshot_to_json(snapshot) + "\n", 0o600)
    return path


def load_snapshot(state_dir: Path) -> DnsSnapshot | None:
    """The saved settings, or None if there are none (or the file is unreadable)."""
    try:
        return snapshot_from_json(saved_dns_path(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def upstreams_before_install(state_dir: Path, own: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The saved servers, minus the agent's own listen addresses (``upstreams: [auto]``)."""
    snapshot = load_snapshot(state_dir)
    if snapshot is None:
        return ()
    return tuple(s for s in snapshot.all_servers() if s not in own)
