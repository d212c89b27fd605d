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
import urllib.parse
from collections.abc import Mapping

# The request reader and the answer are shared with the control API.
from kiosk_agent.net.http_server import (
    MAX_BODY,
    MAX_HEADER,
    REASONS,
    HttpError,
    Request,
    Response,
    parse_head,
    read_request,
)

__all__ = [
    "MAX_BODY",
    "MAX_HEADER",
    "REASONS",
    "HttpError",
    "Request",
    "Response",
    "is_loopback",
    "parse_head",
    "read_request",
    "request",
    "split_hub",
]


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
