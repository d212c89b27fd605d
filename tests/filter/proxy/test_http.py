"""Request / response heads and chunked framing: strict where smuggling hides, and fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.filter.proxy import http


def req(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_origin_form_request() -> None:
    raw = req("GET /a/b.html?x=1 HTTP/1.1", "Host: Site.Example:80", "Accept: */*")
    head = http.parse_request_head(raw)
    assert (head.method, head.target, head.version) == ("GET", "/a/b.html?x=1", (1, 1))
    assert head.host == "site.example"
    assert head.path == "/a/b.html?x=1"
    assert head.keep_alive
    assert head.framing == http.NoBody()
    assert head.raw == raw


def test_absolute_form_wins_over_host() -> None:
    head = http.parse_request_head(req("GET http://a.test/x?y HTTP/1.1", "Host: b.test"))
    assert head.host == "a.test" and head.path == "/x?y"
    assert http.parse_request_head(req("GET http://a.test HTTP/1.1")).path == "/"
    assert http.parse_request_head(req("GET http://a.test?q HTTP/1.1")).path == "/?q"


def test_host_forms() -> None:
    assert http.parse_request_head(req("GET / HTTP/1.1", "Host: [::1]:8080")).host == "[::1]"
    assert http.parse_request_head(req("GET / HTTP/1.1", "Host: x.test.")).host == "x.test"
    assert http.parse_request_head(req("GET / HTTP/1.0")).host is None
    assert http.parse_request_head(req("OPTIONS * HTTP/1.1", "Host: x.test")).path == "/"


def test_keep_alive_rules() -> None:
    assert not http.parse_request_head(req("GET / HTTP/1.0", "Host: x")).keep_alive
    assert http.parse_request_head(req("GET / HTTP/1.0", "Connection: Keep-Alive")).keep_alive
    assert not http.parse_request_head(req("GET / HTTP/1.1", "Connection: foo, close")).keep_alive


def test_request_framing() -> None:
    assert http.parse_request_head(req("POST / HTTP/1.1", "Content-Length: 5")).framing == (
        http.Length(5)
    )
    assert http.parse_request_head(req("POST / HTTP/1.1", "Content-Length: 0")).framing == (
        http.NoBody()
    )
    assert http.parse_request_head(
        req("POST / HTTP/1.1", "Content-Length: 7, 7")
    ).framing == http.Length(7)
    chunked = req("POST / HTTP/1.1", "Transfer-Encoding: Chunked")
    assert http.parse_request_head(chunked).framing == http.Chunked()


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (req("GET / HTTP/1.1", " folded: x"), http.BadHeader),
        (req("GET / HTTP/1.1", "Host : x"), http.BadHeader),
        (req("GET / HTTP/1.1", "Host: a", "Host: b"), http.BadHeader),
        (req("GET / HTTP/1.1", "Host: a b"), http.BadHeader),
        (req("GET / HTTP/1.1", "X: a\x00b"), http.BadHeader),
        (req("GET / HTTP/1.1", "X: a\nb"), http.BadHeader),
        (req("GET / HTTP/1.1", "no colon"), http.BadHeader),
        (req("GET / HTTP/1.1", ""), http.BadHeader),
        (b"GET / HTTP/1.1\r\nHost: x\r\n", http.BadHeader),
        (req("GET /  HTTP/1.1"), http.BadStartLine),
        (req("GET / HTTP/1.1 extra"), http.BadStartLine),
        (req("G(T / HTTP/1.1"), http.BadStartLine),
        (req("GET /a\x01 HTTP/1.1"), http.BadStartLine),
        (req("GET / FTP/1.1"), http.BadStartLine),
        (req("PRI * HTTP/2.0"), http.UnsupportedVersion),
        (
            req("POST / HTTP/1.1", "Content-Length: 5", "Transfer-Encoding: chunked"),
            http.BadFraming,
        ),
        (req("POST / HTTP/1.1", "Content-Length: 5", "Content-Length: 6"), http.BadFraming),
        (req("POST / HTTP/1.1", "Content-Length: -1"), http.BadFraming),
        (req("POST / HTTP/1.1", "Content-Length: 0x10"), http.BadFraming),
        (req("POST / HTTP/1.1", "Transfer-Encoding: gzip, chunked"), http.UnsupportedFraming),
        (req("POST / HTTP/1.1", "Transfer-Encoding: chunked, gzip"), http.UnsupportedFraming),
        (req("GET / HTTP/1.1", *[f"X-{i}: y" for i in range(200)]), http.HeadTooLarge),
        (req("GET / HTTP/1.1", "X: " + "y" * 40000), http.HeadTooLarge),
    ],
)
def test_bad_requests(raw: bytes, error: type[http.HttpParseError]) -> None:
    with pytest.raises(error) as info:
        http.parse_request_head(raw)
    assert 400 <= info.value.status < 600


def resp(*lines: str) -> http.ResponseHead:
    return http.parse_response_head(req(*lines))


def test_response_framing() -> None:
    ok = resp("HTTP/1.1 200 OK", "Content-Length: 10")
    assert http.response_framing("GET", ok) == http.Length(10)
    assert http.response_framing("HEAD", ok) == http.NoBody()
    assert http.response_framing("GET", resp("HTTP/1.1 204 No Content")) == http.NoBody()
    assert http.response_framing("GET", resp("HTTP/1.1 304 Not Modified")) == http.NoBody()
    assert http.response_framing("GET", resp("HTTP/1.1 100 Continue")) == http.NoBody()
    assert http.response_framing("GET", resp("HTTP/1.1 200 OK")) == http.UntilClose()
    assert (
        http.response_framing("GET", resp("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked"))
        == http.Chunked()
    )
    assert (
        http.response_framing("GET", resp("HTTP/1.1 200 OK", "Transfer-Encoding: gzip"))
        == http.UntilClose()
    )
    assert http.response_framing("GET", resp("HTTP/1.0 200 OK", "Content-Length: 0")) == (
        http.NoBody()
    )
    assert not resp("HTTP/1.0 200 OK").keep_alive
    assert resp("HTTP/1.1 200").status == 200  # empty reason is allowed


@pytest.mark.parametrize(
    "raw",
    [
        req("HTTP/1.1 20 OK"),
        req("HTTP/1.1 099 Low"),
        req("HTTP/1.1 abc OK"),
        req("HTTP/3 200 OK"),
        req("HTTP/1.1 200 O\x01K"),
        req("HTTP/1.1 200 OK", "Content-Length: x"),
    ],
)
def test_bad_responses(raw: bytes) -> None:
    with pytest.raises(http.HttpParseError):
        head = http.parse_response_head(raw)
        http.response_framing("GET", head)


CHUNKED = b"5;ext=1\r\nhello\r\n1A\r\n" + b"z" * 26 + b"\r\n0\r\nX-Sum: 1\r\n\r\n"


def test_chunked_scanner_finds_the_end() -> None:
    scanner = http.ChunkedScanner()
    assert scanner.feed(CHUNKED + b"GET / HTTP/1.1\r\n") == len(CHUNKED)
    assert scanner.done


def test_chunked_scanner_data_remaining() -> None:
    scanner = http.ChunkedScanner()
    assert scanner.feed(b"a\r\nabc") == 6
    assert scanner.data_remaining == 7
    scanner.feed(b"defghij")
    assert scanner.data_remaining == 0


@settings(max_examples=300)
@given(st.lists(st.integers(1, 40), max_size=20))
def test_chunked_scanner_any_split(cuts: list[int]) -> None:
    scanner = http.ChunkedScanner()
    pos = 0
    for size in [*cuts, len(CHUNKED)]:
        piece = CHUNKED[pos : pos + size]
        assert scanner.feed(piece) == len(piece)
        pos += len(piece)
        if pos >= len(CHUNKED):
            break
    assert scanner.done


@pytest.mark.parametrize(
    "body",
    [
        b"g\r\n",  # not hex
        b"\r\n",  # empty size
        b"5\nhello\r\n",  # bare LF
        b"5\r\nhelloX\r\n",  # data longer than size
        b"1" * 5000,  # endless size line
        b"0\r\nbad trailer\r\n",
        b"0\r\n" + b"X: y\r\n" * 6000,
        b"1234567890123456\r\n",  # size overflow
    ],
)
def test_bad_chunked_bodies(body: bytes) -> None:
    with pytest.raises(http.BadChunk):
        http.ChunkedScanner().feed(body)


@settings(max_examples=500)
@given(st.binary(max_size=400))
def test_fuzz_request_heads(data: bytes) -> None:
    for raw in (data, data + b"\r\n\r\n", b"GET / HTTP/1.1\r\n" + data + b"\r\n\r\n"):
        try:
            head = http.parse_request_head(raw)
        except http.HttpParseError:
            continue
        assert head.raw == raw
        _ = (head.host, head.path, head.keep_alive, head.framing)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_fuzz_response_heads(data: bytes) -> None:
    try:
        head = http.parse_response_head(b"HTTP/1.1 200 OK\r\n" + data + b"\r\n\r\n")
        http.response_framing("GET", head)
    except http.HttpParseError:
        pass


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_fuzz_chunked(data: bytes) -> None:
    scanner = http.ChunkedScanner()
    try:
        used = scanner.feed(data)
    except http.HttpParseError:
        return
    assert 0 <= used <= len(data)
    assert used == len(data) or scanner.done
