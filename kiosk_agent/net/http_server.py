"""The agent's small HTTP/1.1 server side: request heads, responses, strict limits.

Used by the control API on loopback (kiosk_agent/service/control.py), the café hub on
the LAN (kiosk_agent/hub/http.py), the browser guard's API (kiosk_agent/filter/guard.py,
keep-alive) and the URL proxy's own pages; no TLS (the service never loads ``ssl``).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

MAX_HEADER = 16 * 1024
MAX_BODY = 256 * 1024
REASONS = {
    200: "OK",
    202: "Accepted",
    303: "See Other",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


class HttpError(Exception):
    """Answer the request with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    peer: str = ""

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            raise HttpError(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise HttpError(400, "the body must be a JSON object")
        return data


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, obj: object, **headers: str) -> Response:
        return cls(status, json.dumps(obj).encode("utf-8"), headers=dict(headers))

    def to_bytes(self, *, head_only: bool = False, keep_alive: bool = False) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Error')}"]
        if self.status != 304:
            lines.append(f"Content-Type: {self.content_type}")
        lines.append(f"Content-Length: {len(self.body)}")
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only or self.status == 304 else head + self.body


@dataclass(frozen=True)
class RequestHead:
    """A request head as sent: ``fields`` in order, names lower-cased, repeats kept."""

    method: str
    target: str
    version: str
    fields: tuple[tuple[str, str], ...]

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self) -> str:
        """The raw query string (not decoded)."""
        return urllib.parse.urlsplit(self.target).query

    @property
    def headers(self) -> dict[str, str]:
        """Name -> value; the last one of a repeated header."""
        return dict(self.fields)

    @property
    def repeated(self) -> frozenset[str]:
        names = [name for name, _ in self.fields]
        return frozenset(n for n in names if names.count(n) > 1)


def parse_request_head(head: bytes) -> RequestHead:
    """Parse a request head (with or without its blank line); ``HttpError`` (400) for
    anything that is not an HTTP/1.0 or 1.1 request, and for whitespace before a header's
    colon or a folded line (RFC 9112: a server must refuse those, a smuggling vector)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1") or not parts[0].isalpha():
        raise HttpError(400, "not an HTTP/1.x request")
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, "malformed header line")
        fields.append((name.lower(), value.strip()))
    return RequestHead(parts[0], parts[1], parts[2], tuple(fields))


def parse_head(head: bytes) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """Method (upper case), path, decoded query and lower-cased headers of a request
    head; ``HttpError`` (400) as ``parse_request_head``."""
    request = parse_request_head(head)
    query = dict(urllib.parse.parse_qsl(request.query))
    return request.method.upper(), request.path, query, request.headers


async def read_head(reader: asyncio.StreamReader, max_header: int = MAX_HEADER) -> bytes:
    """The next request head, blank line included; ``HttpError`` (413) past ``max_header``
    (the reader's own limit may be lower), ``IncompleteReadError`` at the end."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpError(413, "request headers too large") from None
    if len(head) > max_header:
        raise HttpError(413, "request headers too large")
    return head


async def read_request(reader: asyncio.StreamReader, max_body: int = MAX_BODY) -> Request:
    method, path, query, headers = parse_head(await read_head(reader))
    length_text = headers.get("content-length", "0")
    if not (length_text.isascii() and length_text.isdigit()):  # not "¹" or "+5"
        raise HttpError(400, "bad Content-Length")
    length = int(length_text)
    if length > max_body:
        raise HttpError(413, "request body too large")
    body = await reader.readexactly(length) if length else b""
    return Request(method, path, query, headers, body)
