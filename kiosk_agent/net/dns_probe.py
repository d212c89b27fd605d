"""Is a DNS server answering? One query over UDP, any well-formed reply with our id counts.

The installer asks this before it points the system's DNS at the agent (a PC whose
resolver does not answer would lose the internet), and the benchmarks use it to time
"service start to first answered query".
"""

from __future__ import annotations

import os
import socket
import struct
import time

from kiosk_agent.config import HostPort

# Answered by the resolver's bypass guard itself (NXDOMAIN), without any upstream: the
# probe then proves that the agent is up even while the café's link is down.
PROBE_NAME = "use-application-dns.net"


def build_query(name: str, qtype: int = 1, query_id: int | None = None) -> tuple[int, bytes]:
    """``(id, packet)``: a standard recursive query for ``name``."""
    qid = int.from_bytes(os.urandom(2), "big") if query_id is None else query_id
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    labels = b"".join(
        bytes([len(label)]) + label
        for label in (p.encode("idna") for p in name.strip(".").split("."))
    )
    return qid, header + labels + b"\x00" + struct.pack("!HH", qtype, 1)


def reply_code(packet: bytes, query_id: int) -> int | None:
    """The RCODE of ``packet`` if it is a reply to ``query_id``, else None."""
    if len(packet) < 12:
        return None
    qid, flags = struct.unpack("!HH", packet[:4])
    if qid != query_id or not flags & 0x8000:
        return None
    return int(flags) & 0x000F


def _exchange(address: HostPort, name: str, timeout: float) -> tuple[int, bytes] | None:
    """Send one A query for ``name`` to ``address``: ``(rcode, reply)``, or None if
    nothing answered (timeout, refused by ICMP port unreachable, unreachable)."""
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    qid, packet = build_query(name)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(packet, (address.host, address.port))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data = sock.recv(4096)
                code = reply_code(data, qid)
                if code is not None:
                    return code, data
        except OSError:
            return None
    return None


def answers(address: HostPort, *, name: str = PROBE_NAME, timeout: float = 1.0) -> int | None:
    """Send one query to ``address``; the reply's RCODE, or None if nothing answered."""
    got = _exchange(address, name, timeout)
    return None if got is None else got[0]


def wait_until_answering(
    address: HostPort, *, within: float = 15.0, interval: float = 0.05
) -> float | None:
    """Seconds until ``address`` first answered, or None if it did not within ``within``."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        if answers(address, timeout=min(0.5, within)) is not None:
            return time.monotonic() - start
        time.sleep(interval)
    return None


def addresses_in(packet: bytes) -> list[str]:
    """The IPv4 addresses of the A records in an answer's answer section (validated)."""
    from kiosk_agent.net import wire

    try:
        info = wire.parse_answer(packet)
    except wire.FormError:
        return []
    found = []
    for ttl_at in info.ttl_offsets[: info.ancount]:
        rtype = struct.unpack_from("!H", packet, ttl_at - 4)[0]
        rdlen = struct.unpack_from("!H", packet, ttl_at + 4)[0]
        if rtype == 1 and rdlen == 4:
            found.append(socket.inet_ntoa(packet[ttl_at + 6 : ttl_at + 10]))
    return found


def resolve(address: HostPort, name: str, *, timeout: float = 2.0) -> tuple[int, list[str]] | None:
    """Ask ``address`` for ``name``'s A records: ``(rcode, addresses)``, or None on no answer."""
    got = _exchange(address, name, timeout)
    return None if got is None else (got[0], addresses_in(got[1]))
