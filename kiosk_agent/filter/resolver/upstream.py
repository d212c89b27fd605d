"""Last link: ask the configured upstream resolvers, with failover.

Each query goes to the healthiest upstream first, over UDP with a fresh random id from
a socket that carries only that query (so a spoofed answer must guess both the port and
the id): the first attempt uses a socket of the upstream's pool (``udp_pool``: kept
open between queries, retired often), later attempts a new socket each. An answer
with TC set is fetched again over TCP from the same upstream. A timeout, an unusable
answer, SERVFAIL or REFUSED marks the upstream down for a growing while (2 s, 4 s, ...
at most 60 s) and the next one is tried. Only when every upstream failed does the link
answer SERVFAIL, which the cache before it may still replace with a stale answer.
Answers are forwarded as the upstream sent them: only the id is rewritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from kiosk_agent.config import HostPort
from kiosk_agent.filter.resolver.handler import Answer
from kiosk_agent.filter.resolver.udp_pool import Channel, UdpPool
from kiosk_agent.net.wire import (
    REFUSED,
    SERVFAIL,
    TC,
    Query,
    answer_matches,
    make_response,
    with_id,
)
from kiosk_agent.platform.agent_mark import mark_socket

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


def first_choice(servers: Sequence[UpstreamServer], now: float) -> UpstreamServer | None:
    """``try_order(servers, now)[0]`` (None when there is no upstream), without sorting
    in the usual case where a healthy one exists: this runs for every forwarded query."""
    for server in servers:
        if now >= server.down_until:
            return server
    order = try_order(servers, now)
    return order[0] if order else None


class QueryIds:
    """Random 16-bit query ids from ``os.urandom``, read 256 at a time: one system call
    per 256 forwarded queries instead of one each (``secrets.randbits``)."""

    __slots__ = ("_ids", "_next")

    def __init__(self) -> None:
        self._ids: tuple[int, ...] = ()
        self._next = 0

    def next(self) -> int:
        i = self._next
        if i >= len(self._ids):
            self._ids = _U16_BLOCK.unpack(os.urandom(_U16_BLOCK.size))
            i = 0
        self._next = i + 1
        return self._ids[i]


_U16_BLOCK = struct.Struct("!256H")


_RETRY = (SERVFAIL, REFUSED)


def _reason(error: BaseException, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    return str(error) or type(error).__name__


def _copy_result(out: asyncio.Future[bytes], task: asyncio.Task[bytes]) -> None:
    if out.done():
        return
    if task.cancelled():
        out.cancel()
    elif task.exception() is not None:
        out.set_exception(task.exception())  # type: ignore[arg-type]
    else:
        out.set_result(task.result())


@dataclass(frozen=True, slots=True)
class _FirstAttempt:
    """What became of the UDP attempt ``Upstream.resolve`` made itself."""

    server: UpstreamServer
    start: float
    qid: int
    data: bytes | None
    error: BaseException | None


def _connection_error(address: HostPort, error: OSError) -> BaseException:
    if isinstance(error, ConnectionRefusedError):
        return UpstreamError(f"{address} refused the connection (nothing listening)")
    return error


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
        self._attempts: dict[Channel, asyncio.Future[bytes]] = {}
        self._pools: dict[HostPort, UdpPool] = {}
        self._ids = QueryIds()

    def set_servers(self, servers: Sequence[HostPort]) -> None:
        """Replace the upstream list, keeping what is known about ones that stay."""
        known = {s.address: s for s in self.servers}
        self.servers = [known.get(a) or UpstreamServer(a) for a in servers]
        for address in set(self._pools) - set(servers):
            self._pools.pop(address).close()  # its waiting queries end as cancelled

    def resolve(self, query: Query) -> Answer:
        if len(self._in_flight) + len(self._attempts) >= MAX_IN_FLIGHT:
            self.overloaded += 1
            return make_response(query, SERVFAIL)
        loop = asyncio.get_running_loop()
        server = first_choice(self.servers, self.clock())
        if server is None:
            self.forwarded += 1
            self.servfails += 1
            return make_response(query, SERVFAIL)
        # The first attempt is sent here, before this call returns, on a socket of the
        # upstream's pool, and its answer is taken in the socket's reader callback: no
        # task, no new socket, no extra turns of the loop between the client's query and
        # the upstream's answer. Whatever is not a plain usable answer (timeout, error,
        # TC, SERVFAIL, REFUSED) continues in ``forward``, which judges it and tries the
        # next upstreams.
        self.forwarded += 1
        out: asyncio.Future[bytes] = loop.create_future()
        qid = self._ids.next()
        start = self.clock()
        channel: Channel | None = None

        def first_done(data: bytes | None, error: BaseException | None) -> None:
            if channel is not None:
                self._attempts.pop(channel, None)
            if out.done():
                return
            if data is not None and not data[2] & (TC >> 8) and data[3] & 0xF not in _RETRY:
                server.record_success(self.clock() - start)
                out.set_result(with_id(data, query.id))
                return
            if isinstance(error, OSError):
                error = _connection_error(server.address, error)
            first = _FirstAttempt(server, start, qid, data, error)
            rest = [s for s in try_order(self.servers, self.clock()) if s is not server]
            task = loop.create_task(self.forward(query, [server, *rest], first))
            self._track(task)
            task.add_done_callback(partial(_copy_result, out))

        pool = self._pools.get(server.address)
        if pool is None:
            pool = self._pools[server.address] = UdpPool(loop, server.address, self.timeout)
        channel = pool.send(with_id(query.raw, qid), qid, query.question, first_done)
        if channel is not None:
            self._attempts[channel] = out
        return out

    def _track(self, task: asyncio.Task[bytes]) -> None:
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def close(self) -> None:
        """Cancel the queries still waiting for an upstream (at shutdown)."""
        for out in self._attempts.values():
            out.cancel()
        self._attempts.clear()
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def forward(
        self,
        query: Query,
        order: Sequence[UpstreamServer] | None = None,
        first: _FirstAttempt | None = None,
    ) -> bytes:
        """The first usable upstream answer, or SERVFAIL when every upstream failed.

        ``first``, when given, is the outcome of the UDP attempt already made to
        ``order[0]``: it is judged here like any other, and the rest are tried after it.
        """
        if order is None:
            self.forwarded += 1
            order = try_order(self.servers, self.clock())
        failure: bytes | None = None
        for server in order:
            if first is not None and server is first.server:
                start = first.start
                outcome: bytes | BaseException = await self._after_udp(server, query, first)
                first = None
            else:
                start = self.clock()
                try:
                    outcome = await self.exchange(server.address, query)
                except (TimeoutError, UpstreamError, OSError, EOFError) as e:
                    outcome = e
            if isinstance(outcome, BaseException):
                server.record_failure(self.clock(), _reason(outcome, self.timeout))
                continue
            rcode = outcome[3] & 0xF
            if rcode in _RETRY:
                server.record_failure(
                    self.clock(), "answered SERVFAIL" if rcode == SERVFAIL else "refused"
                )
                failure = outcome
                continue
            server.record_success(self.clock() - start)
            return outcome
        self.servfails += 1
        return failure if failure is not None else make_response(query, SERVFAIL)

    async def _after_udp(
        self, server: UpstreamServer, query: Query, first: _FirstAttempt
    ) -> bytes | BaseException:
        """The answer (id restored) or the error of an attempt made by ``resolve``; a
        truncated answer is fetched again over TCP, within what is left of the timeout."""
        if first.error is not None:
            return first.error
        assert first.data is not None
        data = first.data
        if _U16.unpack_from(data, 2)[0] & TC:
            left = max(0.0, self.timeout - (self.clock() - first.start))
            try:
                async with asyncio.timeout(left):
                    message = with_id(query.raw, first.qid)
                    data = await tcp_exchange(server.address, message, first.qid, query.question)
            except (TimeoutError, UpstreamError, OSError, EOFError) as e:
                return e
        return with_id(data, query.id)

    async def exchange(self, address: HostPort, query: Query) -> bytes:
        """One query to one upstream: UDP, then TCP if the answer was truncated."""
        qid = self._ids.next()
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
        mark_socket(sock)  # the outbound DNS firewall lets only marked sockets out
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
    sock = socket.socket(_family(address), socket.SOCK_STREAM)
    try:
        mark_socket(sock)  # the outbound DNS firewall lets only marked sockets out
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (address.host, address.port))
        reader, writer = await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise
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
