"""The origin connection pool: bounds, ages, and what is never pooled."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kiosk_agent.filter.proxy.pool import OriginConnection, OriginPool
from tests.filter.proxy.origins import ODD_RESPONSE
from tests.filter.proxy.test_server import Rig, get, run


class FakeWriter:
    def __init__(self) -> None:
        self.closed = False

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def conn(host: str, reusable: bool = True) -> OriginConnection:
    c = OriginConnection(host, asyncio.StreamReader(), FakeWriter())  # type: ignore[arg-type]
    c.reusable = reusable
    return c


def test_pool_bounds_and_ages() -> None:
    async def main() -> None:
        now = [0.0]
        pool = OriginPool(per_host=2, total=3, max_idle=30, clock=lambda: now[0])
        a1, a2, a3, b1 = conn("a"), conn("a"), conn("a"), conn("b")
        for c in (a1, a2, a3):
            pool.give(c)
        assert a1.writer.is_closing() and len(pool) == 2  # per host
        pool.give(b1)
        pool.give(conn("c"))
        assert a2.writer.is_closing() and len(pool) == 3  # total: the oldest went
        assert pool.take("a") is a3 and not a3.reusable
        assert pool.take("a") is None
        now[0] = 31
        assert pool.take("b") is None and b1.writer.is_closing()  # too old
        unreusable, pinned = conn("d", reusable=False), conn("d")
        pinned.pinned = True
        pool.give(unreusable)
        pool.give(pinned)
        assert len(pool) == 0 and unreusable.writer.is_closing() and pinned.writer.is_closing()
        pool.give(conn("e"))
        pool.close_all()
        assert len(pool) == 0

    asyncio.run(main())


def test_a_new_client_connection_reuses_the_origin_connection(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        for _ in range(3):
            reader, writer = await r.open()
            writer.write(get("/a"))
            assert await reader.readexactly(len(ODD_RESPONSE)) == ODD_RESPONSE
            writer.close()
            await writer.wait_closed()
            await asyncio.sleep(0.05)  # the proxy sees the close and pools the origin side
        assert r.origin.connections == 1
        assert r.proxy.pool.reused == 2
        # A request with Authorization pins its origin connection: never pooled.
        reader, writer = await r.open()
        writer.write(get("/b", extra="Authorization: NTLM abc\r\n"))
        assert await reader.readexactly(len(ODD_RESPONSE)) == ODD_RESPONSE
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.05)
        assert len(r.proxy.pool) == 0
        # A server that closed its pooled connection: the request is retried on a new one.
        reader, writer = await r.open()
        writer.write(get("/close"))
        await reader.read()
        writer.close()
        reader, writer = await r.open()
        writer.write(get("/c"))
        assert await reader.readexactly(len(ODD_RESPONSE)) == ODD_RESPONSE
        writer.close()

    run(tmp_path, body)
