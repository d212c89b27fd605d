"""HTTP ``Range`` on the hub's mirrored files, as a pure decision (RFC 9110, 14.2 and 13.1.5).

A kiosk resuming a ~25 MB program release asks ``Range: bytes=N-``. Only one range per
request is served (a multi-range request, which no kiosk sends, gets the whole file: a
server may ignore ``Range``); a header this parser cannot read is ignored the same way;
a range that starts past the end is ``416``. ``If-Range`` with an ETag other than the
file's (or any weak one) gets the whole file: the kiosk's partial bytes belong to
another file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(r"^([0-9]{1,19})?-([0-9]{1,19})?\Z")


@dataclass(frozen=True)
class RangeAnswer:
    """What to send: ``status`` 200 (the whole file), 206 (bytes ``start``..``end``,
    inclusive) or 416 (nothing; ``Content-Range: bytes */size``)."""

    status: int
    start: int = 0
    end: int = -1

    @property
    def length(self) -> int:
        return self.end - self.start + 1 if self.status != 416 else 0

    def content_range(self, size: int) -> str | None:
        if self.status == 206:
            return f"bytes {self.start}-{self.end}/{size}"
        if self.status == 416:
            return f"bytes */{size}"
        return None


def whole(size: int) -> RangeAnswer:
    return RangeAnswer(200, 0, size - 1)


def plan_range(range_header: str | None, if_range: str | None, etag: str, size: int) -> RangeAnswer:
    """The answer to a GET of a file of ``size`` bytes whose strong ETag is ``etag``."""
    if range_header is None:
        return whole(size)
    if if_range is not None and (if_range.strip().startswith("W/") or if_range.strip() != etag):
        return whole(size)  # the validator is not this file's: send it all
    unit, sep, spec = range_header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return whole(size)
    m = _SPEC.match(spec.strip())
    if m is None or (m.group(1) is None and m.group(2) is None):
        return whole(size)
    first, last = m.group(1), m.group(2)
    if first is None:  # "-N": the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return RangeAnswer(416)
        return RangeAnswer(206, max(0, size - suffix), size - 1)
    start = int(first)
    end = size - 1 if last is None else int(last)
    if last is not None and end < start:
        return whole(size)  # not a valid range: ignored
    if start >= size:
        return RangeAnswer(416)
    return RangeAnswer(206, start, min(end, size - 1))
