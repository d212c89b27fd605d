"""Where a regional server pushes to: its parent's HTTPS address (checked once, here)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

PUSH_PATH = "/api/v1/parent/aggregates"


def check_parent_url(url: str) -> str:
    """The push endpoint for ``parent_url``: HTTPS, or plain HTTP to loopback only."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url.rstrip("/") + PUSH_PATH
    if parts.scheme == "http" and host:
        try:
            if host == "localhost" or ipaddress.ip_address(host).is_loopback:
                return url.rstrip("/") + PUSH_PATH
        except ValueError:
            pass
    raise ValueError(f"parent_url {url!r}: use https:// (plain http only to a loopback address)")
