"""A loopback DNS server for tests (dnspython): fixed A/AAAA/CNAME records, UDP and TCP.

It records every question it receives, can stay silent (a dead upstream), answer
SERVFAIL, or truncate UDP answers to force a TCP retry.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


@dataclass
class FakeDnsState:
    a: dict[str, list[str]] = field(default_factory=dict)
    aaaa: dict[str, list[str]] = field(default_factory=dict)
    cname: dict[str, str] = field(default_factory=dict)
    mode: str = "answer"  # answer | silent | servfail | truncate
    questions: list[tuple[str, str, str]] = field(default_factory=list)  # (proto, name, type)


def _answer(state: FakeDnsState, wire: bytes, proto: str) -> bytes | None:
    query = dns.message.from_wire(wire)
    q = query.question[0]
    name = q.name.to_text(omit_final_dot=True).lower()
    qtype = dns.rdatatype.to_text(q.rdtype)
    state.questions.append((proto, name, qtype))
    if state.mode == "silent":
        return None
    response = dns.message.make_response(query)
    if state.mode == "servfail":
        response.set_rcode(dns.rcode.SERVFAIL)
        return response.to_wire()
    if state.mode == "truncate" and proto == "udp":
        response.flags |= dns.flags.TC
        return response.to_wire()
    current = name
    for _ in range(8):
        if current not in state.cname:
            break
        target = state.cname[current]
        response.answer.append(dns.rrset.from_text(current + ".", 300, "IN", "CNAME", target + "."))
        current = target
    table = state.a if qtype == "A" else state.aaaa if qtype == "AAAA" else {}
    known = current in state.a or current in state.aaaa or current in state.cname
    if current in table:
        response.answer.append(
            dns.rrset.from_text_list(current + ".", 120, "IN", qtype, table[current])
        )
    elif not known:
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response.to_wire()


class _Udp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        out = _answer(self.server.state, data, "udp")  # type: ignore[attr-defined]
        if out is not None:
            sock.sendto(out, self.client_address)


class _Tcp(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        header = self.rfile.read(2)
        if len(header) < 2:
            return
        data = self.rfile.read(int.from_bytes(header, "big"))
        out = _answer(self.server.state, data, "tcp")  # type: ignore[attr-defined]
        if out is not None:
            self.wfile.write(len(out).to_bytes(2, "big") + out)


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def fake_dns(state: FakeDnsState | None = None) -> Iterator[tuple[FakeDnsState, int]]:
    """Run the server on 127.0.0.1, UDP and TCP on the same ephemeral port."""
    state = state or FakeDnsState()
    for _ in range(20):
        udp = _UdpServer(("127.0.0.1", 0), _Udp)
        port = udp.server_address[1]
        try:
            tcp = _TcpServer(("127.0.0.1", port), _Tcp)
        except OSError:
            udp.server_close()
            continue
        break
    else:
        raise RuntimeError("no free port for the fake DNS server")
    udp.state = tcp.state = state  # type: ignore[attr-defined]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (udp, tcp)]
    for t in threads:
        t.start()
    try:
        yield state, port
    finally:
        for s in (udp, tcp):
            s.shutdown()
            s.server_close()


def silent_udp_port() -> tuple[socket.socket, int]:
    """A bound UDP socket that never answers: a dead upstream (close it when done)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]
