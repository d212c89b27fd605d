"""The resolver's sockets: UDP and TCP on every ``filter.listen`` address.

UDP is read with a raw non-blocking socket and ``recvfrom_into`` a buffer reused for
every datagram (registered with ``loop.add_reader``): asyncio's datagram transport
allocates a fresh 256 KiB buffer per read, which costs about three system calls per
packet and cut a bare responder's rate to a third on the target machines. The hot
path reads only the header and question; answers are bytes the chain produced or the
upstream sent. The answers to the datagrams read in one wakeup are sent after the
reads, as one burst: a client waiting on loopback is woken once per burst instead of
once per answer. TCP (RFC 7766) takes several length-prefixed queries per connection
and answers each as soon as it is ready, possibly out of order.

The server never dies on input: a message too short for a header, or an answer, is
dropped; an unknown opcode gets NOTIMP; anything else malformed gets FORMERR; a handler
that raises gives SERVFAIL and a log line without the name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Sequence
from functools import partial
from typing import Any

from kiosk_agent.config import HostPort
from kiosk_agent.filter.resolver.handler import Answer, Handler
from kiosk_agent.net.wire import (
    DEFAULT_UDP_SIZE,
    HEADER_LEN,
    NOTIMP,
    SERVFAIL,
    BadVersion,
    FormError,
    Query,
    badvers_response,
    error_for_header,
    formerr_for,
    make_response,
    parse_query,
    truncated_reply,
)

log = logging.getLogger(__name__)

UDP_BUFFER = 65535
READS_PER_WAKEUP = 64  # then yield to the loop so TCP and upstream answers get their turn
# Answers held back within one wakeup before they are sent: never waits for more
# queries, only for the ones already read, so at most 32 answers' work (< 1 ms).
SEND_BATCH = 32
TCP_IDLE = 10.0
TCP_MAX_CONNECTIONS = 128
_U16 = struct.Struct("!H")


class Stats:
    __slots__ = ("badvers", "dropped", "failed", "formerr", "queries_tcp", "queries_udp")

    def __init__(self) -> None:
        self.badvers = 0
        self.queries_udp = 0
        self.queries_tcp = 0
        self.formerr = 0
        self.dropped = 0
        self.failed = 0


class DnsServer:
    """Serves ``handler`` on UDP and TCP at each address (port 0 picks a free port)."""

    def __init__(self, handler: Handler, listen: Sequence[HostPort]) -> None:
        self.handler = handler
        self.listen = tuple(listen)
        self.stats = Stats()
        self.addresses: list[HostPort] = []
        self._udp: list[socket.socket] = []
        self._tcp: list[asyncio.Server] = []
        self._tcp_connections = 0
        self._buffer = bytearray(UDP_BUFFER)
        self._view = memoryview(self._buffer)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Bind every address; raises ``OSError`` (with the address) when one is taken."""
        self._loop = asyncio.get_running_loop()
        try:
            for address in self.listen:
                await self._bind(address)
        except BaseException:
            await self.stop()
            raise

    async def _bind(self, address: HostPort) -> None:
        assert self._loop is not None
        family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        # With port 0 the UDP port is picked first and TCP binds the same number;
        # another process may hold that TCP port, so try a few times.
        for attempt in range(20):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                udp.bind((address.host, address.port))
                port = udp.getsockname()[1]
                tcp = socket.socket(family, socket.SOCK_STREAM)
                try:
                    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    tcp.bind((address.host, port))
                except OSError:
                    tcp.close()
                    raise
            except OSError as e:
                udp.close()
                if address.port == 0 and attempt < 19:
                    continue
                raise OSError(e.errno, f"cannot listen on {address}: {e.strerror}") from None
            break
        udp.setblocking(False)
        with contextlib.suppress(OSError):
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._loop.add_reader(udp.fileno(), self._on_udp, udp)
        self._udp.append(udp)
        server = await asyncio.start_server(self._serve_tcp, sock=tcp, backlog=128)
        self._tcp.append(server)
        self.addresses.append(HostPort(address.host, port))

    async def stop(self) -> None:
        for udp in self._udp:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(udp.fileno())
            udp.close()
        self._udp.clear()
        for server in self._tcp:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._tcp.clear()

    # -- answering ------------------------------------------------------------------

    def answer(self, data: bytes) -> tuple[Query | None, Answer | None]:
        """The chain's answer to one message, or an error response, or None (drop)."""
        if len(data) < HEADER_LEN or data[2] & 0x80:
            self.stats.dropped += 1  # no header to answer, or an answer: never reply
            return None, None
        if data[2] & 0x78:  # opcode other than QUERY
            return None, error_for_header(data, NOTIMP)
        try:
            query = parse_query(data)
        except BadVersion as e:
            self.stats.badvers += 1
            return e.query, badvers_response(e.query)
        except FormError:
            self.stats.formerr += 1
            return None, formerr_for(data)
        try:
            return query, self.handler.resolve(query)
        except Exception:
            self.stats.failed += 1
            log.exception("resolver chain failed on a query (type %d)", query.qtype)
            return query, make_response(query, SERVFAIL)

    def _on_udp(self, sock: socket.socket) -> None:
        # The hot loop: names bound to locals, and no context manager per datagram.
        # Answers ready at once are sent together after the reads (at most SEND_BATCH
        # held back): a client waiting for answers is then woken once per burst rather
        # than once per answer. Measured: each wake-up made ``sendto`` cost more than
        # answering the query (docs/BENCHMARKS.md, Issue 3).
        buffer = self._buffer
        view = self._view
        recv_into = sock.recvfrom_into
        stats = self.stats
        answer_of = self.answer
        ready: list[tuple[Any, Query | None, bytes]] = []
        try:
            for _ in range(READS_PER_WAKEUP):
                try:
                    n, addr = recv_into(buffer)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    continue  # e.g. Windows reports an earlier ICMP port unreachable here
                stats.queries_udp += 1
                query, answer = answer_of(bytes(view[:n]))
                if answer is None:
                    continue
                if isinstance(answer, bytes):
                    ready.append((addr, query, answer))
                    if len(ready) >= SEND_BATCH:
                        self._send_ready(sock, ready)
                        ready = []
                else:
                    answer.add_done_callback(partial(self._send_udp_later, sock, addr, query))
        finally:
            if ready:
                self._send_ready(sock, ready)

    def _send_ready(
        self, sock: socket.socket, ready: list[tuple[Any, Query | None, bytes]]
    ) -> None:
        send = self._send_udp
        for addr, query, answer in ready:
            send(sock, addr, query, answer)

    def _send_udp_later(
        self, sock: socket.socket, addr: Any, query: Query | None, f: asyncio.Future[bytes]
    ) -> None:
        if f.cancelled() or sock.fileno() < 0:
            return
        exc = f.exception()
        if exc is not None:
            self.stats.failed += 1
            log.error("resolver chain failed on a query: %r", exc, exc_info=exc)
            if query is None:
                return
            self._send_udp(sock, addr, query, make_response(query, SERVFAIL))
            return
        self._send_udp(sock, addr, query, f.result())

    def _send_udp(self, sock: socket.socket, addr: Any, query: Query | None, answer: bytes) -> None:
        # Every answer fits the 512 bytes any client accepts, except some forwarded ones.
        if (
            len(answer) > DEFAULT_UDP_SIZE
            and query is not None
            and len(answer) > query.max_udp_answer
        ):
            answer = truncated_reply(query, answer)
        # try/except, not contextlib.suppress: this runs for every answer.
        try:  # noqa: SIM105
            sock.sendto(answer, addr)
        except OSError:
            pass  # the client went away, or its buffer is full: UDP may drop

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tcp_connections >= TCP_MAX_CONNECTIONS:
            writer.close()
            return
        self._tcp_connections += 1
        pending: set[asyncio.Future[bytes]] = set()

        def write(answer: bytes) -> None:
            if not writer.is_closing():
                writer.write(_U16.pack(len(answer)) + answer)

        def write_later(query: Query | None, f: asyncio.Future[bytes]) -> None:
            pending.discard(f)
            if f.cancelled():
                return
            if f.exception() is not None:
                self.stats.failed += 1
                if query is not None:
                    write(make_response(query, SERVFAIL))
                return
            write(f.result())

        try:
            while True:
                async with asyncio.timeout(TCP_IDLE):
                    (length,) = _U16.unpack(await reader.readexactly(2))
                    data = await reader.readexactly(length)
                self.stats.queries_tcp += 1
                query, answer = self.answer(data)
                if answer is None:
                    break  # unanswerable on a stream: close it
                if isinstance(answer, bytes):
                    write(answer)
                else:
                    pending.add(answer)
                    answer.add_done_callback(partial(write_later, query))
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            if pending:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(TCP_IDLE):
                        await asyncio.gather(*pending, return_exceptions=True)
            self._tcp_connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def status(self) -> dict[str, object]:
        s = self.stats
        return {
            "listening": [str(a) for a in self.addresses],
            "queries": s.queries_udp + s.queries_tcp,
            "queries_udp": s.queries_udp,
            "queries_tcp": s.queries_tcp,
            "formerr": s.formerr,
            "badvers": s.badvers,
            "dropped": s.dropped,
            "failed": s.failed,
        }
