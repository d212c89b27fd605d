"""Golomb-Rice coding of sorted 64-bit hashes, in two byte streams, fast in pure Python.

A sorted set of n distinct values is stored as its gaps ``d_i = v_i - v_(i-1) - 1``
(``d_0 = v_0``). Each gap splits into a quotient ``d >> k``, written in unary (that many
0 bits, then a 1), and a remainder of ``k`` bits. Quotients and remainders go to two
separate streams (the same number of bits as interleaved Rice codes) so that both can be
packed and unpacked in bulk: the unary stream through one big integer and its binary
string (``str.split('1')`` yields the quotients), the remainders in byte-aligned groups of
eight. Random 64-bit hashes cost about ``64 - log2(n) + 1.5`` bits each: 5.7 bytes for a
million.

Decoding is a generator of ``array('Q')`` chunks, so a caller never holds more than one
chunk of Python integers.
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["RiceError", "RiceSection", "choose_k", "decode", "encode", "iter_decode"]

CHUNK = 8192  # entries per decoded chunk (a multiple of 8: low-bit chunks stay byte-aligned)
_MAX_Q = 1 << 20  # a longer run of zeros cannot belong to a 64-bit value
_UNARY = ["0" * q + "1" for q in range(64)]


class Stream(Protocol):
    """What the decoder needs of a stream: its length and byte slices."""

    def __len__(self) -> int: ...
    def __getitem__(self, s: slice, /) -> bytes | memoryview: ...


class RiceError(ValueError):
    """The streams do not decode to ``count`` sorted 64-bit values."""


@dataclass(frozen=True, slots=True)
class RiceSection:
    """One Rice-coded sorted set: parameter ``k``, ``count`` values and the two streams."""

    k: int
    count: int
    unary: bytes
    low: bytes


def _gaps(values: Sequence[int]) -> list[int]:
    prev = -1
    out: list[int] = []
    append = out.append
    for v in values:
        append(v - prev - 1)
        prev = v
    return out


def choose_k(gaps: Sequence[int]) -> int:
    """The Rice parameter with the fewest total bits for these gaps."""
    n = len(gaps)
    if n == 0:
        return 0
    mean = max(1.0, sum(gaps) / n)
    k0 = max(0, min(63, int(math.log2(mean * math.log(2)))))
    best_k, best_cost = k0, -1
    for k in range(max(0, k0 - 1), min(63, k0 + 1) + 1):
        cost = n * (k + 1) + sum(d >> k for d in gaps)
        if best_cost < 0 or cost < best_cost:
            best_k, best_cost = k, cost
    return best_k


def encode(values: Sequence[int], k: int | None = None) -> RiceSection:
    """Rice-code strictly increasing values in [0, 2**64). Raises ValueError otherwise."""
    gaps = _gaps(values)
    if gaps and (min(gaps) < 0 or values[-1] >= 1 << 64):
        raise ValueError("values must be strictly increasing 64-bit integers")
    if k is None:
        k = choose_k(gaps)
    n = len(gaps)
    unary_parts: list[bytes] = []
    low_parts: list[bytes] = []
    carry = ""
    mask = (1 << k) - 1
    fmt = f"{{:0{k}b}}".format
    for start in range(0, n, CHUNK):
        chunk = gaps[start : start + CHUNK]
        bits = carry + "".join(
            [_UNARY[q] if q < 64 else "0" * q + "1" for q in (d >> k for d in chunk)]
        )
        whole = len(bits) - len(bits) % 8
        if whole:
            unary_parts.append(int(bits[:whole], 2).to_bytes(whole // 8, "big"))
        carry = bits[whole:]
        if k:
            low_bits = "".join([fmt(d & mask) for d in chunk])
            low_bits += "0" * (-len(low_bits) % 8)
            low_parts.append(int(low_bits, 2).to_bytes(len(low_bits) // 8, "big"))
    if carry:
        unary_parts.append(int(carry + "0" * (-len(carry) % 8), 2).to_bytes(1, "big"))
    return RiceSection(k, n, b"".join(unary_parts), b"".join(low_parts))


def _quotients(unary: Stream, count: int) -> Iterator[list[int]]:
    """Lists of quotients read from the unary stream, ``count`` in all; checks the padding."""
    pending = ""  # zeros read but not yet closed by a 1
    left = count
    block = 4096
    for pos in range(0, len(unary), block):
        raw = unary[pos : pos + block]
        bits = pending + format(int.from_bytes(raw, "big"), f"0{len(raw) * 8}b")
        pieces = bits.split("1")
        pending = pieces.pop()
        if len(pending) > _MAX_Q:
            raise RiceError("unary run too long")
        if len(pieces) > left:
            raise RiceError("more values in the unary stream than counted")
        if pieces:
            left -= len(pieces)
            yield [len(p) for p in pieces]
        if left == 0 and pos + block < len(unary):
            raise RiceError("bytes after the unary stream")
    if left:
        raise RiceError(f"unary stream ends {left} values short")
    if len(pending) >= 8:
        raise RiceError("unary stream longer than its values")


def _remainders(low: Stream, k: int, count: int) -> Iterator[list[int]]:
    """Lists of CHUNK remainders (the last one shorter) from the low stream."""
    expected = (count * k + 7) // 8
    if len(low) != expected:
        raise RiceError(f"low stream is {len(low)} bytes, expected {expected}")
    if k == 0:
        for start in range(0, count, CHUNK):
            yield [0] * min(CHUNK, count - start)
        return
    step = CHUNK * k // 8
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        off = start * k // 8
        raw = low[off : off + step]
        bits = format(int.from_bytes(raw, "big"), f"0{len(raw) * 8}b")
        yield [int(bits[j : j + k], 2) for j in range(0, n * k, k)]


def iter_decode(k: int, count: int, unary: Stream, low: Stream) -> Iterator[array[int]]:
    """The sorted values of a Rice section, in ``array('Q')`` chunks of up to CHUNK.

    Raises ``RiceError`` (while iterating) when the streams are inconsistent.
    """
    if not 0 <= k <= 63 or count < 0:
        raise RiceError(f"bad parameters k={k} count={count}")
    if count == 0:
        if len(unary) or len(low):
            raise RiceError("bytes in an empty section")
        return
    qs = itertools.chain.from_iterable(_quotients(unary, count))
    prev = -1
    for rs in _remainders(low, k, count):
        # rs first: zip stops on it without drawing one quotient too many
        incs = [((q << k) | r) + 1 for r, q in zip(rs, qs, strict=False)]
        if len(incs) != len(rs):
            raise RiceError("unary stream ends early")
        values = list(itertools.accumulate(incs, initial=prev))
        prev = values[-1]
        try:
            yield array("Q", values[1:])
        except OverflowError:
            raise RiceError("value beyond 64 bits") from None
    if next(qs, None) is not None:
        raise RiceError("unary stream longer than its values")


def decode(section: RiceSection) -> array[int]:
    """All values of a section in one array (tests and small sections)."""
    out = array("Q")
    for chunk in iter_decode(section.k, section.count, section.unary, section.low):
        out.extend(chunk)
    return out


def concat(chunks: Iterable[array[int]]) -> array[int]:
    """One array from decoded chunks."""
    out = array("Q")
    for chunk in chunks:
        out.extend(chunk)
    return out
