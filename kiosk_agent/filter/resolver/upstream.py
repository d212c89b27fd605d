"""Last link: ask the configured upstream resolvers, with failover.

Each query goes to the healthiest upstream first, over UDP from a fresh socket with a
fresh random id (so a spoofed answer must guess both the port and the id); an answer
with TC set is fetched again over TCP from the same upstream. A timeout, an unusable
answer, SERVFAIL or REFUSED marks the upstream down for a growing while (2 s, 4 s, ...
at most 60 s) and the next one is tried. Only when every upstream failed does the link
answer SERVFAIL, which the cache before it may still replace with a stale answer.
Answers are forwarded as the upstream sent them: only the id is rewritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kiosk_agent.config import HostPort
from kiosk_agent.filter.resolver.handler import Answer
from kiosk_agent.filter.resolver.wire import (
    HEADER_LEN,
    QR,
    REFUSED,
    SERVFAIL,
    TC,
    Query,
    make_response,
    with_id,
)

MAX_BACKOFF = 60.0
# Queries waiting for an upstream at once; beyond this (a flood, a dead link) new ones
# get SERVFAIL at once rather than one more socket each.
MAX_IN_FLIGHT = 1000
_U16 = struct.Struct("!H")


class UpstreamError(Exception):
    """One upstream did not give a usable answer; the message says why in plain words."""


@dataclass
class UpstreamServer:
    """One upstream resolver and what the agent has seen of it."""

    address: HostPort
    failures: int = 0
    down_until: float = 0.0
    answered: int = 0
    failed: int = 0
    rtt_ms: float | None = None
    last_error: str | None = None

    def healthy(self, now: float) -> bool:
        return now >= self.down_until

    def record_success(self, rtt: float) -> None:
        self.failures = 0
        self.down_until = 0.0
        self.answered += 1
        ms = rtt * 1000
        self.rtt_ms = ms if self.rtt_ms is None else 0.8 * self.rtt_ms + 0.2 * ms

    def record_failure(self, now: float, reason: str) -> None:
        self.failures += 1
        self.failed += 1
        self.last_error = reason
        self.down_until = now + min(MAX_BACKOFF, 2.0 ** min(self.failures, 6))

    def status(self, now: float) -> dict[str, object]:
        return {
            "address": str(self.address),
            "healthy": self.healthy(now),
            "answered": self.answered,
            "failed": self.failed,
            "rtt_ms": None if self.rtt_ms is None else round(self.rtt_ms, 2),
            "last_error": self.last_error,
        }


def try_order(servers: Sequence[UpstreamServer], now: float) -> list[UpstreamServer]:
    """Healthy upstreams in configured order, then the down ones, soonest back first."""
    up = [s for s in servers if s.healthy(now)]
    down = sorted((s for s in servers if not s.healthy(now)), key=lambda s: s.down_until)
    return up + down


def answer_matches(data: bytes, qid: int, question: bytes) -> bool:
    """Is ``data`` an answer to the query with ``qid`` and ``question`` (case-insensitive)?"""
    if len(data) < HEADER_LEN + len(question):
        return False
    qr_id, flags = struct.unpack_from("!HH", data, 0)
    if qr_id != qid or not flags & QR:
        return False
    if _U16.unpack_from(data, 4)[0] != 1:
        return False
    got = data[HEADER_LEN : HEADER_LEN + len(question)]
    return got == question or got.lower() == question.lower()


class Upstream:
    """The terminal handler: forwards to the upstreams and returns a future answer."""

    name = "upstream"

    def __init__(
        self,
        servers: Sequence[HostPort],
        timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.servers = [UpstreamServer(a) for a in servers]
        self.timeout = timeout
        self.clock = clock
        self.forwarded = 0
        self.servfails = 0
        self.overloaded = 0
        self._in_flight: set[asyncio.Task[bytes]] = set()

    def set_servers(self, servers: Sequence[HostPort]) -> None:
        """Replace the upstream list, keeping what is known about ones that stay."""
        known = {s.address: s for s in self.servers}
        self.servers = [known.get(a) or UpstreamServer(a) for a in servers]

    def resolve(self, query: Query) -> Answer:
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            self.overloaded += 1
            return make_response(query, SERVFAIL)
        task = asyncio.get_running_loop().create_task(self.forward(query))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return task

    async def close(self) -> None:
        """Cancel the queries still waiting for an upstream (at shutdown)."""
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def forward(self, query: Query) -> bytes:
        """The first usable upstream answer, or SERVFAIL when every upstream failed."""
        self.forwarded += 1
        failure: bytes | None = None
        for server in try_order(self.servers, self.clock()):
            start = self.clock()
            try:
                answer = await self.exchange(server.address, query)
            except TimeoutError:
                server.record_failure(self.clock(), f"no answer within {self.timeout:g} s")
                continue
            except (UpstreamError, OSError, EOFError) as e:
                reason = str(e) or type(e).__name__
                server.record_failure(self.clock(), reason)
                continue
            rcode = answer[3] & 0xF
            if rcode in (SERVFAIL, REFUSED):
                server.record_failure(
                    self.clock(), "answered SERVFAIL" if rcode == 2 else "refused"
                )
                failure = answer
                continue
            server.record_success(self.clock() - start)
            return answer
        self.servfails += 1
        return failure if failure is not None else make_response(query, SERVFAIL)

    async def exchange(self, address: HostPort, query: Query) -> bytes:
        """One query to one upstream: UDP, then TCP if the answer was truncated."""
        qid = secrets.randbits(16)
        async with asyncio.timeout(self.timeout):
            data = await udp_exchange(address, with_id(query.raw, qid), qid, query.question)
            if _U16.unpack_from(data, 2)[0] & TC:
                data = await tcp_exchange(address, with_id(query.raw, qid), qid, query.question)
        return with_id(data, query.id)

    def status(self) -> dict[str, object]:
        now = self.clock()
        return {
            "servers": [s.status(now) for s in self.servers],
            "forwarded": self.forwarded,
            "servfail_answers": self.servfails,
            "overloaded": self.overloaded,
        }

    def any_healthy(self) -> bool:
        now = self.clock()
        return any(s.healthy(now) for s in self.servers)


def _family(address: HostPort) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address.host else socket.AF_INET


async def udp_exchange(address: HostPort, message: bytes, qid: int, question: bytes) -> bytes:
    """Send ``message`` from a fresh connected UDP socket and wait for a matching answer."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(_family(address), socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect((address.host, address.port))
        sock.send(message)
        while True:
            # A connected socket only receives from the upstream; still check id and
            # question, and ignore strays (a late answer, an ICMP-caused error, ...).
            data = await loop.sock_recv(sock, 65535)
            if answer_matches(data, qid, question):
                return data
    except ConnectionRefusedError:
        raise UpstreamError(f"{address} refused the connection (nothing listening)") from None
    finally:
        sock.close()


async def tcp_exchange(address: HostPort, message: bytes, qid: int, question: bytes) -> bytes:
    """One length-prefixed query over a new TCP connection."""
    reader, writer = await asyncio.open_connection(address.host, address.port)
    try:
        writer.write(_U16.pack(len(message)) + message)
        await writer.drain()
        while True:
            (length,) = _U16.unpack(await reader.readexactly(2))
            data = await reader.readexactly(length)
            if answer_matches(data, qid, question):
                return data
    except asyncio.IncompleteReadError:
        raise UpstreamError(f"{address} closed the TCP connection early") from None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
