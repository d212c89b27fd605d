"""net/http_server.py: the request reader the control API and the café hub share."""

from __future__ import annotations

import asyncio

import pytest

from kiosk_agent.net.http_server import HttpError, Request, read_request


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
    ],
)
def test_bad_requests_are_refused(raw: bytes, status: int) -> None:
    with pytest.raises(HttpError) as e:
        _read(raw)
    assert e.value.status == status
