from __future__ import annotations

import socket
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.demo.upstream import DEMO_RECORDS, DemoUpstream, answer_for
from kiosk_agent.net import wire
from kiosk_agent.net.dns_probe import build_query, reply_code, resolve


def test_answers_demo_names_and_nxdomain_for_others() -> None:
    with DemoUpstream() as up:
        assert resolve(up.address, "news.example") == (0, ["192.0.2.10"])
        assert resolve(up.address, "NEWS.Example.") == (0, ["192.0.2.10"])
        assert resolve(up.address, "unknown.example") == (wire.NXDOMAIN, [])
        assert up.queries == 3
        assert up.address.host == "127.0.0.1" and up.address.port > 0


def test_nodata_for_other_types() -> None:
    qid, packet = build_query("news.example", qtype=wire.TYPE_AAAA)
    reply = answer_for(packet, DEMO_RECORDS)
    assert reply is not None and reply_code(reply, qid) == 0
    assert wire.parse_answer(reply).ancount == 0


def test_tcp() -> None:
    with DemoUpstream() as up:
        qid, packet = build_query("games.example")
        with socket.create_connection((up.address.host, up.address.port), timeout=5) as s:
            s.sendall(struct.pack("!H", len(packet)) + packet)
            size = struct.unpack("!H", s.recv(2))[0]
            reply = b""
            while len(reply) < size:
                reply += s.recv(size - len(reply))
        assert reply_code(reply, qid) == 0


def test_never_answers_an_answer() -> None:
    _qid, packet = build_query("news.example")
    reply = answer_for(packet, DEMO_RECORDS)
    assert reply is not None
    assert answer_for(reply, DEMO_RECORDS) is None


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_give_a_reply_or_nothing(data: bytes) -> None:
    reply = answer_for(data, DEMO_RECORDS)
    assert reply is None or len(reply) >= 12


def test_names_under_listed_demo_domains_have_addresses() -> None:
    """So that NXDOMAIN at a client means the agent blocked the name, never the upstream."""
    with DemoUpstream() as up:
        assert resolve(up.address, "first-check.blocked-demo.test") == (0, ["192.0.2.69"])
        assert resolve(up.address, "a.b.blocked-demo.test") == (0, ["192.0.2.69"])
        assert resolve(up.address, "room-1.unsafe-chat.example") == (0, ["192.0.2.70"])
        assert resolve(up.address, "blocked-demo.test") == (0, ["192.0.2.66"])
        assert resolve(up.address, "other.test") == (wire.NXDOMAIN, [])
