"""Which characters a TrueType/OpenType font has glyphs for, read from its ``cmap`` table.

The notice renderer uses it to send each character to a font that can draw it (a phone
number inside Ge'ez or Arabic text goes to the Latin font). Pillow has no such query, and
fontTools would be a large dependency for one table. Every read is bounds-checked through
one reader; anything malformed raises ``FontFormatError``.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass
from typing import Any


class FontFormatError(ValueError):
    """The font file is truncated or its tables are not what they claim."""


class _Reader:
    """Bounds-checked big-endian reads from the font bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def unpack(self, fmt: str, offset: int) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if offset < 0 or offset + size > len(self.data):
            raise FontFormatError(f"read of {size} bytes at {offset} past the end")
        return struct.unpack_from(fmt, self.data, offset)

    def u16(self, offset: int) -> int:
        return int(self.unpack(">H", offset)[0])

    def u32(self, offset: int) -> int:
        return int(self.unpack(">I", offset)[0])


@dataclass(frozen=True)
class Coverage:
    """Sorted, merged ``[start, end]`` code point ranges that have a glyph."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def __contains__(self, char: object) -> bool:
        if not isinstance(char, str) or len(char) != 1:
            return False
        cp = ord(char)
        i = bisect.bisect_right(self.starts, cp) - 1
        return i >= 0 and cp <= self.ends[i]

    @classmethod
    def from_ranges(cls, ranges: list[tuple[int, int]]) -> Coverage:
        merged: list[list[int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return cls(tuple(r[0] for r in merged), tuple(r[1] for r in merged))


def font_coverage(data: bytes) -> Coverage:
    """The characters with a glyph in the font ``data`` (a .ttf/.otf file's bytes)."""
    r = _Reader(data)
    num_tables = r.u16(4)
    cmap_offset = None
    for i in range(num_tables):
        tag, _checksum, offset, _length = r.unpack(">4sIII", 12 + 16 * i)
        if tag == b"cmap":
            cmap_offset = offset
    if cmap_offset is None:
        raise FontFormatError("no cmap table")
    subtables: dict[tuple[int, int], int] = {}
    for i in range(r.u16(cmap_offset + 2)):
        platform, encoding, offset = r.unpack(">HHI", cmap_offset + 4 + 8 * i)
        subtables[(platform, encoding)] = cmap_offset + offset
    # Prefer the full-Unicode subtables (format 12), then the BMP ones (format 4).
    for key in ((3, 10), (0, 4), (0, 6), (3, 1), (0, 3), (0, 2), (0, 1), (0, 0)):
        if key in subtables:
            offset = subtables[key]
            fmt = r.u16(offset)
            if fmt == 12:
                return Coverage.from_ranges(_format12(r, offset))
            if fmt == 4:
                return Coverage.from_ranges(_format4(r, offset))
    raise FontFormatError("no Unicode cmap subtable of format 4 or 12")


def _format12(r: _Reader, offset: int) -> list[tuple[int, int]]:
    groups = r.u32(offset + 12)
    if groups > (len(r.data) - offset) // 12:
        raise FontFormatError("format 12: more groups than bytes")
    ranges = []
    for i in range(groups):
        start, end, glyph = r.unpack(">III", offset + 16 + 12 * i)
        if end < start or end > 0x10FFFF:
            raise FontFormatError("format 12: bad group")
        if glyph == 0:  # the first code maps to .notdef: not really covered
            start += 1
        if start <= end:
            ranges.append((start, end))
    return ranges


def _format4(r: _Reader, offset: int) -> list[tuple[int, int]]:
    seg_count = r.u16(offset + 6) // 2
    ends_at = offset + 14
    starts_at = ends_at + 2 * seg_count + 2
    deltas_at = starts_at + 2 * seg_count
    range_offsets_at = deltas_at + 2 * seg_count
    ranges: list[tuple[int, int]] = []
    for i in range(seg_count):
        end = r.u16(ends_at + 2 * i)
        start = r.u16(starts_at + 2 * i)
        delta = r.u16(deltas_at + 2 * i)
        range_offset = r.u16(range_offsets_at + 2 * i)
        if start > end:
            raise FontFormatError("format 4: segment start after end")
        if start == 0xFFFF:
            continue
        if range_offset == 0:
            # glyph = (cp + delta) mod 65536; at most one code in the segment maps to 0.
            notdef = (-delta) & 0xFFFF
            if start <= notdef <= end:
                ranges += [(a, b) for a, b in ((start, notdef - 1), (notdef + 1, end)) if a <= b]
            else:
                ranges.append((start, end))
            continue
        if end - start > 0x4000:
            raise FontFormatError("format 4: implausible segment")
        for cp in range(start, end + 1):
            at = range_offsets_at + 2 * i + range_offset + 2 * (cp - start)
            if r.u16(at) != 0:
                ranges.append((cp, cp))
    return ranges
