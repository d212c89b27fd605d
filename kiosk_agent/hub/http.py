"""Plain HTTP/1.1 on the café LAN for the hub and its kiosks' services (asyncio, no TLS).

The service never loads ``ssl`` (kiosk_agent/service/worker.py), and the hub's LAN traffic needs
none: everything a kiosk takes from the hub is verified with its own keys, and reports
carry the kiosk's signature. A small reader and writer, strict limits, one request per
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import urllib.parse
from collections.abc import Mapping
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
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class HttpError(Exception):
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

    def to_bytes(self, *, head_only: bool = False) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Error')}"]
        if self.status != 304:
            lines.append(f"Content-Type: {self.content_type}")
        lines.append(f"Content-Length: {len(self.body)}")
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only or self.status == 304 else head + self.body


def parse_head(head: bytes) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """Method, path, query and lower-cased headers of a request head; ``HttpError``
    (400) for anything that is not an HTTP/1.x request."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise HttpError(400, "bad request") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
        raise HttpError(400, "not an HTTP/1.x request")
    method, target, _ = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HttpError(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    url = urllib.parse.urlsplit(target)
    query = dict(urllib.parse.parse_qsl(url.query))
    return method.upper(), url.path, query, headers


async def read_request(reader: asyncio.StreamReader, max_body: int = MAX_BODY) -> Request:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpError(413, "request headers too large") from None
    if len(head) > MAX_HEADER:
        raise HttpError(413, "request headers too large")
    method, path, query, headers = parse_head(head)
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise HttpError(400, "bad Content-Length")
    length = int(length_text)
    if length > max_body:
        raise HttpError(413, "request body too large")
    body = await reader.readexactly(length) if length else b""
    return Request(method, path, query, headers, body)


async def request(
    host: str,
    port: int,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
    max_body: int = MAX_BODY,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request to the hub (the service's side: heartbeats); raises
    ``OSError`` or ``TimeoutError`` when the hub cannot be reached in time."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            lines += [f"Content-Length: {len(body)}", "Connection: close"]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *rest = head.decode("latin-1").split("\r\n")
            parts = status_line.split(" ", 2)
            if len(parts) < 2 or not parts[1].isdigit():
                raise OSError("the hub's answer is not HTTP")
            answer_headers: dict[str, str] = {}
            for line in rest:
                name, sep, value = line.partition(":")
                if sep:
                    answer_headers[name.strip().lower()] = value.strip()
            length = int(answer_headers.get("content-length", "0") or 0)
            if length > max_body:
                raise OSError("the hub's answer is too large")
            data = await reader.readexactly(length) if length else b""
            return int(parts[1]), answer_headers, data
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            raise OSError(f"bad answer from the hub: {e}") from None
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def split_hub(url: str) -> tuple[str, int]:
    """``http://ADDRESS:PORT`` -> (address, port)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None or parts.port is None:
        raise ValueError(f"not a hub address: {url}")
    return parts.hostname, parts.port


def is_loopback(peer: str) -> bool:
    """True for a loopback peer address (with or without an IPv6 zone)."""
    try:
        return ipaddress.ip_address(peer.split("%")[0]).is_loopback
    except ValueError:
        return False
