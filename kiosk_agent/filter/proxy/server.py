"""Stage 2 of URL-level blocking: the asyncio proxy that suspect hosts resolve to.

Plain HTTP: every request on a connection is read up to its head, checked against the
index (``http_verdict``) and either answered with the block page or forwarded to the
real server, whose response streams back unchanged. TLS: the ClientHello's server name
is read, and the connection spliced, unchanged, to the real server (no interception).
Bounds: ``max_connections`` client connections at once, every read and write limited
by ``idle_timeout``, heads capped in size, bodies streamed with back-pressure. A
failure on one connection closes that connection only. Nothing here logs a host name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kiosk_agent.config import HostPort
from kiosk_agent.filter.proxy import http, tls
from kiosk_agent.filter.proxy.decide import (
    URL_UNVERIFIABLE,
    IndexSource,
    VisitWindow,
    http_verdict,
    tls_verdict,
)
from kiosk_agent.filter.proxy.origin import (
    OriginError,
    OriginResolver,
    connect_origin,
    connect_origin_transport,
)
from kiosk_agent.filter.proxy.page import (
    BlockPageSource,
    block_response,
    english_only,
    error_response,
)
from kiosk_agent.filter.proxy.splice import HelloReader, Pipe
from kiosk_agent.filter.proxy.streams import PeerClosed, copy_body, send, splice
from kiosk_agent.reporting.events import Blocked, Event

log = logging.getLogger(__name__)

_EXPECTED = (
    ConnectionError,
    TimeoutError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    http.HttpParseError,
    OSError,
)


@dataclass(frozen=True)
class ProxySettings:
    """How the proxy runs; the defaults are the deployment's (ports 80/443 upstream)."""

    max_connections: int = 256
    idle_timeout: float = 60.0
    connect_timeout: float = 10.0
    origin_http_port: int = 80
    origin_https_port: int = 443
    allow_loopback_origins: bool = False
    """Only for tests and benchmarks, whose origin servers run on loopback."""


@dataclass
class ProxyStats:
    """Counts since start, for `kiosk-agent status` (no names, no addresses)."""

    http_requests: int = 0
    http_blocked: int = 0
    http_forwarded: int = 0
    tls_connections: int = 0
    tls_refused: int = 0
    tls_unverifiable: int = 0
    refused_over_limit: int = 0
    bad_requests: int = 0
    origin_failures: int = 0
    active: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class _Origin:
    """The connection to the real server a client connection is currently using."""

    def __init__(self, host: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.host = host
        self.reader = reader
        self.writer = writer

    def usable_for(self, host: str) -> bool:
        return self.host == host and not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class FilteringProxy:
    """The proxy's two listeners and every connection they accepted."""

    def __init__(
        self,
        index_source: IndexSource,
        resolve_origin: OriginResolver,
        publish: Callable[[Event], None],
        *,
        settings: ProxySettings | None = None,
        block_page: BlockPageSource = english_only,
        visits: VisitWindow | None = None,
    ) -> None:
        self.settings = settings or ProxySettings()
        self.index_source = index_source
        self.resolve_origin = resolve_origin
        self.publish = publish
        self.block_page = block_page
        self.visits = visits or VisitWindow()
        self.stats = ProxyStats()
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._own_addresses: list[tuple[str, int]] = []
        self.http_address: tuple[str, int] | None = None
        self.https_address: tuple[str, int] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, http_listen: HostPort | None, https_listen: HostPort | None) -> None:
        """Bind the listeners (port 0 picks a free port; see ``http_address``)."""
        try:
            if http_listen is not None:
                server = await asyncio.start_server(
                    self._serve_http,
                    http_listen.host,
                    http_listen.port,
                    limit=http.MAX_HEAD_BYTES,
                )
                self._servers.append(server)
                self.http_address = server.sockets[0].getsockname()[:2]
                self._own_addresses.append(self.http_address)
            if https_listen is not None:
                server = await asyncio.get_running_loop().create_server(
                    self._accept_tls, https_listen.host, https_listen.port
                )
                self._servers.append(server)
                self.https_address = server.sockets[0].getsockname()[:2]
                self._own_addresses.append(self.https_address)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop listening and close every open connection."""
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()

    def status(self) -> dict[str, Any]:
        s = self.stats
        return {
            "http_requests": s.http_requests,
            "http_blocked": s.http_blocked,
            "http_forwarded": s.http_forwarded,
            "tls_connections": s.tls_connections,
            "tls_refused": s.tls_refused,
            "tls_unverifiable": s.tls_unverifiable,
            "refused_over_limit": s.refused_over_limit,
            "bad_requests": s.bad_requests,
            "origin_failures": s.origin_failures,
            "active_connections": s.active,
        }

    # -- connection bookkeeping ----------------------------------------------------------

    def _admit(self) -> bool:
        if self.stats.active >= self.settings.max_connections:
            self.stats.refused_over_limit += 1
            return False
        self.stats.active += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        return True

    def _release(self) -> None:
        self.stats.active -= 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.discard(task)

    async def _connect(self, host: str, port: int) -> tuple[asyncio.StreamReader, Any]:
        return await connect_origin(
            host,
            port,
            self.resolve_origin,
            own_addresses=self._own_addresses,
            allow_loopback=self.settings.allow_loopback_origins,
            timeout=self.settings.connect_timeout,
            limit=http.MAX_RESPONSE_HEAD_BYTES,
        )

    # -- plain HTTP ----------------------------------------------------------------------

    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._admit():
            with contextlib.suppress(Exception):
                writer.write(error_response(503))
            writer.close()
            return
        held = _Held()
        try:
            while True:
                head = await self._read_request(reader, writer)
                if head is None or not await self._handle_request(head, reader, writer, held):
                    return
        except _EXPECTED as e:
            log.debug("http connection ended: %s", type(e).__name__)
        except Exception:
            log.exception("http connection failed")
        finally:
            held.drop()
            writer.close()
            self._release()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> http.RequestHead | None:
        """The next request head; None when the client closed or got an error answer."""
        idle = self.settings.idle_timeout
        try:
            async with asyncio.timeout(idle):
                raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None  # closed between requests (or mid-head: nothing to answer)
        except asyncio.LimitOverrunError:
            self.stats.bad_requests += 1
            await send(writer, error_response(431), idle)
            return None
        try:
            head = http.parse_request_head(raw)
            if head.method == "CONNECT":
                raise _MethodNotAllowed
            if head.host is None:
                raise http.BadHeader("no host")
        except _MethodNotAllowed:
            self.stats.bad_requests += 1
            await send(writer, error_response(405), idle)
            return None
        except http.HttpParseError as e:
            self.stats.bad_requests += 1
            await send(writer, error_response(e.status), idle)
            return None
        self.stats.http_requests += 1
        return head

    async def _handle_request(
        self,
        head: http.RequestHead,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        held: _Held,
    ) -> bool:
        """Block or forward one request; True if the connection may carry another."""
        idle = self.settings.idle_timeout
        host = head.host
        assert host is not None
        category = http_verdict(self.index_source(), host, head.path)
        if category is not None:
            self.stats.http_blocked += 1
            self.publish(Blocked(category))
            # With a request body still unread, closing is simpler and safer than draining.
            keep = head.keep_alive and isinstance(head.framing, http.NoBody)
            page = self.block_page(_first(head.headers.get_all("accept-language")))
            await send(writer, block_response(page, keep), idle)
            return keep
        if held.origin is not None and not held.origin.usable_for(host):
            held.drop()
        reused = held.origin is not None
        if not await self._hold_origin(host, writer, held):
            return False
        assert held.origin is not None
        self.stats.http_forwarded += 1
        try:
            keep = await self._exchange(head, reader, writer, held.origin, retry=reused)
        except _StaleOrigin:
            # A reused keep-alive connection the server had closed: retry once on a fresh
            # one. Only bodiless requests get here, so nothing was consumed from the client.
            held.drop()
            if not await self._hold_origin(host, writer, held):
                return False
            assert held.origin is not None
            keep = await self._exchange(head, reader, writer, held.origin, retry=False)
        if not keep:
            held.drop()
        return keep

    async def _hold_origin(self, host: str, writer: asyncio.StreamWriter, held: _Held) -> bool:
        """Make ``held`` carry a connection to ``host``; on failure answer 502, return False."""
        if held.origin is not None:
            return True
        try:
            held.origin = _Origin(host, *await self._connect(host, self.settings.origin_http_port))
        except OriginError:
            self.stats.origin_failures += 1
            await send(writer, error_response(502), self.settings.idle_timeout)
            return False
        return True

    async def _exchange(
        self,
        head: http.RequestHead,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        origin: _Origin,
        retry: bool = True,
    ) -> bool:
        """Send one request to ``origin`` and stream its response back; True if both sides
        may carry on with another request."""
        idle = self.settings.idle_timeout
        framing = head.framing
        has_body = not isinstance(framing, http.NoBody)
        try:
            await send(origin.writer, head.raw, idle)
        except (ConnectionError, OSError) as e:
            if retry and not has_body:
                raise _StaleOrigin from e
            raise
        # The body is copied alongside reading the response: a server may answer early
        # (413, a redirect) or send "100 Continue" before the client sends the body.
        body_task = (
            asyncio.ensure_future(copy_body(reader, origin.writer, framing, idle))
            if has_body
            else None
        )
        try:
            forwarded_any = False
            while True:
                try:
                    async with asyncio.timeout(idle):
                        raw = await origin.reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError) as e:
                    if not forwarded_any and retry and not has_body:
                        raise _StaleOrigin from e
                    if not forwarded_any:
                        await send(writer, error_response(502), idle)
                    return False
                except asyncio.LimitOverrunError:
                    raw = b""  # a head too large to hold: answered as a bad gateway below
                try:
                    response = http.parse_response_head(raw)
                except http.HttpParseError:
                    if not forwarded_any:
                        await send(writer, error_response(502), idle)
                    return False
                await send(writer, raw, idle)
                forwarded_any = True
                if response.status == 101:
                    await splice(reader, writer, origin.reader, origin.writer, idle)
                    return False
                if response.status >= 200:
                    break
            body = http.response_framing(head.method, response)
            try:
                await copy_body(origin.reader, writer, body, idle)
            except (PeerClosed, http.BadChunk):
                return False
            if body_task is not None:
                if not body_task.done():
                    return False  # answered before the client finished its body
                body_task.result()
            return head.keep_alive and response.keep_alive and not isinstance(body, http.UntilClose)
        finally:
            if body_task is not None and not body_task.done():
                body_task.cancel()
                with contextlib.suppress(BaseException):
                    await body_task

    # -- TLS -----------------------------------------------------------------------------

    def _accept_tls(self) -> HelloReader:
        return HelloReader(self._admit_tls)

    def _admit_tls(self, reader: HelloReader, transport: asyncio.Transport) -> None:
        if self.stats.active >= self.settings.max_connections:
            self.stats.refused_over_limit += 1
            transport.abort()
            return
        self.stats.active += 1
        task = asyncio.get_running_loop().create_task(self._serve_tls(reader, transport))
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._tls_done(t, transport))

    def _tls_done(self, task: asyncio.Task[Any], transport: asyncio.Transport) -> None:
        self._tasks.discard(task)
        self.stats.active -= 1
        if not transport.is_closing():
            transport.abort()  # a task cancelled before it ran (service stopping)

    async def _serve_tls(self, reader: HelloReader, transport: asyncio.Transport) -> None:
        pipe: Pipe | None = None
        try:
            self.stats.tls_connections += 1
            async with asyncio.timeout(self.settings.idle_timeout):
                hello = await reader.result
            if hello is None or hello.server_name is None:
                self.stats.bad_requests += 1
                return  # not TLS, or no name: no way to know where to go
            verdict = tls_verdict(self.index_source(), hello.server_name)
            if verdict.action == "refuse":
                assert verdict.category is not None
                self.stats.tls_refused += 1
                self.publish(Blocked(verdict.category))
                transport.write(tls.ALERT_ACCESS_DENIED)
                return
            pipe = Pipe(self.settings.idle_timeout)
            try:
                await connect_origin_transport(
                    hello.server_name,
                    self.settings.origin_https_port,
                    self.resolve_origin,
                    pipe.origin,
                    own_addresses=self._own_addresses,
                    allow_loopback=self.settings.allow_loopback_origins,
                    timeout=self.settings.connect_timeout,
                )
            except OriginError:
                self.stats.origin_failures += 1
                return
            if verdict.unverifiable and self.visits.first_visit(hello.server_name):
                self.stats.tls_unverifiable += 1
                self.publish(Blocked(URL_UNVERIFIABLE))
            if transport.is_closing():
                return  # the client gave up while we connected
            assert pipe.origin.transport is not None
            pipe.origin.transport.write(bytes(reader.received))
            pipe.attach_client(transport, reader.got_eof)
            await pipe.done
        except TimeoutError:
            log.debug("tls connection timed out before its hello")
        except Exception:
            log.exception("tls connection failed")
        finally:
            if pipe is not None:
                pipe.close(abort=True)  # a no-op after a normal end
            if not transport.is_closing():
                transport.close()


class _Held:
    """The origin connection a client connection holds between requests (at most one)."""

    def __init__(self) -> None:
        self.origin: _Origin | None = None

    def drop(self) -> None:
        if self.origin is not None:
            self.origin.close()
            self.origin = None


class _MethodNotAllowed(Exception):
    pass


class _StaleOrigin(Exception):
    """A reused origin connection turned out closed before answering."""


def _first(values: list[str]) -> str | None:
    return values[0] if values else None
