"""The server name (SNI) of a TLS ClientHello, read without decrypting anything.

The proxy only needs to know which host a browser wants so it can splice the
connection there unchanged. Every byte is read through ``_Reader``, which raises
``HelloMalformed`` when a length field claims more than there is; ``parse_client_hello``
raises nothing but ``ClientHelloError`` subclasses. A ClientHello may arrive split over
several TLS records (RFC 8446 5.1 allows it; post-quantum key shares make it large), so
the records' handshake fragments are joined first, up to ``MAX_HELLO_BYTES``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RECORD_HEADER_LEN = 5
CONTENT_HANDSHAKE = 22
HANDSHAKE_CLIENT_HELLO = 1
EXTENSION_SERVER_NAME = 0
NAME_TYPE_HOST = 0
MAX_RECORD_LEN = 16384 + 2048  # TLSPlaintext limit plus the slack TLS 1.2 allows
MAX_HELLO_BYTES = 64 * 1024
"""The largest ClientHello (handshake message plus its records' headers) we accept."""

# RFC 6066 3: a HostName is ASCII letters, digits, hyphens and dots, no trailing dot.
# Underscores occur in real host names and are let through.
_HOST = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")


class ClientHelloError(Exception):
    """The bytes are not (yet) a usable TLS ClientHello."""


class HelloIncomplete(ClientHelloError):
    """A valid prefix of a ClientHello: read ``needed`` more bytes and parse again."""

    def __init__(self, needed: int) -> None:
        super().__init__(f"need {needed} more bytes")
        self.needed = needed


class NotTls(ClientHelloError):
    """The first bytes are not a TLS handshake record (plain HTTP on port 443, say)."""


class HelloMalformed(ClientHelloError):
    """A length that overruns its container, a bad record, or a bad server name."""


class HelloTooLarge(ClientHelloError):
    """The ClientHello would exceed ``MAX_HELLO_BYTES``."""


@dataclass(frozen=True, slots=True)
class ClientHello:
    """What the proxy learns from a ClientHello: the server name, if the client sent one.

    ``record_bytes`` is how many bytes of the input the hello's records occupy; the
    proxy forwards all bytes it read, unchanged, whatever this says.
    """

    server_name: str | None
    record_bytes: int


class _Reader:
    """Bounds-checked reads over one buffer: every overrun is ``HelloMalformed``."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def get_bytes(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise HelloMalformed(f"field of {n} bytes overruns its container")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def get_uint(self, width: int) -> int:
        return int.from_bytes(self.get_bytes(width), "big")

    def sub(self, length_width: int) -> _Reader:
        """A reader over the next length-prefixed vector; this reader skips past it."""
        n = self.get_uint(length_width)
        if self.pos + n > self.end:
            raise HelloMalformed(f"vector of {n} bytes overruns its container")
        inner = _Reader(self.data, self.pos, self.pos + n)
        self.pos += n
        return inner


def _handshake_bytes(data: bytes) -> tuple[bytes, int]:
    """Join the handshake records' fragments until one full handshake message is there.

    Returns the message (header included) and the number of input bytes its records use.
    """
    fragments = bytearray()
    pos = 0
    needed_total: int | None = None
    while True:
        if len(data) - pos < RECORD_HEADER_LEN:
            raise HelloIncomplete(RECORD_HEADER_LEN - (len(data) - pos))
        content_type = data[pos]
        major = data[pos + 1]
        length = int.from_bytes(data[pos + 3 : pos + 5], "big")
        if content_type != CONTENT_HANDSHAKE or major != 3:
            if pos == 0:
                raise NotTls("not a TLS handshake record")
            raise HelloMalformed("a non-handshake record interrupts the ClientHello")
        if length == 0 or length > MAX_RECORD_LEN:
            raise HelloMalformed(f"record length {length} out of range")
        if pos + RECORD_HEADER_LEN + length > MAX_HELLO_BYTES:
            raise HelloTooLarge(f"ClientHello larger than {MAX_HELLO_BYTES} bytes")
        body_start = pos + RECORD_HEADER_LEN
        available = len(data) - body_start
        if available < length:
            raise HelloIncomplete(length - available)
        fragments += data[body_start : body_start + length]
        pos = body_start + length
        if needed_total is None and len(fragments) >= 4:
            if fragments[0] != HANDSHAKE_CLIENT_HELLO:
                raise HelloMalformed("the first handshake message is not a ClientHello")
            needed_total = 4 + int.from_bytes(fragments[1:4], "big")
            if needed_total > MAX_HELLO_BYTES:
                raise HelloTooLarge(f"ClientHello larger than {MAX_HELLO_BYTES} bytes")
        if needed_total is not None and len(fragments) >= needed_total:
            return bytes(fragments[:needed_total]), pos


def _server_name(extension: _Reader) -> str | None:
    names = extension.sub(2)
    if extension.remaining():
        raise HelloMalformed("bytes after the server_name list")
    while names.remaining():
        name_type = names.get_uint(1)
        name = names.get_bytes(names.get_uint(2))
        if name_type != NAME_TYPE_HOST:
            continue
        return _host_name(name)
    return None


def _host_name(raw: bytes) -> str:
    try:
        text = raw.decode("ascii").lower()
    except UnicodeDecodeError:
        raise HelloMalformed("server name is not ASCII") from None
    if text.endswith("."):
        text = text[:-1]
    if len(text) > 253 or not _HOST.fullmatch(text):
        raise HelloMalformed("server name is not a host name")
    return text


def parse_client_hello(data: bytes) -> ClientHello:
    """Read the server name from the TLS records at the start of ``data``.

    Raises ``HelloIncomplete`` (read more), ``NotTls``, ``HelloMalformed`` or
    ``HelloTooLarge``; all are ``ClientHelloError``.
    """
    message, used = _handshake_bytes(data)
    r = _Reader(message, 4)
    r.get_bytes(2)  # legacy_version
    r.get_bytes(32)  # random
    session_id = r.sub(1)
    if session_id.remaining() > 32:
        raise HelloMalformed("session id longer than 32 bytes")
    suites = r.sub(2)
    if suites.remaining() == 0 or suites.remaining() % 2:
        raise HelloMalformed("cipher suite list is empty or odd")
    if r.sub(1).remaining() == 0:
        raise HelloMalformed("compression method list is empty")
    if r.remaining() == 0:
        return ClientHello(None, used)  # no extensions at all (SSL 3 / early TLS 1.0)
    extensions = r.sub(2)
    if r.remaining():
        raise HelloMalformed("bytes after the extensions")
    server_name: str | None = None
    seen: set[int] = set()
    while extensions.remaining():
        ext_type = extensions.get_uint(2)
        body = extensions.sub(2)
        if ext_type in seen:
            raise HelloMalformed(f"extension {ext_type} appears twice")
        seen.add(ext_type)
        if ext_type == EXTENSION_SERVER_NAME:
            server_name = _server_name(body)
    return ClientHello(server_name, used)


ALERT_ACCESS_DENIED = bytes([21, 3, 1, 0, 2, 2, 49])
"""A fatal TLS ``access_denied`` alert record: how the proxy refuses a listed host
without a certificate of its own (the browser shows a connection error)."""
