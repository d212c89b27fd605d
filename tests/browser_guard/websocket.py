"""A minimal WebSocket client (RFC 6455) over a blocking socket, enough for WebDriver
BiDi on loopback: text messages, fragmentation, ping/pong, close. Test tooling only,
so the project needs no WebSocket package."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import struct
import urllib.parse
from collections.abc import Callable

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 1, 2, 8, 9, 10, 0


class WebSocketError(OSError):
    """The handshake failed, or the peer closed or broke the protocol."""


def encode_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final frame; a client masks every frame (``mask``: 4 bytes, random if None)."""
    mask = os.urandom(4) if mask is None else mask
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def decode_frame(read: Callable[[int], bytes]) -> tuple[bool, int, bytes]:
    """(final, opcode, payload) of the next frame; ``read(n)`` returns exactly n bytes."""
    first, second = read(2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", read(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", read(8))
    mask = read(4) if second & 0x80 else b""
    payload = read(size) if size else b""
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bool(first & 0x80), first & 0x0F, payload


class WebSocket:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "ws" or parts.hostname is None or parts.port is None:
            raise WebSocketError(f"not a ws://host:port URL: {url}")
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(
            (
                f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self._buffer = b""
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode()
        if not head.startswith("HTTP/1.1 101") or accept not in head:
            self.sock.close()
            raise WebSocketError(f"handshake refused: {head.splitlines()[0] if head else ''}")

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            self._fill()
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise WebSocketError("the peer closed the connection")
        self._buffer += chunk

    def _read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._fill()
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def send(self, text: str) -> None:
        self.sock.sendall(encode_frame(TEXT, text.encode()))

    def recv(self, timeout: float) -> str:
        """The next text message (pings are answered on the way)."""
        self.sock.settimeout(timeout)
        parts: list[bytes] = []
        while True:
            final, opcode, payload = decode_frame(self._read)
            if opcode == PING:
                self.sock.sendall(encode_frame(PONG, payload))
            elif opcode == CLOSE:
                raise WebSocketError("the peer closed the WebSocket")
            elif opcode in (TEXT, BINARY, CONTINUATION):
                parts.append(payload)
                if final:
                    return b"".join(parts).decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(encode_frame(CLOSE, b""))
        self.sock.close()
