"""The upstream link on its own: the first attempt made in ``resolve`` and its failover."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.rcode
import pytest

from kiosk_agent.config import HostPort
from kiosk_agent.filter.resolver.upstream import Upstream
from kiosk_agent.filter.resolver.wire import parse_query
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
