"""Hostile packets (issue 15): pointer chains, records a query may not carry, EDNS versions.

The crafted query of the issue: 64 KB holding a chain of 16,000 compression pointers and
2,700 records whose owner names each walk the whole chain (2.2 s of CPU before the fix).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time

import dns.message
import dns.rcode
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.net import wire
from kiosk_agent.net.wire import FormError, parse_answer, parse_query, read_name
from tests.filter.resolver.helpers import FakeIndex, ResolverThread, ScriptedUpstream, ask
from tests.filter.resolver.test_server import config

QUESTION = b"\x01a\x04test\x00\x00\x01\x00\x01"


def pointer_chain_packet(
    pointers: int = 16_000, records: int = 2_700, flags: int = 0x0100
) -> bytes:
    """Header, question, a record whose data is a chain of pointers each pointing at the
    one before (the first at the question name), then ``records`` records owned by the
    chain's last pointer."""
    body = bytearray(QUESTION)
    body += struct.pack("!HHHIH", 0xC00C, 16, 1, 60, 2 * pointers)  # TXT holding the chain
    previous = 12
    for _ in range(pointers):
        at = 12 + len(body)
        body += struct.pack("!H", 0xC000 | previous)
        previous = at
    for _ in range(records):
        body += struct.pack("!H", 0xC000 | previous) + struct.pack("!HHIH", 1, 1, 60, 0)
    header = struct.pack("!HHHHHH", 0x1234, flags, 1, records + 1, 0, 0)
    return header + bytes(body)


def cpu_seconds(fn: object, data: bytes, runs: int = 20) -> float:
    """The fastest of ``runs`` calls' CPU time (process time: no other thread's load)."""
    best = 1.0
    for _ in range(runs):
        start = time.process_time()
        with contextlib.suppress(FormError):
            fn(data)  # type: ignore[operator]
        best = min(best, time.process_time() - start)
    return best


def test_pointer_chain_query_is_refused_in_under_a_millisecond() -> None:
    packet = pointer_chain_packet()
    assert 60_000 < len(packet) <= 65_535
    with pytest.raises(wire.BadQuestion):
        parse_query(packet)
    assert cpu_seconds(parse_query, packet) < 0.001


def test_pointer_chains_are_bounded_in_answers_too() -> None:
    answer = pointer_chain_packet(flags=0x8180)
    with pytest.raises(wire.BadPointer):
        parse_answer(answer)
    assert cpu_seconds(parse_answer, answer) < 0.001
    with pytest.raises(wire.BadPointer, match="in a name"):
        read_name(answer, len(answer) - 12)  # a record's owner: 16,000 hops away


def test_pointers_per_message_are_bounded() -> None:
    # Each owner name follows 16 pointers (allowed per name); 600 of them are too many.
    ok = pointer_chain_packet(pointers=15, records=500, flags=0x8180)
    assert parse_answer(ok).ancount == 501
    too_many = pointer_chain_packet(pointers=15, records=600, flags=0x8180)
    with pytest.raises(wire.BadPointer, match="in a message"):
        parse_answer(too_many)
    with pytest.raises(wire.BadPointer, match="in a name"):
        parse_answer(pointer_chain_packet(pointers=16, records=1, flags=0x8180))


@pytest.mark.parametrize(
    ("an", "ns", "ar"), [(1, 0, 0), (0, 1, 0), (0, 0, 2), (0, 0, 65535), (65535, 65535, 65535)]
)
def test_queries_with_records_they_may_not_carry_are_formerr(an: int, ns: int, ar: int) -> None:
    opt = b"\x00" + struct.pack("!HHIH", wire.TYPE_OPT, 1232, 0, 0)
    packet = struct.pack("!HHHHHH", 7, 0x0100, 1, an, ns, ar) + QUESTION + opt * 3
    with pytest.raises(wire.BadQuestion):
        parse_query(packet)


def test_non_opt_additional_record_is_formerr() -> None:
    a_record = b"\x00" + struct.pack("!HHIH", wire.TYPE_A, 1, 60, 4) + b"\xc0\x00\x02\x01"
    packet = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 1) + QUESTION + a_record
    with pytest.raises(wire.BadQuestion):
        parse_query(packet)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048), st.integers(0, 65535), st.integers(0, 65535))
def test_any_query_parses_in_bounded_time(tail: bytes, an: int, ar: int) -> None:
    packet = struct.pack("!HHHHHH", 7, 0x0100, 1, an, 0, ar) + QUESTION + tail
    start = time.process_time()
    with contextlib.suppress(FormError):
        parse_query(packet)
    assert time.process_time() - start < 0.01


def test_badvers_answer_per_rfc_6891() -> None:
    q = dns.message.make_query("v.test", "A", use_edns=1)
    with pytest.raises(wire.BadVersion) as e:
        parse_query(q.to_wire())
    r = dns.message.from_wire(wire.badvers_response(e.value.query))
    assert r.id == q.id and r.rcode() == dns.rcode.BADVERS
    assert r.edns == 0  # the highest version this resolver implements
    assert r.question == q.question and not r.answer and not r.authority


def test_live_server_after_hostile_datagrams() -> None:
    up = ScriptedUpstream()
    up.start()
    try:
        with ResolverThread(config(), [up.address], FakeIndex({})) as r:
            target = (r.address.host, r.address.port)
            ask(r.address, "warm.test")
            before = min(_timed_ask(r.address) for _ in range(5))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.settimeout(2)
                packet = pointer_chain_packet()
                for _ in range(4):
                    udp.sendto(packet, target)
                    reply = dns.message.from_wire(udp.recv(65535), question_only=True)
                    assert reply.rcode() == dns.rcode.FORMERR
            after = _timed_ask(r.address)
            assert after < max(0.05, 5 * before), (before, after)
            m = ask(r.address, "edns.test", use_edns=1)
            assert m.rcode() == dns.rcode.BADVERS and m.edns == 0
            assert r.server is not None and r.server.stats.badvers == 1
    finally:
        up.stop()


def _timed_ask(address: object) -> float:
    start = time.monotonic()
    m = ask(address, "after.test")  # type: ignore[arg-type]
    assert m.rcode() == 0
    return time.monotonic() - start
