"""Linux: who owns the TCP listener at an address (``/proc/net/tcp``, ``/proc/net/tcp6``).

The tray asks before it sends an operator PIN: a customer who binds the control port
while the service is down would otherwise collect the PIN. ``SO_PEERCRED`` works only on
Unix sockets; for TCP the kernel lists every socket with its owner's uid in /proc/net.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column


def _address(hex_addr: str, byteorder: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as /proc/net prints it: 32-bit words in the host's byte order."""
    raw = bytes.fromhex(hex_addr)
    if len(raw) not in (4, 16):
        raise ValueError("address length")
    if byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw)
    v6 = ipaddress.IPv6Address(raw)
    return v6.ipv4_mapped or v6


def listener_uids(text: str, host: str, port: int, byteorder: str = sys.byteorder) -> list[int]:
    """The uids owning listeners that take connections to ``host:port`` (the exact address
    or a wildcard) in one /proc/net/tcp* table; malformed lines are skipped."""
    want = ipaddress.ip_address(host)
    uids = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8 or fields[3] != LISTEN:
            continue
        addr_hex, _, port_hex = fields[1].partition(":")
        try:
            addr = _address(addr_hex, byteorder)
            if int(port_hex, 16) != port:
                continue
            uid = int(fields[7])
        except ValueError:
            continue
        if addr == want or addr.is_unspecified:
            uids.append(uid)
    return uids


def listener_owner(host: str, port: int, proc: Path = Path("/proc/net")) -> set[int] | None:
    """The uids of the listeners at ``host:port``; None where /proc/net cannot be read."""
    uids: list[int] = []
    readable = False
    for name in ("tcp", "tcp6"):
        try:
            text = (proc / name).read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        readable = True
        uids += listener_uids(text, host, port)
    return set(uids) if readable else None
