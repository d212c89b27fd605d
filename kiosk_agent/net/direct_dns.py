"""A tiny DNS stub client: A/AAAA lookups sent straight to given upstream servers.

The agent's own HTTP calls (feed updates, uploads, enrollment) must work before the
local resolver is up and must never depend on it, nor on the system resolver (which
an installed kiosk points at the local resolver). So they look names up here: one
UDP exchange per upstream (A and AAAA in flight together), TCP when the answer is
truncated, failover to the next upstream on timeout, SERVFAIL or REFUSED.

Every response byte is read through the resolver's one DNS reader
(``kiosk_agent/net/wire.py``); a packet shorter than it claims or a compression pointer
that does not point strictly backwards becomes ``DnsFormatError``, and
``parse_response`` raises nothing else.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import select
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kiosk_agent.config import HostPort
from kiosk_agent.net import wire
from kiosk_agent.net.wire import CLASS_IN as CLASS_IN
from kiosk_agent.net.wire import TYPE_A as TYPE_A
from kiosk_agent.net.wire import TYPE_AAAA as TYPE_AAAA
from kiosk_agent.net.wire import TYPE_CNAME as TYPE_CNAME
from kiosk_agent.platform.agent_mark import mark_socket

log = logging.getLogger(__name__)

RCODE_NOERROR = wire.NOERROR
RCODE_NXDOMAIN = wire.NXDOMAIN
MAX_CNAME_HOPS = 8
MIN_CACHE_TTL = 30.0
MAX_CACHE_TTL = 3600.0


class DnsLookupError(Exception):
    """A name could not be resolved: it does not exist, has no address, or no upstream answered."""


class DnsFormatError(DnsLookupError):
    """A response packet is malformed (short, bad pointer, wrong question)."""


def encode_name(name: str) -> bytes:
    """The wire form of an ASCII host name; raises ``DnsLookupError`` for an invalid one."""
    labels = name.rstrip(".").lower().split(".")
    out = bytearray()
    for label in labels:
        raw = label.encode("ascii", "strict") if label.isascii() else b""
        if not raw or len(raw) > 63:
            raise DnsLookupError(f"not a valid host name: {name[:80]!r}")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > 255:
        raise DnsLookupError(f"host name too long: {name[:80]!r}")
    return bytes(out)


def build_query(qid: int, name: str, qtype: int) -> bytes:
    """A recursive query (RD set) for ``name`` / ``qtype`` / IN with message id ``qid``."""
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", qtype, CLASS_IN)


@dataclass(frozen=True)
class Answer:
    """What one response says about one question."""

    rcode: int
    truncated: bool
    addresses: tuple[str, ...] = ()
    ttl: float = 0.0


def parse_response(data: bytes, qid: int, name: str, qtype: int) -> Answer:
    """Read a response to ``build_query(qid, name, qtype)``.

    Follows CNAME chains inside the answer section (at most ``MAX_CNAME_HOPS``).
    Raises ``DnsFormatError`` (and nothing else) when the packet is malformed or is not
    an answer to that question.
    """
    try:
        return _parse_response(data, qid, name, qtype)
    except wire.FormError as e:
        raise DnsFormatError(str(e)) from None


def _parse_response(data: bytes, qid: int, name: str, qtype: int) -> Answer:
    rid, flags, qdcount, ancount, _nscount, _arcount = wire.read_header(data)
    if rid != qid or not flags & wire.QR:
        raise DnsFormatError("not a response to our query")
    if (flags >> 11) & 0xF != 0:
        raise DnsFormatError("unexpected opcode")
    rcode = flags & 0xF
    truncated = bool(flags & wire.TC)
    if qdcount != 1:
        if truncated or rcode != RCODE_NOERROR:
            return Answer(rcode, truncated)
        raise DnsFormatError("response does not repeat the question")
    r = wire.Reader(data, wire.HEADER_LEN)
    qname, r.pos = wire.read_name(data, r.pos)
    rqtype, rqclass = r.get_u16(), r.get_u16()
    if qname != name.rstrip(".").lower() or rqtype != qtype or rqclass != CLASS_IN:
        raise DnsFormatError("response is for another question")
    if truncated or rcode != RCODE_NOERROR:
        return Answer(rcode, truncated)

    cnames: dict[str, tuple[str, int]] = {}
    addresses: dict[str, list[tuple[str, int]]] = {}
    for _ in range(ancount):
        owner, r.pos = wire.read_name(data, r.pos)
        rtype, rclass, ttl, rdlength, _ttl_at = r.get_rr_fixed()
        rdata_start = r.pos
        rdata = r.get_bytes(rdlength)
        if rclass != CLASS_IN:
            continue
        if rtype == TYPE_CNAME:
            target, end = wire.read_name(data, rdata_start)
            if end != r.pos:
                raise DnsFormatError("CNAME data length mismatch")
            cnames[owner] = (target, ttl)
        elif rtype == qtype == TYPE_A and rdlength == 4:
            addresses.setdefault(owner, []).append((str(ipaddress.IPv4Address(rdata)), ttl))
        elif rtype == qtype == TYPE_AAAA and rdlength == 16:
            addresses.setdefault(owner, []).append((str(ipaddress.IPv6Address(rdata)), ttl))

    current = qname
    ttls: list[int] = []
    for _ in range(MAX_CNAME_HOPS):
        if current in addresses or current not in cnames:
            break
        current, ttl = cnames[current]
        ttls.append(ttl)
    found = addresses.get(current, [])
    ttls += [ttl for _, ttl in found]
    return Answer(rcode, False, tuple(a for a, _ in found), float(min(ttls)) if ttls else 0.0)


class _ServerFailed(Exception):
    """This upstream did not give a usable answer; try the next one."""


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _tcp_exchange(server: HostPort, query: bytes, deadline: float) -> bytes:
    timeout = max(0.05, deadline - time.monotonic())
    with socket.socket(_family(server.host), socket.SOCK_STREAM) as sock:
        mark_socket(sock)  # the outbound DNS firewall lets only marked sockets out
        sock.settimeout(timeout)
        sock.connect((server.host, server.port))
        sock.sendall(struct.pack("!H", len(query)) + query)
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
            chunk = sock.recv(65537)
            if not chunk:
                raise _ServerFailed("TCP connection closed early")
            buf += chunk
        length = struct.unpack("!H", buf[:2])[0]
        return buf[2 : 2 + length]


def _ask(server: HostPort, name: str, timeout: float) -> tuple[list[str], float, bool]:
    """Ask one upstream for A and AAAA at once: (addresses, ttl, name_exists)."""
    qtypes = (TYPE_A, TYPE_AAAA)
    ids = {qtype: secrets.randbits(16) for qtype in qtypes}
    queries = {qtype: build_query(ids[qtype], name, qtype) for qtype in qtypes}
    answers: dict[int, Answer] = {}
    deadline = time.monotonic() + timeout
    try:
        with socket.socket(_family(server.host), socket.SOCK_DGRAM) as sock:
            mark_socket(sock)  # the outbound DNS firewall lets only marked sockets out
            # connect(): the kernel then drops datagrams from any other source.
            sock.connect((server.host, server.port))
            for query in queries.values():
                sock.send(query)
            while len(answers) < len(qtypes):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([sock], [], [], left)[0]:
                    break
                data = sock.recv(65535)
                for qtype in qtypes:
                    if qtype in answers:
                        continue
                    try:
                        answers[qtype] = parse_response(data, ids[qtype], name, qtype)
                    except DnsFormatError:
                        continue
                    break
        for qtype, answer in list(answers.items()):
            if answer.truncated:
                data = _tcp_exchange(server, queries[qtype], deadline)
                answers[qtype] = parse_response(data, ids[qtype], name, qtype)
    except (OSError, DnsFormatError) as e:
        if not answers:
            raise _ServerFailed(str(e)) from e
    if not answers:
        raise _ServerFailed("no answer before the timeout")
    if any(a.rcode == RCODE_NXDOMAIN for a in answers.values()):
        return [], 0.0, False
    good = [a for a in answers.values() if a.rcode == RCODE_NOERROR and not a.truncated]
    if not good:
        raise _ServerFailed(f"rcode {next(iter(answers.values())).rcode}")
    addresses = [addr for qtype in qtypes if qtype in answers for addr in answers[qtype].addresses]
    ttls = [a.ttl for a in good if a.addresses]
    return addresses, (min(ttls) if ttls else 0.0), True


class UpstreamLookup:
    """Resolves host names through ``servers`` only, in order, with a small TTL cache.

    IPv4 addresses come first (café links rarely route IPv6 well). ``localhost`` and IP
    literals never leave the process.
    """

    def __init__(
        self,
        servers: Sequence[HostPort],
        *,
        timeout: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
        no_servers_message: str | None = None,
    ) -> None:
        self.servers = tuple(servers)
        self._no_servers_message = no_servers_message or "no upstream DNS servers are configured"
        self.timeout = timeout
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, tuple[str, ...]]] = {}

    def lookup(self, host: str) -> tuple[str, ...]:
        """The addresses of ``host``; raises ``DnsLookupError`` if there are none."""
        name = host.rstrip(".").lower()
        try:
            return (str(ipaddress.ip_address(name.strip("[]"))),)
        except ValueError:
            pass
        if name == "localhost" or name.endswith(".localhost"):
            return ("127.0.0.1", "::1")
        now = self._monotonic()
        cached = self._cache.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        if not self.servers:
            raise DnsLookupError(self._no_servers_message)
        encode_name(name)  # reject bad names before any packet leaves
        failures: list[str] = []
        for server in self.servers:
            try:
                addresses, ttl, exists = _ask(server, name, self.timeout)
            except _ServerFailed as e:
                failures.append(f"{server}: {e}")
                log.debug("upstream %s failed for a lookup: %s", server, e)
                continue
            if not exists:
                raise DnsLookupError(f"{name} does not exist (NXDOMAIN from {server})")
            if not addresses:
                raise DnsLookupError(f"{name} has no address (answer from {server})")
            result = tuple(addresses)
            ttl = min(MAX_CACHE_TTL, max(MIN_CACHE_TTL, ttl))
            self._cache[name] = (now + ttl, result)
            return result
        raise DnsLookupError(f"no upstream answered for {name}: {'; '.join(failures)}")
