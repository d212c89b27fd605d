"""Bounded byte moving between asyncio streams: exact lengths, chunked bodies, splices.

Every read waits at most ``idle`` seconds for progress and every write waits for the
peer to drain (asyncio's transport buffer stays near its 64 KiB high-water mark), so a
slow or stuck peer costs one connection a bounded amount of memory and time, and never
touches another connection.
"""

from __future__ import annotations

import asyncio
import time

from kiosk_agent.filter.proxy.http import Chunked, ChunkedScanner, Framing, Length, UntilClose

CHUNK = 64 * 1024


class PeerClosed(ConnectionError):
    """The peer closed the connection before the message it was sending ended."""


async def read_some(reader: asyncio.StreamReader, n: int, idle: float) -> bytes:
    async with asyncio.timeout(idle):
        return await reader.read(n)


async def send(writer: asyncio.StreamWriter, data: bytes, idle: float) -> None:
    """Write ``data`` and wait until the transport's buffer is below its high-water mark."""
    writer.write(data)
    if writer.transport.get_write_buffer_size() > 0:
        async with asyncio.timeout(idle):
            await writer.drain()


async def copy_body(
    src: asyncio.StreamReader, dst: asyncio.StreamWriter, framing: Framing, idle: float
) -> None:
    """Copy one message body of ``framing`` unchanged, reading no byte beyond its end.

    Raises ``PeerClosed`` if ``src`` ends early (for ``UntilClose`` the end *is* EOF),
    ``TimeoutError`` when a read or a write makes no progress for ``idle`` seconds, and
    ``BadChunk`` for a malformed chunked body.
    """
    if isinstance(framing, Length):
        left = framing.size
        while left:
            data = await read_some(src, min(left, CHUNK), idle)
            if not data:
                raise PeerClosed("body shorter than Content-Length")
            left -= len(data)
            await send(dst, data, idle)
    elif isinstance(framing, Chunked):
        scanner = ChunkedScanner()
        while not scanner.done:
            want = scanner.data_remaining
            if want:
                data = await read_some(src, min(want, CHUNK), idle)
            else:
                async with asyncio.timeout(idle):
                    try:
                        data = await src.readuntil(b"\n")
                    except asyncio.IncompleteReadError as e:
                        data = e.partial
                    except asyncio.LimitOverrunError:
                        data = await src.read(CHUNK)  # the scanner rejects the long line
            if not data:
                raise PeerClosed("chunked body ended early")
            scanner.feed(data)
            await send(dst, data, idle)
    elif isinstance(framing, UntilClose):
        while data := await read_some(src, CHUNK, idle):
            await send(dst, data, idle)


class Activity:
    """When bytes last moved in either direction of a splice."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def touch(self) -> None:
        self.last = time.monotonic()


async def _pump(
    src: asyncio.StreamReader, dst: asyncio.StreamWriter, idle: float, activity: Activity
) -> None:
    while True:
        try:
            data = await read_some(src, CHUNK, idle)
        except TimeoutError:
            if time.monotonic() - activity.last < idle:
                continue  # the other direction is busy: a download with a quiet uplink
            raise
        if not data:
            if dst.can_write_eof() and not dst.is_closing():
                dst.write_eof()  # half-close: let the other direction finish
            return
        activity.touch()
        dst.write(data)
        if dst.transport.get_write_buffer_size() > 0:
            async with asyncio.timeout(idle):
                await dst.drain()


async def splice(
    a_reader: asyncio.StreamReader,
    a_writer: asyncio.StreamWriter,
    b_reader: asyncio.StreamReader,
    b_writer: asyncio.StreamWriter,
    idle: float,
) -> None:
    """Copy both directions unchanged until both ends closed, or neither moved for ``idle``.

    An error in one direction (reset, timeout) ends both.
    """
    activity = Activity()
    up = asyncio.ensure_future(_pump(a_reader, b_writer, idle, activity))
    down = asyncio.ensure_future(_pump(b_reader, a_writer, idle, activity))
    try:
        done, pending = await asyncio.wait((up, down), return_when=asyncio.FIRST_EXCEPTION)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()  # re-raise the first failure
    finally:
        for task in (up, down):
            if not task.done():
                task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
