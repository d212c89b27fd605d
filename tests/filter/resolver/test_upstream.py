"""The upstream link on its own: the first attempt made in ``resolve`` and its failover."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.rcode
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.config import HostPort
from kiosk_agent.filter.resolver.upstream import (
    QueryIds,
    Upstream,
    UpstreamServer,
    first_choice,
    try_order,
)
from kiosk_agent.net.wire import parse_query
from tests.filter.resolver.helpers import ScriptedUpstream


@pytest.fixture
def servers() -> Iterator[tuple[ScriptedUpstream, ScriptedUpstream]]:
    a, b = ScriptedUpstream(), ScriptedUpstream(answer_ip="192.0.2.2")
    a.start()
    b.start()
    yield a, b
    a.stop()
    b.stop()


def closed_port() -> HostPort:
    """A loopback UDP port with nothing listening (the kernel answers ICMP unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return HostPort("127.0.0.1", s.getsockname()[1])


async def resolve(up: Upstream, name: str, qid: int = 4242) -> dns.message.Message:
    query = parse_query(dns.message.make_query(name, "A", id=qid).to_wire())
    answer = up.resolve(query)
    data = answer if isinstance(answer, bytes) else await answer
    m = dns.message.from_wire(data)
    assert m.id == qid  # the client's id restored, whatever id went upstream
    return m


def test_first_attempt_answers(servers: tuple[ScriptedUpstream, ScriptedUpstream]) -> None:
    a, _b = servers

    async def main() -> None:
        up = Upstream([a.address], timeout=1)
        m = await resolve(up, "x.test")
        assert m.answer[0][0].address == "192.0.2.1"
        assert up.status()["forwarded"] == 1 and a.udp_queries == 1
        assert up.servers[0].answered == 1 and up.servers[0].rtt_ms is not None
        await up.close()

    asyncio.run(main())


@pytest.mark.parametrize("failure", ["refused", "servfail", "silent"])
def test_failed_first_attempt_goes_on_to_the_next_upstream(
    servers: tuple[ScriptedUpstream, ScriptedUpstream], failure: str
) -> None:
    a, b = servers

    async def main() -> None:
        first = closed_port() if failure == "refused" else a.address
        a.mode = failure
        up = Upstream([first, b.address], timeout=0.3)
        m = await resolve(up, "x.test")
        assert m.rcode() == dns.rcode.NOERROR and m.answer[0][0].address == "192.0.2.2"
        dead = up.servers[0]
        assert dead.failed == 1 and not dead.healthy(up.clock())
        assert dead.last_error is not None
        if failure == "refused":
            assert "refused" in dead.last_error
        # the next query asks the healthy one first
        await resolve(up, "y.test")
        assert b.udp_queries == 2
        await up.close()

    asyncio.run(main())


def test_every_upstream_failing_gives_servfail(
    servers: tuple[ScriptedUpstream, ScriptedUpstream],
) -> None:
    a, b = servers
    a.mode = b.mode = "servfail"

    async def main() -> None:
        up = Upstream([a.address, b.address], timeout=0.3)
        m = await resolve(up, "x.test")
        assert m.rcode() == dns.rcode.SERVFAIL
        assert up.status()["servfail_answers"] == 1
        await up.close()

    asyncio.run(main())


def test_truncated_first_answer_is_fetched_over_tcp(
    servers: tuple[ScriptedUpstream, ScriptedUpstream],
) -> None:
    a, _b = servers
    a.mode = "truncate"

    async def main() -> None:
        up = Upstream([a.address], timeout=1)
        m = await resolve(up, "x.test")
        assert not m.flags & dns.flags.TC and m.answer[0][0].address == "192.0.2.1"
        assert a.tcp_queries == 1
        await up.close()

    asyncio.run(main())


def test_close_cancels_what_is_waiting(servers: tuple[ScriptedUpstream, ScriptedUpstream]) -> None:
    a, _b = servers
    a.mode = "silent"

    async def main() -> None:
        up = Upstream([a.address], timeout=30)
        answer = up.resolve(parse_query(dns.message.make_query("x.test", "A").to_wire()))
        assert not isinstance(answer, bytes)
        await asyncio.sleep(0.05)
        await asyncio.wait_for(up.close(), 2)
        assert answer.cancelled()

    asyncio.run(main())


def test_no_upstream_at_all_is_servfail() -> None:
    async def main() -> None:
        up = Upstream([], timeout=1)
        m = await resolve(up, "x.test")
        assert m.rcode() == dns.rcode.SERVFAIL

    asyncio.run(main())


@given(
    st.lists(st.tuples(st.booleans(), st.floats(0, 100)), max_size=6),
    st.floats(0, 50),
)
def test_first_choice_is_the_head_of_the_try_order(
    states: list[tuple[bool, float]], now: float
) -> None:
    servers = []
    for i, (down, until) in enumerate(states):
        server = UpstreamServer(HostPort("127.0.0.1", 1000 + i))
        server.down_until = now + 1 + until if down else 0.0
        servers.append(server)
    order = try_order(servers, now)
    assert first_choice(servers, now) is (order[0] if order else None)


def test_query_ids_are_random_16_bit_and_refilled() -> None:
    ids = QueryIds()
    drawn = [ids.next() for _ in range(1000)]  # several refills of 256
    assert all(0 <= i <= 0xFFFF for i in drawn)
    assert len(set(drawn)) > 900  # 1000 draws from 65536: about 8 repeats expected
    assert drawn[:256] != drawn[256:512]
