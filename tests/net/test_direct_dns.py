"""The DNS stub client: wire parsing (hand-made bad packets + fuzz) and lookups on loopback."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.config import HostPort
from kiosk_agent.net.direct_dns import (
    TYPE_A,
    TYPE_AAAA,
    DnsFormatError,
    DnsLookupError,
    UpstreamLookup,
    build_query,
    encode_name,
    parse_response,
)
from tests.fake_dns import FakeDnsState, fake_dns, silent_udp_port


def _response(qid: int, body: bytes, flags: int = 0x8180, an: int = 0) -> bytes:
    return struct.pack("!HHHHHH", qid, flags, 1, an, 0, 0) + body


QUESTION = encode_name("kiosk.test") + struct.pack("!HH", TYPE_A, 1)


def test_parse_a_answer_with_pointer() -> None:
    rr = b"\xc0\x0c" + struct.pack("!HHIH", TYPE_A, 1, 60, 4) + bytes([127, 0, 0, 7])
    answer = parse_response(_response(7, QUESTION + rr, an=1), 7, "kiosk.test", TYPE_A)
    assert answer.addresses == ("127.0.0.7",)
    assert answer.ttl == 60


@pytest.mark.parametrize(
    "packet",
    [
        b"\x00" * 11,  # short header
        _response(8, QUESTION),  # wrong id
        struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + QUESTION,  # a query, not a response
        _response(7, b"\x03foo\xc0\x04" + b"\x00\x01\x00\x01"),  # forward pointer
        _response(7, b"\x05ki"),  # label past the end
        _response(7, encode_name("other.test") + struct.pack("!HH", TYPE_A, 1)),  # other question
        _response(7, QUESTION + b"\xc0\x0c\x00\x01", an=1),  # truncated record
        _response(7, QUESTION + b"\xc0", an=1),  # truncated pointer
        _response(7, b"\x40abc"),  # reserved label type
    ],
)
def test_malformed_packets(packet: bytes) -> None:
    with pytest.raises(DnsFormatError):
        parse_response(packet, 7, "kiosk.test", TYPE_A)


@given(st.binary(max_size=300))
def test_parse_response_raises_only_format_errors(data: bytes) -> None:
    for packet in (data, _response(7, QUESTION + data, an=3)):
        with contextlib.suppress(DnsFormatError):
            parse_response(packet, 7, "kiosk.test", TYPE_A)


def test_encode_name_rejects_bad_names() -> None:
    for bad in ("", "a..b", "x" * 64 + ".test", ("a" * 60 + ".") * 5, "bücher.test"):
        with pytest.raises(DnsLookupError):
            encode_name(bad)
    assert (
        build_query(1, "Kiosk.Test.", TYPE_AAAA)[12:]
        == encode_name("kiosk.test") + b"\x00\x1c\x00\x01"
    )


def test_lookup_a_and_aaaa_ipv4_first_and_cached() -> None:
    state = FakeDnsState(a={"kiosk.test": ["127.0.0.2"]}, aaaa={"kiosk.test": ["::1"]})
    with fake_dns(state) as (_, port):
        lookup = UpstreamLookup([HostPort("127.0.0.1", port)], timeout=1)
        assert lookup.lookup("KIOSK.test.") == ("127.0.0.2", "::1")
        assert lookup.lookup("kiosk.test") == ("127.0.0.2", "::1")
    assert sorted(q[2] for q in state.questions) == ["A", "AAAA"]  # second lookup was cached


def test_cname_chain() -> None:
    state = FakeDnsState(
        cname={"www.kiosk.test": "cdn.kiosk.test"}, a={"cdn.kiosk.test": ["127.0.0.3"]}
    )
    with fake_dns(state) as (_, port):
        assert UpstreamLookup([HostPort("127.0.0.1", port)]).lookup("www.kiosk.test") == (
            "127.0.0.3",
        )


def test_nxdomain_and_no_address() -> None:
    state = FakeDnsState(a={"v4.test": ["127.0.0.4"]}, cname={"loop.test": "loop.test"})
    with fake_dns(state) as (_, port):
        lookup = UpstreamLookup([HostPort("127.0.0.1", port)], timeout=1)
        with pytest.raises(DnsLookupError, match="does not exist"):
            lookup.lookup("missing.test")
        with pytest.raises(DnsLookupError, match="no address"):
            lookup.lookup("loop.test")


def test_failover_from_dead_and_servfail_upstreams() -> None:
    dead, dead_port = silent_udp_port()
    try:
        with (
            fake_dns(FakeDnsState(mode="servfail")) as (bad_state, bad_port),
            fake_dns(FakeDnsState(a={"kiosk.test": ["127.0.0.5"]})) as (good_state, good_port),
        ):
            lookup = UpstreamLookup(
                [HostPort("127.0.0.1", p) for p in (dead_port, bad_port, good_port)], timeout=0.3
            )
            assert lookup.lookup("kiosk.test") == ("127.0.0.5",)
            assert bad_state.questions and good_state.questions
    finally:
        dead.close()


def test_all_upstreams_dead() -> None:
    dead, port = silent_udp_port()
    try:
        with pytest.raises(DnsLookupError, match="no upstream answered"):
            UpstreamLookup([HostPort("127.0.0.1", port)], timeout=0.2).lookup("kiosk.test")
    finally:
        dead.close()


def test_truncated_answer_retries_over_tcp() -> None:
    state = FakeDnsState(a={"kiosk.test": ["127.0.0.6"]}, mode="truncate")
    with fake_dns(state) as (_, port):
        assert UpstreamLookup([HostPort("127.0.0.1", port)]).lookup("kiosk.test") == ("127.0.0.6",)
    assert {q[0] for q in state.questions} == {"udp", "tcp"}


def test_literals_and_localhost_never_query() -> None:
    lookup = UpstreamLookup([])
    assert lookup.lookup("127.0.0.9") == ("127.0.0.9",)
    assert lookup.lookup("[::1]") == ("::1",)
    assert lookup.lookup("localhost")[0] == "127.0.0.1"
    with pytest.raises(DnsLookupError, match="no upstream"):
        lookup.lookup("kiosk.test")
