"""The upstream socket pool: reuse, and the cases where a socket must never be reused."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from kiosk_agent.config import HostPort
from kiosk_agent.filter.resolver import udp_pool
from kiosk_agent.filter.resolver.udp_pool import UdpPool

QUESTION = b"\x01x\x04test\x00\x00\x01\x00\x01"

Result = tuple[bytes | None, BaseException | None]


def message(qid: int, *, answer: bool = False) -> bytes:
    flags = 0x8180 if answer else 0x0100
    return struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 0) + QUESTION


class Upstream:
    """A loopback socket the test reads queries from and answers by hand."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.address = HostPort("127.0.0.1", self.sock.getsockname()[1])

    async def query(self) -> tuple[int, tuple[str, int]]:
        data, addr = await asyncio.get_running_loop().sock_recvfrom(self.sock, 65535)
        return struct.unpack_from("!H", data)[0], addr

    def answer(self, qid: int, addr: tuple[str, int]) -> None:
        self.sock.sendto(message(qid, answer=True), addr)


@asynccontextmanager
async def pool_and_upstream(
    clock: Callable[[], float] | None = None, timeout: float = 2.0
) -> AsyncIterator[tuple[UdpPool, Upstream]]:
    upstream = Upstream()
    loop = asyncio.get_running_loop()
    pool = UdpPool(loop, upstream.address, timeout, *([clock] if clock else []))
    try:
        yield pool, upstream
    finally:
        pool.close()
        upstream.sock.close()


def send(pool: UdpPool, qid: int) -> asyncio.Future[Result]:
    loop = asyncio.get_running_loop()
    result: asyncio.Future[Result] = loop.create_future()

    def done(data: bytes | None, error: BaseException | None) -> None:
        result.set_result((data, error))

    pool.send(message(qid), qid, QUESTION, done)
    return result


async def answered(pool: UdpPool, upstream: Upstream, qid: int) -> tuple[str, int]:
    """One query answered normally; returns the pool socket's address it came from."""
    result = send(pool, qid)
    got, addr = await upstream.query()
    assert got == qid
    upstream.answer(qid, addr)
    data, error = await asyncio.wait_for(result, 2)
    assert error is None and data == message(qid, answer=True)
    return addr


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 10))


def test_one_socket_serves_queries_one_after_another() -> None:
    async def main() -> None:
        async with pool_and_upstream() as (pool, upstream):
            first = await answered(pool, upstream, 1)
            second = await answered(pool, upstream, 2)
            assert first == second and pool.opened == 1 and pool.open_sockets() == 1

    run(main)


def test_queries_at_once_each_get_their_own_socket() -> None:
    async def main() -> None:
        async with pool_and_upstream() as (pool, upstream):
            results = [send(pool, qid) for qid in (1, 2, 3)]
            seen = [await upstream.query() for _ in results]
            assert len({addr for _qid, addr in seen}) == 3
            for qid, addr in reversed(seen):
                upstream.answer(qid, addr)
            for qid, result in zip((1, 2, 3), results, strict=True):
                assert (await result)[0] == message(qid, answer=True)
            assert pool.open_sockets() == 3  # idle now, for the next ones

    run(main)


def test_socket_is_retired_after_max_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(udp_pool, "MAX_USES", 2)

    async def main() -> None:
        async with pool_and_upstream() as (pool, upstream):
            ports = [(await answered(pool, upstream, qid))[1] for qid in range(5)]
            assert ports[0] == ports[1] != ports[2] == ports[3] != ports[4]
            assert pool.opened == 3

    run(main)


def test_socket_is_retired_after_max_age() -> None:
    now = [0.0]

    async def main() -> None:
        async with pool_and_upstream(lambda: now[0]) as (pool, upstream):
            first = await answered(pool, upstream, 1)
            now[0] = udp_pool.MAX_AGE - 1
            assert await answered(pool, upstream, 2) == first
            now[0] = udp_pool.MAX_AGE + 1
            assert await answered(pool, upstream, 3) != first

    run(main)


def test_timed_out_socket_is_closed_so_a_late_answer_meets_no_later_query() -> None:
    async def main() -> None:
        async with pool_and_upstream(timeout=0.1) as (pool, upstream):
            result = send(pool, 7)
            qid, old = await upstream.query()
            data, error = await result
            assert data is None and isinstance(error, TimeoutError)
            assert pool.open_sockets() == 0
            later = send(pool, 8)
            _qid, new = await upstream.query()
            assert new != old
            upstream.answer(qid, old)  # the late answer goes to a closed port
            upstream.answer(8, new)
            assert (await later)[0] == message(8, answer=True)

    run(main)


def test_stray_answer_is_ignored_and_its_socket_not_reused() -> None:
    async def main() -> None:
        async with pool_and_upstream() as (pool, upstream):
            result = send(pool, 5)
            _qid, addr = await upstream.query()
            upstream.answer(6, addr)  # wrong id: a spoofing attempt or a stray
            await asyncio.sleep(0.05)
            assert not result.done()
            upstream.answer(5, addr)
            assert (await result)[0] == message(5, answer=True)
            assert pool.open_sockets() == 0
            assert await answered(pool, upstream, 9) != addr

    run(main)


def test_datagram_on_an_idle_socket_drops_that_socket() -> None:
    async def main() -> None:
        async with pool_and_upstream() as (pool, upstream):
            addr = await answered(pool, upstream, 1)
            upstream.answer(1, addr)  # a duplicate of the answer already taken
            for _ in range(100):
                if pool.open_sockets() == 0:
                    break
                await asyncio.sleep(0.01)
            assert pool.open_sockets() == 0
            assert await answered(pool, upstream, 2) != addr

    run(main)


def test_cancel_closes_the_socket_without_calling_done() -> None:
    async def main() -> None:
        async with pool_and_upstream(timeout=0.1) as (pool, upstream):
            calls: list[Result] = []
            channel = pool.send(message(3), 3, QUESTION, lambda d, e: calls.append((d, e)))
            assert channel is not None
            await upstream.query()
            pool.cancel(channel)
            await asyncio.sleep(0.2)  # past the timeout: the timer was cancelled too
            assert calls == [] and pool.open_sockets() == 0

    run(main)


def test_nothing_listening_is_an_error_for_done() -> None:
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            closed = HostPort("127.0.0.1", s.getsockname()[1])
        pool = UdpPool(asyncio.get_running_loop(), closed, 1.0)
        try:
            result = send(pool, 4)
            data, error = await result
            assert data is None and isinstance(error, ConnectionRefusedError)
            assert pool.open_sockets() == 0
        finally:
            pool.close()

    run(main)


def test_each_query_times_out_at_its_own_deadline_with_one_timer() -> None:
    async def main() -> None:
        async with pool_and_upstream(timeout=0.5) as (pool, upstream):
            loop = asyncio.get_running_loop()
            first = send(pool, 1)
            await asyncio.sleep(0.3)
            second, third = send(pool, 2), send(pool, 3)
            queries = [await upstream.query() for _ in range(3)]
            upstream.answer(*queries[2])  # the third is answered: no timeout for it
            assert (await third)[0] == message(3, answer=True)
            # One timer for the pool, not one per query (the other timer is wait_for's).
            timers = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
            assert ["UdpPool._expire" in repr(h) for h in timers].count(True) == 1
            assert len(timers) == 2
            data, error = await first
            assert data is None and isinstance(error, TimeoutError)
            assert not second.done()  # its deadline is 0.3 s later
            started = loop.time()
            data, error = await second
            assert isinstance(error, TimeoutError) and loop.time() - started > 0.1
            assert pool.open_sockets() == 1  # the third's socket, idle

    run(main)


def test_answered_queries_do_not_pile_up_in_the_deadlines() -> None:
    async def main() -> None:
        async with pool_and_upstream() as (pool, upstream):
            for qid in range(50):
                await answered(pool, upstream, qid)
            assert len(pool._deadlines) <= 1

    run(main)
