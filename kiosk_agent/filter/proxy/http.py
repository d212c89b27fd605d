"""HTTP/1.x message heads and body framing, parsed strictly enough to proxy safely.

The proxy checks every request on a connection, so it must know exactly where each
request and each response ends: a lax parser here would let one request hide inside
another (request smuggling). So: CRLF line ends only, no folded headers, no space
before a colon, one ``Host``, ``Content-Length`` values that agree, and never both
``Content-Length`` and ``Transfer-Encoding`` in a request. Bytes are never rewritten:
the proxy forwards the raw head it parsed. Every parser here raises only
``HttpParseError`` subclasses, each carrying the status the proxy answers with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

MAX_HEAD_BYTES = 32 * 1024
MAX_RESPONSE_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 128
MAX_CHUNK_LINE = 4096
MAX_TRAILER_BYTES = 32 * 1024

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(rb"[\x21-\x7e\x80-\xff]+")
_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_HOST = re.compile(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::([0-9]{0,5}))?")
_DIGITS = re.compile(rb"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")


class HttpParseError(Exception):
    """A message the proxy will not pass on; ``status`` is what the client gets."""

    status: ClassVar[int] = 400


class HeadTooLarge(HttpParseError):
    """The head is longer than the limit or has too many header lines."""

    status: ClassVar[int] = 431


class BadStartLine(HttpParseError):
    """The request or status line is not ``METHOD target HTTP/1.x`` / ``HTTP/1.x NNN``."""


class UnsupportedVersion(HttpParseError):
    """An HTTP version other than 1.0 and 1.1 (HTTP/2 prior knowledge, HTTP/0.9)."""

    status: ClassVar[int] = 505


class BadHeader(HttpParseError):
    """A header line that is not ``name: value`` or holds control characters."""


class BadFraming(HttpParseError):
    """Contradictory or invalid Content-Length / Transfer-Encoding."""


class UnsupportedFraming(HttpParseError):
    """A request transfer coding other than chunked."""

    status: ClassVar[int] = 501


class BadChunk(HttpParseError):
    """A chunked body whose size lines, chunk ends or trailers are malformed."""


@dataclass(frozen=True, slots=True)
class NoBody:
    """The message has no body."""


@dataclass(frozen=True, slots=True)
class Length:
    """The body is exactly ``size`` bytes."""

    size: int


@dataclass(frozen=True, slots=True)
class Chunked:
    """The body is chunked; ``ChunkedScanner`` finds its end."""


@dataclass(frozen=True, slots=True)
class UntilClose:
    """The body runs until the server closes the connection (responses only)."""


Framing = NoBody | Length | Chunked | UntilClose


@dataclass(frozen=True, slots=True)
class Headers:
    """Header fields in order, names lowercased, values with surrounding spaces removed."""

    fields: tuple[tuple[str, str], ...]

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self.fields if k == name]

    def tokens(self, name: str) -> list[str]:
        """The comma-separated, lowercased tokens of every ``name`` field."""
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]


@dataclass(frozen=True, slots=True)
class RequestHead:
    """One parsed request head; ``raw`` is its exact bytes (forwarded unchanged)."""

    method: str
    target: str
    version: tuple[int, int]
    headers: Headers
    raw: bytes

    @property
    def host(self) -> str | None:
        """The host the request is for (absolute-form target first, then ``Host``), lowercase,
        without port or trailing dot; None when there is none."""
        if self.target.startswith(("http://", "https://")):
            authority = self.target.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
            return _parse_host(authority.rsplit("@", 1)[-1])
        values = self.headers.get_all("host")
        return _parse_host(values[0]) if values else None

    @property
    def path(self) -> str:
        """The path and query (``/`` for ``*`` and for an absolute-form target without one)."""
        if self.target.startswith(("http://", "https://")):
            rest = self.target.split("://", 1)[1]
            cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=-1)
            if cut < 0:
                return "/"
            tail = rest[cut:]
            return tail if tail.startswith("/") else "/" + tail
        return self.target if self.target.startswith("/") else "/"

    @property
    def keep_alive(self) -> bool:
        return _keep_alive(self.version, self.headers)

    @property
    def framing(self) -> Framing:
        return request_framing(self.headers)


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """One parsed response head; ``raw`` is its exact bytes (forwarded unchanged)."""

    status: int
    version: tuple[int, int]
    headers: Headers
    raw: bytes

    @property
    def keep_alive(self) -> bool:
        return _keep_alive(self.version, self.headers)


def _parse_host(value: str) -> str | None:
    m = _HOST.fullmatch(value.strip())
    if not m:
        return None
    host = m.group(1).lower()
    if host.startswith("["):
        return host
    host = host.rstrip(".")
    return host or None


def _keep_alive(version: tuple[int, int], headers: Headers) -> bool:
    tokens = headers.tokens("connection")
    if "close" in tokens:
        return False
    return version >= (1, 1) or "keep-alive" in tokens


def _version(raw: bytes) -> tuple[int, int]:
    if raw == b"HTTP/1.1":
        return (1, 1)
    if raw == b"HTTP/1.0":
        return (1, 0)
    if raw.startswith(b"HTTP/"):
        raise UnsupportedVersion(f"HTTP version {raw[5:12]!r} is not supported")
    raise BadStartLine("no HTTP version")


def _head_lines(raw: bytes, limit: int) -> list[bytes]:
    if len(raw) > limit:
        raise HeadTooLarge(f"head longer than {limit} bytes")
    if not raw.endswith(b"\r\n\r\n"):
        raise BadHeader("head does not end with an empty line")
    lines = raw[:-4].split(b"\r\n")
    if len(lines) - 1 > MAX_HEADERS:
        raise HeadTooLarge(f"more than {MAX_HEADERS} header fields")
    return lines


def _headers(lines: list[bytes]) -> Headers:
    fields: list[tuple[str, str]] = []
    for line in lines:
        if not line or line[:1] in (b" ", b"\t"):
            raise BadHeader("empty or folded header line")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise BadHeader("header line is not 'name: value'")
        if _VALUE_BAD.search(value):
            raise BadHeader("control character in a header value")
        fields.append((name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")))
    return Headers(tuple(fields))


def parse_request_head(raw: bytes) -> RequestHead:
    """Parse a request head (start line to the empty line, CRLFs included)."""
    lines = _head_lines(raw, MAX_HEAD_BYTES)
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise BadStartLine("request line is not 'METHOD target HTTP/1.x'")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        raise BadStartLine("bad method")
    if not _TARGET.fullmatch(target):
        raise BadStartLine("bad request target")
    head = RequestHead(
        method=method.decode("ascii"),
        target=target.decode("latin-1"),
        version=_version(version),
        headers=_headers(lines[1:]),
        raw=raw,
    )
    hosts = head.headers.get_all("host")
    if len(hosts) > 1:
        raise BadHeader("more than one Host header")
    if hosts and _parse_host(hosts[0]) is None:
        raise BadHeader("Host header is not a host")
    request_framing(head.headers)  # reject bad framing now, not mid-stream
    return head


def parse_response_head(raw: bytes) -> ResponseHead:
    """Parse a response head (status line to the empty line, CRLFs included)."""
    lines = _head_lines(raw, MAX_RESPONSE_HEAD_BYTES)
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or len(parts[1]) != 3 or not parts[1].isdigit():
        raise BadStartLine("status line is not 'HTTP/1.x NNN reason'")
    status = int(parts[1])
    if not 100 <= status <= 599:
        raise BadStartLine("status code out of range")
    if len(parts) == 3 and _VALUE_BAD.search(parts[2]):
        raise BadStartLine("control character in the reason phrase")
    return ResponseHead(status, _version(parts[0]), _headers(lines[1:]), raw)


def _content_length(headers: Headers) -> int | None:
    values = [v.strip() for raw in headers.get_all("content-length") for v in raw.split(",")]
    if not values:
        return None
    if len(set(values)) != 1 or not _DIGITS.fullmatch(values[0].encode("latin-1")):
        raise BadFraming("invalid or conflicting Content-Length")
    return int(values[0])


def request_framing(headers: Headers) -> Framing:
    """How a request's body is delimited (RFC 9112 6.3), refusing anything ambiguous."""
    codings = headers.tokens("transfer-encoding")
    length = _content_length(headers)
    if codings:
        if length is not None:
            raise BadFraming("both Content-Length and Transfer-Encoding")
        if codings != ["chunked"]:
            raise UnsupportedFraming("only the chunked transfer coding is supported")
        return Chunked()
    if length:
        return Length(length)
    return NoBody()


def response_framing(request_method: str, response: ResponseHead) -> Framing:
    """How a response's body is delimited (RFC 9112 6.3), given the request's method."""
    if request_method == "HEAD" or response.status < 200 or response.status in (204, 304):
        return NoBody()
    codings = response.headers.tokens("transfer-encoding")
    if codings:
        return Chunked() if codings[-1] == "chunked" else UntilClose()
    length = _content_length(response.headers)
    if length is not None:
        return Length(length) if length else NoBody()
    return UntilClose()


class ChunkedScanner:
    """Finds where a chunked body ends, while the bytes stream through unchanged.

    ``feed(data)`` returns how many bytes of ``data`` belong to the body: ``len(data)``
    while the body goes on, fewer once its end (the last chunk and trailers) is inside
    ``data``; after that ``done`` is true. Memory is bounded: only a size line or
    trailer line being read is held, up to ``MAX_CHUNK_LINE`` bytes.
    """

    _SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)

    def __init__(self) -> None:
        self._state = self._SIZE
        self._remaining = 0
        self._line = bytearray()
        self._trailer_bytes = 0

    @property
    def done(self) -> bool:
        return self._state == self._DONE

    @property
    def data_remaining(self) -> int:
        """Bytes of chunk data still expected now (0 while a size or trailer line is due):
        a reader may read this much without passing the body's end."""
        return self._remaining if self._state == self._DATA else 0

    def feed(self, data: bytes) -> int:
        pos, n = 0, len(data)
        while pos < n:
            state = self._state
            if state == self._DONE:
                return pos
            if state == self._DATA:
                take = min(self._remaining, n - pos)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = self._DATA_END
                continue
            end = data.find(b"\n", pos)
            stop = n if end < 0 else end + 1
            self._line += data[pos:stop]
            pos = stop
            if len(self._line) > MAX_CHUNK_LINE:
                raise BadChunk("chunk line too long")
            if end < 0:
                continue
            line = bytes(self._line)
            self._line.clear()
            if not line.endswith(b"\r\n"):
                raise BadChunk("chunk line does not end with CRLF")
            self._line_done(line[:-2])
        return pos

    def _line_done(self, line: bytes) -> None:
        if self._state == self._SIZE:
            size_text = line.split(b";", 1)[0].rstrip(b" \t")
            if not _HEX.fullmatch(size_text):
                raise BadChunk("bad chunk size")
            size = int(size_text, 16)
            if size:
                self._remaining = size
                self._state = self._DATA
            else:
                self._state = self._TRAILER
        elif self._state == self._DATA_END:
            if line:
                raise BadChunk("chunk data longer than its size")
            self._state = self._SIZE
        else:  # trailer section: field lines until an empty line
            if not line:
                self._state = self._DONE
                return
            self._trailer_bytes += len(line) + 2
            if self._trailer_bytes > MAX_TRAILER_BYTES:
                raise BadChunk("trailers too long")
            name, sep, _ = line.partition(b":")
            if not sep or not _TOKEN.fullmatch(name):
                raise BadChunk("bad trailer line")
