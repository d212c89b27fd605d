"""TLS connections at the transport level: read the ClientHello, then join two sockets.

Bytes of a spliced connection move inside asyncio's ``data_received`` callbacks, from
one transport straight into the other's write buffer: no stream reader copies, no
coroutine step per chunk (about half the CPU of a stream-based copy). Flow control is
the transports' own: when one side's write buffer passes its high-water mark, the other
side stops reading, so a slow peer holds at most about two buffers of memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from kiosk_agent.filter.proxy import tls


class HelloReader(asyncio.Protocol):
    """Collects a client's first bytes until they hold a whole ClientHello (or cannot).

    ``result`` resolves to the parsed hello, or None for anything unusable (not TLS,
    malformed, too large, closed early). Reading pauses once the hello is complete; the
    bytes read so far are in ``received`` and go to the origin unchanged.
    """

    def __init__(self, on_connected: Callable[[HelloReader, asyncio.Transport], None]) -> None:
        self.on_connected = on_connected
        self.transport: asyncio.Transport | None = None
        self.got_eof = False
        self.received = bytearray()
        self.result: asyncio.Future[tls.ClientHello | None] = (
            asyncio.get_running_loop().create_future()
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.on_connected(self, transport)

    def data_received(self, data: bytes) -> None:
        if self.result.done():
            return  # an unusable hello: the owner is closing the connection
        self.received += data
        try:
            hello = tls.parse_client_hello(bytes(self.received))
        except tls.HelloIncomplete:
            return
        except tls.ClientHelloError:
            self.result.set_result(None)
            return
        assert self.transport is not None
        self.transport.pause_reading()
        self.result.set_result(hello)

    def eof_received(self) -> bool:
        self.got_eof = True  # after a complete hello: a client that sent all and half-closed
        if not self.result.done():
            self.result.set_result(None)
        return True  # the owner closes

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.result.done():
            self.result.set_result(None)


class _Side(asyncio.Protocol):
    """One end of a splice: what it receives goes to ``peer``'s transport."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.got_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.pipe.last_activity = time.monotonic()
        assert self.peer is not None and self.peer.transport is not None
        self.peer.transport.write(data)

    def eof_received(self) -> bool:
        self.got_eof = True
        peer = self.peer
        if peer is not None and peer.transport is not None and peer.transport.can_write_eof():
            peer.transport.write_eof()  # half-close: the other direction may go on
        if peer is None or peer.got_eof:
            self.pipe.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.close(abort=exc is not None)

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class Pipe:
    """A client transport and an origin transport joined both ways.

    ``done`` resolves when both are closed: after both sides sent EOF, after either
    side's connection is lost (the other is closed, its pending bytes flushed), or when
    no byte moved either way for ``idle`` seconds (both aborted).
    """

    def __init__(self, idle: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.idle = idle
        self.last_activity = time.monotonic()
        self.client = _Side(self)
        self.origin = _Side(self)
        self.client.peer, self.origin.peer = self.origin, self.client
        self.done: asyncio.Future[None] = self.loop.create_future()
        self._timer = self.loop.call_later(idle, self._check_idle)

    def attach_client(self, transport: asyncio.Transport, got_eof: bool = False) -> None:
        """Take over the client's transport (its hello reader is done) and start reading;
        ``got_eof`` passes on an EOF the hello reader saw after the hello."""
        transport.set_protocol(self.client)
        self.client.connection_made(transport)
        if got_eof:
            self.client.eof_received()
        else:
            transport.resume_reading()

    def _check_idle(self) -> None:
        quiet = time.monotonic() - self.last_activity
        if quiet >= self.idle:
            self.close(abort=True)
        else:
            self._timer = self.loop.call_later(self.idle - quiet, self._check_idle)

    def close(self, abort: bool = False) -> None:
        if self.done.done():
            return
        self._timer.cancel()
        for side in (self.client, self.origin):
            if side.transport is not None and not side.transport.is_closing():
                if abort:
                    side.transport.abort()
                else:
                    side.transport.close()
        self.done.set_result(None)
