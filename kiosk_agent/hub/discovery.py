"""Finding the café hub on the LAN by mDNS / DNS-SD (``zeroconf``, imported here only).

The hub advertises ``_kiosk-agent._tcp`` with its addresses and port and nothing else
(no café name, no kiosk ids, no TXT properties). A kiosk browses for a few seconds in a
short-lived worker (``find_job``), so a kiosk's service never loads ``zeroconf``. Any
PC can answer: a hub found this way is never trusted with anything a kiosk cannot
verify (docs/cafe-hub.md).
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import time
from collections.abc import Mapping
from typing import Any

from kiosk_agent.hub.roles import SERVICE_TYPE

BROWSE_SECONDS = 3.0
NO_MDNS_ENV = "KIOSK_AGENT_NO_MDNS"
"""Set (to anything) to keep this process and its children off multicast DNS entirely:
no advert, no browse (test suites on a shared machine; networks where mDNS is unwanted).
A fixed ``cafe.hub`` address still works."""


def mdns_allowed() -> bool:
    import os

    return not os.environ.get(NO_MDNS_ENV)


def _lan_addresses() -> list[bytes]:
    import psutil

    out = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET:
                ip = ipaddress.ip_address(a.address)
                if not ip.is_loopback and not ip.is_link_local:
                    out.append(ip.packed)
    return out


class Advert:
    """A running advertisement; ``close`` withdraws it."""

    def __init__(self, zc: Any, info: Any) -> None:
        self.zc = zc
        self.info = info

    def close(self) -> None:
        try:
            self.zc.unregister_service(self.info)
        finally:
            self.zc.close()


def advertise(port: int) -> Advert | None:
    """Advertise this PC as the café's hub on ``port`` (blocking; run in a thread);
    None when mDNS is switched off (``NO_MDNS_ENV``)."""
    if not mdns_allowed():
        return None
    from zeroconf import ServiceInfo, Zeroconf

    tag = secrets.token_hex(4)  # a random instance name: nothing about the café or PC
    info = ServiceInfo(
        SERVICE_TYPE,
        f"hub-{tag}.{SERVICE_TYPE}",
        addresses=_lan_addresses(),
        port=port,
        server=f"hub-{tag}.local.",
    )
    zc = Zeroconf()
    zc.register_service(info)
    return Advert(zc, info)


def parse_found(addresses: list[str], port: int | None) -> list[str]:
    """Hub URLs from a DNS-SD answer: IPv4 private or documentation addresses only."""
    if port is None or not 0 < port < 65536:
        return []
    urls = []
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            continue
        if ip.version == 4 and not ip.is_loopback and not ip.is_multicast and not ip.is_unspecified:
            urls.append(f"http://{ip}:{port}")
    return urls


def browse(seconds: float = BROWSE_SECONDS) -> list[str]:
    """Hub URLs answering on the LAN within ``seconds``, first answer first."""
    if not mdns_allowed():
        return []
    from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf

    found: list[str] = []
    zc = Zeroconf()

    def on_change(zeroconf: Any, service_type: str, name: str, state_change: Any) -> None:
        if state_change is not ServiceStateChange.Added:
            return
        info = zeroconf.get_service_info(service_type, name, timeout=1500)
        if info is None:
            return
        for url in parse_found(info.parsed_addresses(), info.port):
            if url not in found:
                found.append(url)

    browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[on_change])
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not found:
            time.sleep(0.1)
    finally:
        browser.cancel()
        zc.close()
    return found


def find_job(config: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """``kiosk-agent worker hub-find``: browse for the hub once."""
    seconds = params.get("seconds", BROWSE_SECONDS)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= 30:
        raise ValueError("job parameter seconds must be 0-30")
    return {"hubs": browse(float(seconds))}
