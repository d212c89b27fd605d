"""net/http_server.py: the request heads and responses the control API, the café hub, the
browser guard and the URL proxy's pages share."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.net.http_server import (
    REASONS,
    HttpError,
    Request,
    Response,
    parse_request_head,
    read_request,
)


def _read(raw: bytes, max_body: int = 1024) -> Request:
    async def go() -> Request:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await read_request(reader, max_body)

    return asyncio.run(go())


def test_a_request_with_a_body_and_a_query() -> None:
    got = _read(b"POST /v1/x?a=1 HTTP/1.1\r\nContent-Length: 2\r\nX-A: b\r\n\r\n{}")
    assert (got.method, got.path, got.query, got.headers["x-a"]) == (
        "POST",
        "/v1/x",
        {"a": "1"},
        "b",
    )
    assert got.json() == {}


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        # "¹" (latin-1 0xB9) is a digit to str.isdigit, not to int(): 400, not a crash
        (b"POST / HTTP/1.1\r\nContent-Length: \xb9\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n", 413),
        (b"GET / SPDY/3\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),  # space before the colon
        (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400),  # obsolete line folding
        (b"GET / HTTP/1.7\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nA: " + b"x" * 20000 + b"\r\n\r\n", 413),
    ],
)
def test_bad_requests_are_refused(raw: bytes, status: int) -> None:
    with pytest.raises(HttpError) as e:
        _read(raw)
    assert e.value.status == status


def test_request_head_keeps_repeats_and_the_raw_query() -> None:
    head = parse_request_head(b"GET /v1/check?p=a%2Cb&k=1 HTTP/1.1\r\nHost: a\r\nhost: b\r\n")
    assert (head.method, head.path, head.query) == ("GET", "/v1/check", "p=a%2Cb&k=1")
    assert head.headers == {"host": "b"} and head.repeated == frozenset({"host"})
    assert head.fields == (("host", "a"), ("host", "b"))


@given(st.binary(max_size=300))
def test_request_head_parses_or_refuses_with_400(data: bytes) -> None:
    try:
        head = parse_request_head(data)
    except HttpError as e:
        assert e.status == 400
        return
    assert head.version in ("HTTP/1.0", "HTTP/1.1") and head.method.isalpha()
    assert all(name == name.strip().lower() and name for name, _ in head.fields)


def test_responses_keep_alive_only_when_asked() -> None:
    closed = Response(403, b"no", "text/plain", {"Cache-Control": "no-store"}).to_bytes()
    assert closed == (
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
        b"Cache-Control: no-store\r\nConnection: close\r\n\r\nno"
    )
    kept = Response(200, b"").to_bytes(keep_alive=True)
    assert kept.endswith(b"Connection: keep-alive\r\n\r\n")
    assert REASONS[431] == "Request Header Fields Too Large"  # the proxy's answers too
