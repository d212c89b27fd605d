"""A tiny authoritative DNS responder on loopback: the demo's (and smoke tests') upstream.

It answers A queries for a fixed table of demo names (reserved ``*.test`` / ``*.example``
names, documentation addresses), NODATA for other types of those names, and NXDOMAIN for
everything else, over UDP and TCP. It never forwards anything: a demo or a test must not
reach the machine's own resolver or the internet.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import threading
from collections.abc import Mapping

from kiosk_agent.config import HostPort
from kiosk_agent.net import wire

DEMO_RECORDS: dict[str, str] = {
    "news.example": "192.0.2.10",
    "homework-help.example": "192.0.2.11",
    "games.example": "192.0.2.12",
    "football.test": "192.0.2.13",
    # Listed in the demo feed: the agent must never let these reach this upstream.
    "blocked-demo.test": "192.0.2.66",
    "bad-pictures.blocked-demo.test": "192.0.2.67",
    "unsafe-chat.example": "192.0.2.68",
    # Every other name under a listed demo domain has an address here too, so that
    # NXDOMAIN at a client means the agent blocked the name: a leak shows an address.
    "*.blocked-demo.test": "192.0.2.69",
    "*.unsafe-chat.example": "192.0.2.70",
}

TTL = 300


def answer_for(
    packet: bytes, records: Mapping[str, str], seen: set[str] | None = None
) -> bytes | None:
    """The reply to one query packet, or None to drop it (an answer, or unreadable).

    ``seen`` collects the names asked (the demo shows that listed names never arrive).
    """
    try:
        _qid, flags, qdcount, _an, _ns, _ar = wire.read_header(packet)
    except wire.FormError:
        return None
    if flags & wire.QR:
        return None
    if qdcount != 1 or flags & wire.OPCODE_MASK:
        return wire.formerr_for(packet)
    try:
        query = wire.parse_query(packet)
    except wire.FormError:
        return wire.formerr_for(packet)
    if seen is not None:
        seen.add(query.name)
    address = records.get(query.name) or _wildcard(records, query.name)
    if address is None:
        return wire.make_response(query, wire.NXDOMAIN, authority=wire.soa_rr(TTL))
    if query.qtype != wire.TYPE_A or query.qclass != wire.CLASS_IN:
        return wire.make_response(query, wire.NOERROR, authority=wire.soa_rr(TTL))
    rdata = ipaddress.IPv4Address(address).packed
    return wire.make_response(query, wire.NOERROR, wire.rr(wire.TYPE_A, TTL, rdata), 1)


def _wildcard(records: Mapping[str, str], name: str) -> str | None:
    """The address of the nearest ``*.parent`` record above ``name``, if any."""
    while "." in name:
        name = name.split(".", 1)[1]
        address = records.get("*." + name)
        if address is not None:
            return address
    return None


def _bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a listening TCP socket on the same port. With ``port`` 0 the kernel picks
    the UDP port, and another process may hold that port for TCP: try another (a failed
    try closes its sockets, so nothing leaks)."""
    for attempt in range(20):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((host, port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(16)
        except OSError:
            udp.close()
            tcp.close()
            if port or attempt == 19:
                raise
            continue
        return udp, tcp
    raise AssertionError("unreachable")


class DemoUpstream:
    """Serves ``records`` on ``host`` (an ephemeral port unless one is given) in threads."""

    def __init__(
        self, records: Mapping[str, str] | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.records = dict(DEMO_RECORDS if records is None else records)
        self.queries = 0  # how many queries reached the upstream (the demo shows it)
        self.names_seen: set[str] = set()  # the demo checks no listed name got here
        self._udp, self._tcp = _bind_pair(host, port)
        bound = self._udp.getsockname()
        self.address = HostPort(bound[0], bound[1])
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._serve_udp, name="demo-upstream-udp", daemon=True),
            threading.Thread(target=self._serve_tcp, name="demo-upstream-tcp", daemon=True),
        ]

    def start(self) -> DemoUpstream:
        for t in self._threads:
            t.start()
        return self

    def _serve_udp(self) -> None:
        self._udp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                packet, peer = self._udp.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.queries += 1
            reply = answer_for(packet, self.records, self.names_seen)
            if reply is not None:
                with contextlib.suppress(OSError):
                    self._udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        self._tcp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _peer = self._tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._tcp_client, args=(conn,), daemon=True).start()

    def _tcp_client(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                while True:
                    head = _recv_exact(conn, 2)
                    if head is None:
                        return
                    packet = _recv_exact(conn, struct.unpack("!H", head)[0])
                    if packet is None:
                        return
                    self.queries += 1
                    reply = answer_for(packet, self.records, self.names_seen)
                    if reply is None:
                        return
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        for sock in (self._udp, self._tcp):
            with contextlib.suppress(OSError):
                sock.close()
        for t in self._threads:
            if t.is_alive():
                t.join(timeout=2)

    def __enter__(self) -> DemoUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data
