"""The DNS reader: hand-written malformed messages, a fuzz, and agreement with dnspython."""

from __future__ import annotations

import contextlib
import struct

import dns.edns
import dns.message
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.net import wire
from kiosk_agent.net.wire import (
    BadLabel,
    BadPointer,
    BadQuestion,
    FormError,
    ShortHeader,
    Truncated,
    parse_answer,
    parse_query,
    read_name,
)


def query_bytes(name: str, rdtype: str = "A", **kw: object) -> bytes:
    return bytes(dns.message.make_query(name, rdtype, **kw).to_wire())  # type: ignore[arg-type]


def test_parses_a_simple_query() -> None:
    q = parse_query(query_bytes("WWW.Example.ORG.", "AAAA"))
    assert q.name == "www.example.org"
    assert q.qtype == 28 and q.qclass == 1
    assert q.question[:-4] == b"\x03WWW\x07Example\x03ORG\x00"
    assert not q.edns and q.max_udp_answer == 512


def test_reads_edns_and_do_bit() -> None:
    q = parse_query(query_bytes("example.com", "A", use_edns=0, payload=4096, want_dnssec=True))
    assert q.edns and q.do and q.udp_size == 4096 and q.max_udp_answer == 4096
    plain = parse_query(query_bytes("example.com", "A"))
    assert plain.key != q.key  # an EDNS/DO answer is cached apart from a plain one


def test_case_does_not_change_the_cache_key() -> None:
    assert parse_query(query_bytes("A.TEST")).key == parse_query(query_bytes("a.test")).key


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x00" * 11, ShortHeader),
        (b"", ShortHeader),
        (b"\x00\x01\x01\x00\x00\x00" + b"\x00" * 6, BadQuestion),  # qdcount 0
        (b"\x00\x01\x01\x00\x00\x02" + b"\x00" * 6 + b"\x00\x00\x01\x00\x01" * 2, BadQuestion),
        (b"\x00\x01\x01\x00\x00\x01" + b"\x00" * 6 + b"\x03foo", Truncated),
        (b"\x00\x01\x01\x00\x00\x01" + b"\x00" * 6 + b"\x03foo\x00\x00", Truncated),
        (b"\x00\x01\x01\x00\x00\x01" + b"\x00" * 6 + b"\x03foo\xc0\x0c\x00\x01\x00\x01", BadLabel),
        (b"\x00\x01\x01\x00\x00\x01" + b"\x00" * 6 + b"\x41" + b"a" * 65, BadLabel),
        # a name longer than 255 bytes
        (b"\x00\x01\x01\x00\x00\x01" + b"\x00" * 6 + b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63
         + b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63 + b"\x00\x00\x01\x00\x01", BadLabel),
        # arcount 1 but no record follows the question
        (b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01" + b"\x01a\x00\x00\x01\x00\x01",
         Truncated),
    ],
)  # fmt: skip
def test_malformed_queries(data: bytes, error: type[FormError]) -> None:
    with pytest.raises(error):
        parse_query(data)


def test_pointers_must_point_backwards() -> None:
    assert read_name(b"\x03foo\x00\xc0\x00", 5) == ("foo", 7)
    with pytest.raises(BadPointer):
        read_name(b"\x03foo\xc0\x04", 0)  # points at itself
    with pytest.raises(BadPointer):
        read_name(b"\xc0\x02\xc0\x00", 2)  # a loop
    with pytest.raises(Truncated):
        read_name(b"\x03fo", 0)
    with pytest.raises(Truncated):
        read_name(b"\x03foo\xc0", 0)


def test_odd_bytes_in_labels_are_escaped() -> None:
    name, _ = read_name(b"\x03a.b\x01c\x00", 0)
    assert name == "a\\046b.c"  # never confused with the three labels a.b.c
    name, _ = read_name(b"\x02\xff \x00", 0)
    assert name == "\\255\\032"


def test_answer_ttl_offsets_match_dnspython() -> None:
    q = dns.message.make_query("a.test", "A", use_edns=0)
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("a.test.", 300, "IN", "A", "192.0.2.1", "192.0.2.2"))
    r.authority.append(
        dns.rrset.from_text("test.", 900, "IN", "SOA", "ns.test. h.test. 1 2 3 4 120")
    )
    data = bytes(r.to_wire())
    info = parse_answer(data)
    assert info.ttls == (300, 300, 900)  # OPT's TTL field (flags) is not a TTL
    assert info.negative_ttl == 120
    for off, ttl in zip(info.ttl_offsets, info.ttls, strict=True):
        assert struct.unpack_from("!I", data, off)[0] == ttl


def test_own_responses_are_valid_dns() -> None:
    q = parse_query(query_bytes("Blocked.Test", "A", use_edns=0))
    data = wire.make_response(q, wire.NXDOMAIN, authority=wire.soa_rr(60))
    msg = dns.message.from_wire(data)
    assert msg.id == q.id and msg.rcode() == 3
    assert str(msg.question[0].name) == "Blocked.Test."
    assert msg.authority[0].ttl == 60 and msg.edns == 0
    assert wire.formerr_for(b"\x12\x34\x01\x00") is None
    assert wire.formerr_for(b"\x12\x34\x81\x00" + b"\x00" * 8) is None  # never answer an answer
    err = wire.formerr_for(b"\x12\x34\x01\x00" + b"\x00" * 8)
    assert err is not None and err[:2] == b"\x12\x34" and err[3] & 0xF == wire.FORMERR


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_query_reader_raises_only_formerror(data: bytes) -> None:
    try:
        q = parse_query(data)
    except FormError:
        return
    assert q.question == data[12 : 12 + len(q.question)]


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_answer_reader_raises_only_formerror(data: bytes) -> None:
    try:
        info = parse_answer(data)
    except FormError:
        return
    assert all(off + 4 <= len(data) for off in info.ttl_offsets)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.from_regex(r"[a-zA-Z0-9-]{1,20}", fullmatch=True), min_size=1, max_size=5),
    st.sampled_from(["A", "AAAA", "MX", "TXT", "HTTPS"]),
    st.integers(0, 65535),
)
def test_query_reader_agrees_with_dnspython(labels: list[str], rdtype: str, qid: int) -> None:
    name = ".".join(labels)
    m = dns.message.make_query(name, rdtype)
    m.id = qid
    q = parse_query(bytes(m.to_wire()))
    assert q.name == name.lower() and q.id == qid
    assert q.qtype == m.question[0].rdtype


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.integers(0, 11))
def test_mutated_answers_never_escape_formerror(junk: bytes, cut: int) -> None:
    q = dns.message.make_query("x.test", "A")
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("x.test.", 30, "IN", "A", "192.0.2.1"))
    data = bytearray(r.to_wire())
    pos = (cut * 7) % len(data)
    data[pos : pos + len(junk)] = junk
    with contextlib.suppress(FormError):
        parse_answer(bytes(data))


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=63), min_size=0, max_size=4))
def test_fast_name_text_agrees_with_the_general_reader(labels: list[bytes]) -> None:
    wire_name = b"".join(bytes([len(x)]) + x for x in labels) + b"\x00"
    data = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + wire_name + b"\x00\x01\x00\x01"
    q = parse_query(data)
    assert q.name == read_name(data, 12)[0]
    assert q.qtype == 1 and q.question == data[12:]


@settings(max_examples=2000, deadline=None)
@given(
    st.binary(min_size=0, max_size=24),
    st.integers(0, 3),
    st.integers(0, 65535),
    st.integers(0, 2**32 - 1),
)
def test_opt_fast_path_agrees_with_the_record_walk(
    extra: bytes, kind: int, klass: int, ttl: int
) -> None:
    """One additional record after the question: accepted only as an OPT at the root
    whose data fits and whose EDNS version is 0 (BadVersion otherwise), else FormError."""
    head = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x01x\x04test\x00\x00\x01\x00\x01"
    rtype = (wire.TYPE_OPT, wire.TYPE_A, wire.TYPE_OPT, 99)[kind]
    owner = b"\x00" if kind < 3 else b"\xc0\x0c"
    rdlen = len(extra) if kind != 2 else len(extra) + 1  # kind 2: rdata cut short
    data = head + owner + struct.pack("!HHIH", rtype, klass, ttl, rdlen) + extra
    if kind != 0:
        with pytest.raises(FormError) as e:
            parse_query(data)
        assert not isinstance(e.value, wire.BadVersion)
        return
    if (ttl >> 16) & 0xFF:
        with pytest.raises(wire.BadVersion) as bad:
            parse_query(data)
        q = bad.value.query
    else:
        q = parse_query(data)
    assert (q.edns, q.udp_size, q.do) == (True, klass, bool(ttl & 0x8000))
