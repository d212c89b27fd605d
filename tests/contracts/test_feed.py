"""Feed bundles: round trips, every refusal with its code, sizes, and a fuzzed reader."""

from __future__ import annotations

import contextlib
import json
import struct
from array import array
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk_agent.contracts import feed, rice
from kiosk_agent.filter.sources import SourceError, entries_from_sources, parse_line, read_source
from kiosk_agent.filter.urls import canonicalize, hash_int
from tests.filter.feed_helpers import CATS, LATER, NOW, delta, entries, full, keypair, random_hashes

KEY, PUB = keypair()
OTHER_KEY, OTHER_PUB = keypair()


# -- Rice coding ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 7, 8, 9, 1000, 20000])
def test_rice_round_trip(n: int) -> None:
    values = random_hashes(n, seed=n)
    assert rice.decode(rice.encode(values)) == values


def test_rice_edges() -> None:
    for values in ([0], [0, 1, 2, 3], [2**64 - 1], [0, 2**64 - 1], list(range(0, 10000, 3))):
        assert list(rice.decode(rice.encode(values))) == values
    with pytest.raises(ValueError):
        rice.encode([3, 3])
    with pytest.raises(ValueError):
        rice.encode([2**64])


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 63), st.integers(0, 300), st.binary(max_size=300), st.binary(max_size=300))
def test_rice_decoder_raises_only_rice_error(k: int, count: int, unary: bytes, low: bytes) -> None:
    try:
        for chunk in rice.iter_decode(k, count, unary, low):
            assert list(chunk) == sorted(set(chunk))
    except rice.RiceError:
        pass


# -- round trips ----------------------------------------------------------------------


def test_full_round_trip_and_header() -> None:
    e = entries(random_hashes(3000, 1), random_hashes(500, 2), suspects=random_hashes(40, 3))
    data = full(KEY, e, version=7)
    b = feed.read_bundle(data, [PUB], now=NOW)
    h = b.header
    assert (h.list_id, h.version, h.base_version, h.issuer, h.key) == (
        "hotline",
        7,
        None,
        "Test hotline",
        PUB,
    )
    assert (h.created, h.expires, h.categories) == (NOW, LATER, CATS)
    assert h.added == h.result_count == 3540 and h.removed == 0
    assert b.hashes(1) == e.hashes[1] and b.hashes(2) == e.hashes[2]
    assert b.hashes(feed.SUSPECT) == e.hashes[feed.SUSPECT]
    assert b.entries().hashes == e.hashes
    assert feed.read_header(data) == h


def test_read_from_file(tmp_path: Path) -> None:
    e = entries(random_hashes(20000, 4))
    path = tmp_path / "full-1.bundle"
    path.write_bytes(full(KEY, e))
    b = feed.read_bundle(path, [PUB], now=NOW)
    assert b.hashes(1) == e.hashes[1]
    assert feed.read_header(path) == b.header


def test_delta_round_trip() -> None:
    base = entries(random_hashes(5000, 1), random_hashes(100, 2))
    kept = array("Q", base.hashes[1][100:])
    new_one = array("Q", sorted(set(kept) | set(random_hashes(50, 9))))
    new = entries(new_one, array("Q"))
    b = feed.read_bundle(delta(KEY, base, new, 1, 2), [PUB], applied_version=1, now=NOW)
    h = b.header
    assert (h.base_version, h.version, h.result_count) == (1, 2, len(new_one))
    assert list(b.hashes(1, "remove")) == list(base.hashes[1][:100])
    assert set(b.hashes(1)) == set(new_one) - set(base.hashes[1])
    assert b.hashes(2, "remove") == base.hashes[2]


# -- every refusal, with its code -----------------------------------------------------


def _code(data: bytes, **kw: object) -> str:
    with pytest.raises(feed.FeedError) as info:
        feed.read_bundle(data, kw.pop("trust", [PUB]), **kw)  # type: ignore[arg-type]
    return info.value.code


def test_refusals() -> None:
    e = entries(random_hashes(300, 1))
    data = full(KEY, e, version=5)
    assert _code(b"") == "truncated"
    assert _code(b"KAF") == "truncated"
    assert _code(b"PK\x03\x04 not a bundle at all") == "bad_format"
    assert _code(data[:20]) == "truncated"
    assert _code(data[:-1]) == "truncated"
    assert _code(data + b"x") == "bad_format"
    assert _code(data, trust=[OTHER_PUB]) == "untrusted_key"
    assert _code(data, trust=[]) == "untrusted_key"
    assert _code(full(OTHER_KEY, e)) == "untrusted_key"
    assert _code(data, applied_version=5, now=NOW) == "rollback"
    assert _code(data, applied_version=9, now=NOW) == "rollback"
    assert _code(data, now=LATER) == "expired"
    assert _code(data, now=LATER + 1) == "expired"
    d = delta(KEY, e, entries(random_hashes(10, 3)), 4, 6)
    assert _code(d, applied_version=3, now=NOW) == "base_mismatch"
    assert _code(d, now=NOW) == "base_mismatch"
    feed.read_bundle(d, [PUB], applied_version=4, now=NOW)


def _tamper_header(data: bytes, change: dict[str, object]) -> bytes:
    _, _, hlen = feed.PREFIX.unpack_from(data)
    header = json.loads(data[12 : 12 + hlen])
    header.update(change)
    raw = json.dumps(header).encode()
    return feed.PREFIX.pack(feed.MAGIC, 1, len(raw)) + raw + data[12 + hlen :]


def test_tampering_breaks_the_signature() -> None:
    data = full(KEY, entries(random_hashes(300, 1)), version=5)
    assert _code(_tamper_header(data, {"version": 6})) == "bad_signature"
    body = bytearray(data)
    body[-3] ^= 0x10
    assert _code(bytes(body)) == "bad_signature"
    sig = bytearray(data)
    _, _, hlen = feed.PREFIX.unpack_from(data)
    sig[12 + hlen + 5] ^= 1
    assert _code(bytes(sig)) == "bad_signature"
    assert _code(_tamper_header(data, {"format": 2})) == "bad_format"
    assert _code(_tamper_header(data, {"categories": []})) == "bad_format"
    assert _code(struct.pack(">6sHI", b"KAFEED", 2, 5) + b"{}") == "bad_format"


def test_sizes_on_the_wire() -> None:
    """Full bundles near 64 - log2(n) + 1.5 bits per entry; deltas well under 12 bytes."""
    n = 300_000
    e = entries(random_hashes(n, 11))
    size = len(full(KEY, e))
    assert size / n <= 6.0, size / n
    changed = array("Q", sorted(set(e.hashes[1][2000:]) | set(random_hashes(2000, 12))))
    d = delta(KEY, e, entries(changed), 1, 2)
    assert len(d) / 4000 <= 12.0, len(d) / 4000


# -- fuzzing the reader ---------------------------------------------------------------

_VALID = full(KEY, entries(random_hashes(200, 5), random_hashes(30, 6)))
_DELTA = delta(KEY, entries(random_hashes(200, 5)), entries(random_hashes(210, 7)), 1, 2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_raise_only_feed_error(data: bytes) -> None:
    for candidate in (data, feed.MAGIC + b"\x00\x01" + data):
        with pytest.raises(feed.FeedError):
            feed.read_bundle(candidate, [PUB], now=NOW)
        with contextlib.suppress(feed.FeedError):
            feed.read_header(candidate)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([_VALID, _DELTA]),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 10**6),
)
def test_mutated_bundles_raise_only_feed_error(
    base: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(base)
    for pos, value in flips:
        data[pos % len(data)] = value
    data = data[: len(data) - cut % 40]
    try:
        feed.read_bundle(bytes(data), [PUB], applied_version=1, now=NOW)
    except feed.FeedError:
        return
    assert bytes(data) == base  # only an unchanged bundle may pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_bodies_decode_or_raise_bad_format(flips: list[tuple[int, int]]) -> None:
    """Past the signature (a buggy signer), the body decoder still raises only FeedError."""
    header = feed.read_header(_VALID)
    body_start = header.sections[0].offset
    data = bytearray(_VALID)
    for pos, value in flips:
        data[body_start + pos % (len(data) - body_start)] = value
    bundle = feed.Bundle(header, feed._MemorySource(bytes(data)))
    try:
        bundle.validate()
    except feed.FeedError as e:
        assert e.code == "bad_format"


# -- sources --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", []),
        ("# a comment", []),
        ("! adblock comment", []),
        ("[Adblock Plus 2.0]", []),
        ("Evil.Example", ["evil.example/"]),
        ("evil.example.", ["evil.example/"]),
        ("0.0.0.0 a.example b.example # two", ["a.example/", "b.example/"]),
        ("127.0.0.1 localhost", []),
        ("||ads.example^", ["ads.example/"]),
        ("||ads.example^$important", ["ads.example/"]),
        ("http://Pages.Example/a/../b.html#x", ["pages.example/b.html"]),
        ("pages.example/dir/?q=1", ["pages.example/dir/?q=1"]),
        ("https://pages.example/", ["pages.example/"]),
        ("192.0.2.7", ["192.0.2.7/"]),
        ("bücher.example", ["xn--bcher-kva.example/"]),
    ],
)
def test_parse_line(line: str, expected: list[str]) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize(
    "line",
    ["two words", "com", "||a.example/path^", "@@||ok.example^", "bad..", "x" * 70 + ".example",
     "a_b!.example", "http:///"],
)  # fmt: skip
def test_bad_lines(line: str) -> None:
    with pytest.raises(ValueError):
        parse_line(line)


def test_read_source_reports_bad_lines_and_suspects() -> None:
    lines = ["evil.example", "not a name", "http://www.pages.example/p.html", "com"]
    r = read_source(lines)
    assert [(b.number, b.reason) for b in r.bad_lines] == [
        (2, "more than one word on the line"),
        (4, "a single label (a top-level domain?) is not a list entry"),
    ]
    assert r.entries == {hash_int("evil.example/"), hash_int("www.pages.example/p.html")}
    assert r.suspects == {hash_int("www.pages.example/")}
    e = entries_from_sources(CATS[:1], {"csam": r})
    assert list(e.hashes[feed.SUSPECT]) == [hash_int("www.pages.example/")]


def test_read_source_bad_line_limit() -> None:
    with pytest.raises(SourceError, match=r"more than 2 bad lines .*line 1"):
        read_source(["x y"] * 3 + ["ok.example"], max_bad_lines=2)
    assert len(read_source(["x y"] * 2, max_bad_lines=2).bad_lines) == 2


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.lists(
            st.sampled_from(
                ["a", "B", "0", ".", "-", "_", "/", "?", "||", "^", "$", "#", " ", "0.0.0.0 ",
                 "http://", "%2e", "é", "xn--", "example", "test", "\t", "!", "@@"]
            ),
            max_size=12,
        ).map("".join),
    )
)  # fmt: skip
def test_parse_line_gives_canonical_expressions_or_value_error(line: str) -> None:
    try:
        exprs = parse_line(line)
    except ValueError:
        return
    for e in exprs:
        host, slash, _ = e.partition("/")
        assert slash and host and "." in host
        assert canonicalize("http://" + e).split("://", 1)[1] == e
