"""A small reader for the tip pictures' PNGs (8-bit palette or RGBA, not interlaced).

Pillow's PNG plugin imports ``fractions`` and ``decimal`` and five palette modules, about
0.9 MB the UI process would keep for hours after its first notice (measured with
``benchmarks/notices_ui.py``); the pictures need none of that. Anything this reader does
not handle raises ``PngError`` and the caller falls back to Pillow.
"""

from __future__ import annotations

import struct
import zlib

from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIDE = 512
MAX_CHUNKS = 64


class PngError(ValueError):
    """Not a PNG this reader handles (or not a PNG at all)."""


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> bytes:
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise PngError("image data has the wrong length")
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 0xFF
        elif kind == 2:
            for x in range(stride):
                line[x] = (line[x] + prev[x]) & 0xFF
        elif kind == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 0xFF
        elif kind == 4:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                upleft = prev[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + _paeth(left, prev[x], upleft)) & 0xFF
        elif kind != 0:
            raise PngError(f"unknown filter {kind}")
        out[y * stride : (y + 1) * stride] = line
        prev = line
    return bytes(out)


def read_png(data: bytes) -> Image.Image:
    """The RGBA image in ``data``; raises ``PngError`` for anything unexpected."""
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG")
    pos = len(SIGNATURE)
    header: tuple[int, int, int, int, int, int, int] | None = None
    palette = b""
    alpha = b""
    idat: list[bytes] = []
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(data):
            raise PngError("truncated")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise PngError("truncated chunk")
        crc = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        if zlib.crc32(kind + body) != crc:
            raise PngError("bad checksum")
        pos += 12 + length
        if kind == b"IHDR":
            if length != 13:
                raise PngError("bad header")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = body
        elif kind == b"tRNS":
            alpha = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    else:
        raise PngError("too many chunks")
    if header is None:
        raise PngError("no header")
    width, height, depth, color, _comp, _filt, interlace = header
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE) or depth != 8 or interlace:
        raise PngError("only 8-bit, non-interlaced pictures up to 512 px")
    if color not in (3, 6):
        raise PngError("only palette or RGBA pictures")
    bpp = 1 if color == 3 else 4
    limit = height * (width * bpp + 1)
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(b"".join(idat), limit + 1)
    except zlib.error as e:
        raise PngError(f"bad image data: {e}") from None
    pixels = _unfilter(raw, width, height, bpp)
    if color == 6:
        return Image.frombytes("RGBA", (width, height), pixels)
    if len(palette) % 3 or not palette:
        raise PngError("bad palette")
    count = len(palette) // 3
    alphas = alpha[:count] + b"\xff" * (count - len(alpha[:count]))
    entries = [palette[i * 3 : i * 3 + 3] + alphas[i : i + 1] for i in range(count)]
    if max(pixels) >= count:
        raise PngError("palette index out of range")
    return Image.frombytes("RGBA", (width, height), b"".join(entries[i] for i in pixels))
