"""The ClientHello SNI parser: real hellos from the ssl module, hand-written bad ones, fuzz."""

from __future__ import annotations

import ssl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.filter.proxy import tls


def real_hello(server_name: str | None) -> bytes:
    """The bytes Python's own TLS client sends first."""
    ctx = ssl.create_default_context()
    if server_name is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def record(body: bytes, content_type: int = 22) -> bytes:
    return bytes([content_type, 3, 1]) + len(body).to_bytes(2, "big") + body


def refragment(hello: bytes, size: int) -> bytes:
    """The same handshake message split into records of ``size`` bytes."""
    length = int.from_bytes(hello[3:5], "big")
    message = hello[5 : 5 + length]
    return b"".join(record(message[i : i + size]) for i in range(0, len(message), size))


def hello_with_extensions(extensions: bytes) -> bytes:
    body = (
        b"\x03\x03"
        + b"\x00" * 32
        + b"\x00"  # empty session id
        + b"\x00\x02\x13\x01"
        + b"\x01\x00"
        + len(extensions).to_bytes(2, "big")
        + extensions
    )
    return record(b"\x01" + len(body).to_bytes(3, "big") + body)


def sni_extension(name: bytes, name_type: int = 0) -> bytes:
    entry = bytes([name_type]) + len(name).to_bytes(2, "big") + name
    names = len(entry).to_bytes(2, "big") + entry
    return b"\x00\x00" + len(names).to_bytes(2, "big") + names


def test_reads_the_server_name_of_a_real_client_hello() -> None:
    data = real_hello("Site.Example")
    hello = tls.parse_client_hello(data)
    assert hello.server_name == "site.example"
    assert hello.record_bytes == len(data)


def test_a_hello_without_server_name() -> None:
    assert tls.parse_client_hello(real_hello(None)).server_name is None


@pytest.mark.parametrize("size", [1, 7, 100, 511])
def test_a_hello_split_over_many_records(size: int) -> None:
    data = refragment(real_hello("a.b.site.test"), size)
    assert tls.parse_client_hello(data).server_name == "a.b.site.test"


def test_every_prefix_asks_for_more() -> None:
    data = refragment(real_hello("site.test"), 200)
    for cut in range(len(data)):
        with pytest.raises(tls.HelloIncomplete) as info:
            tls.parse_client_hello(data[:cut])
        assert info.value.needed >= 1


def test_bytes_after_the_hello_are_not_its_business() -> None:
    data = real_hello("site.test")
    hello = tls.parse_client_hello(data + b"\x17\x03\x03\x00\x05hello")
    assert hello.server_name == "site.test" and hello.record_bytes == len(data)


def test_handwritten_hellos() -> None:
    assert tls.parse_client_hello(hello_with_extensions(sni_extension(b"x.test."))).server_name == (
        "x.test"
    )
    # A non-host name type is skipped.
    ext = sni_extension(b"whatever", name_type=7)
    assert tls.parse_client_hello(hello_with_extensions(ext)).server_name is None


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", tls.NotTls),
        (b"\x16\x02\x00\x00\x05hello", tls.NotTls),  # SSL 2-style major version
        (record(b""), tls.HelloMalformed),  # empty record
        (b"\x16\x03\x01\xff\xff" + b"\x00" * 10, tls.HelloMalformed),  # record too long
        (record(b"\x02\x00\x00\x01\x00"), tls.HelloMalformed),  # ServerHello, not ClientHello
        (record(b"\x01\x00\x00\x02\x03\x03"), tls.HelloMalformed),  # no random
        (record(b"\x01\x00\x01\x00") + record(b"x", 23), tls.HelloMalformed),  # interrupted
        (record(b"\x01\xff\xff\xff"), tls.HelloTooLarge),
        (hello_with_extensions(sni_extension(b"bad name!")), tls.HelloMalformed),
        (hello_with_extensions(sni_extension(b"caf\xc3\xa9.test")), tls.HelloMalformed),
        (hello_with_extensions(sni_extension(b"a" * 64 + b".test")), tls.HelloMalformed),
        (hello_with_extensions(sni_extension(b"")), tls.HelloMalformed),
        (hello_with_extensions(sni_extension(b"x.test") * 2), tls.HelloMalformed),  # twice
        (hello_with_extensions(b"\x00\x00\x00\x09\x00\x07\x00\x00\x09ab"), tls.HelloMalformed),
        (hello_with_extensions(b"\x00\x00\x00"), tls.HelloMalformed),  # truncated extension
    ],
)
def test_malformed_hellos(data: bytes, error: type[tls.ClientHelloError]) -> None:
    with pytest.raises(error):
        tls.parse_client_hello(data)


def test_too_large_across_records() -> None:
    # Declares a hello just under 64 KiB and sends full-size records: refused before 64 KiB is held.
    head = record(b"\x01\x00\xff\xfa" + b"\x00" * 16000)
    data = head + record(b"\x00" * 16000) * 3 + record(b"\x00" * 16000)
    with pytest.raises(tls.HelloTooLarge):
        tls.parse_client_hello(data)


def _check(data: bytes) -> None:
    try:
        hello = tls.parse_client_hello(data)
    except tls.ClientHelloError:
        return
    assert hello.server_name is None or hello.server_name.isascii()
    assert 0 < hello.record_bytes <= len(data)


@settings(max_examples=400)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)


@settings(max_examples=400)
@given(st.binary(max_size=300))
def test_fuzz_random_handshake_records(body: bytes) -> None:
    _check(record(b"\x01" + len(body).to_bytes(3, "big") + body))


_REAL = real_hello("fuzz.site.test")


@settings(max_examples=500)
@given(st.lists(st.tuples(st.integers(0, len(_REAL) - 1), st.integers(0, 255)), max_size=8))
def test_fuzz_mutated_real_hello(mutations: list[tuple[int, int]]) -> None:
    data = bytearray(_REAL)
    for pos, value in mutations:
        data[pos] = value
    _check(bytes(data))
