"""Write ICU's word-break dictionaries as the compressed word lists the notice uses (dev time).

ICU's data library holds the Thai, Lao, Khmer and Burmese dictionaries as byte tries
(``brkitr/<name>dict.dict``). This reads them out of Debian's ``libicu72`` (with
``icupkg`` from ``icu-devtools``), walks each trie and writes its words of at most
``MAX_LEN`` characters, sorted, one a line, front-coded (a digit: the characters shared
with the word before, then the rest) and bz2-compressed, to
``kiosk_agent/notices/dicts/<script>.words.bz2`` (read by ``notices/wordbreak.py``).

All the words (793 KB zlib, 424 KB front-coded bz2) would push the one-file program over
its 25 MiB; words of at most 10 characters are 301 KB and change 2 % of the break
points in the shipped texts (at most 8: 209 KB, 7 %; measured, docs/BENCHMARKS.md): a
longer word is mostly a compound, which is then broken between its parts.

    python scripts/icu_dict_words.py
"""

from __future__ import annotations

import bz2
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from kiosk_agent.notices.wordbreak import front_code

LIB = Path("/usr/lib/x86_64-linux-gnu/libicudata.so.72")
OUT = Path(__file__).resolve().parent.parent / "kiosk_agent" / "notices" / "dicts"
DICTS = {"Thai": "thaidict", "Laoo": "laodict", "Khmr": "khmerdict", "Mymr": "burmesedict"}
MAX_LEN = 10


def _delta(b: bytes, pos: int) -> tuple[int, int]:
    d = b[pos]
    pos += 1
    if d < 0xC0:
        return pos, d
    if d < 0xF0:
        return pos + 1, ((d - 0xC0) << 8) | b[pos]
    if d < 0xFE:
        return pos + 2, ((d - 0xF0) << 16) | (b[pos] << 8) | b[pos + 1]
    if d == 0xFE:
        return pos + 3, int.from_bytes(b[pos : pos + 3], "big")
    return pos + 4, int.from_bytes(b[pos : pos + 4], "big")


def _skip_value(pos: int, lead: int) -> int:
    if lead >= 0xA2:
        if lead < 0xD8:
            return pos + 1
        if lead < 0xFC:
            return pos + 2
        return pos + 3 + ((lead >> 1) & 1)
    return pos


def _value(b: bytes, pos: int, lead: int) -> tuple[int, int]:
    if lead < 0x51:
        return pos, lead - 0x10
    if lead < 0x6C:
        return pos + 1, ((lead - 0x51) << 8) | b[pos]
    if lead < 0x7E:
        return pos + 2, ((lead - 0x6C) << 16) | (b[pos] << 8) | b[pos + 1]
    if lead == 0x7E:
        return pos + 3, int.from_bytes(b[pos : pos + 3], "big")
    return pos + 4, int.from_bytes(b[pos : pos + 4], "big")


def _walk(b: bytes, pos: int, prefix: bytes, out: list[bytes]) -> None:
    """ICU BytesTrie nodes: branch (< 0x10), linear match (< 0x20), value (>= 0x20)."""
    while True:
        node = b[pos]
        pos += 1
        if node < 0x10:
            length = node
            if length == 0:
                length = b[pos]
                pos += 1
            _branch(b, pos, length + 1, prefix, out)
            return
        if node < 0x20:
            n = node - 0x10 + 1
            prefix += b[pos : pos + n]
            pos += n
            continue
        out.append(prefix)
        if node & 1:  # final value
            return
        pos = _skip_value(pos, node)


def _branch(b: bytes, pos: int, length: int, prefix: bytes, out: list[bytes]) -> None:
    while length > 5:  # binary-search part: a split byte and a jump to the lower half
        after, d = _delta(b, pos + 1)
        _branch(b, after + d, length >> 1, prefix, out)
        length -= length >> 1
        pos = after
    while length > 1:
        key, node = b[pos], b[pos + 1]
        if node & 1:
            out.append(prefix + bytes([key]))
            pos = _skip_value(pos + 2, node)
        else:
            after, d = _value(b, pos + 2, node >> 1)
            _walk(b, after + d, prefix + bytes([key]), out)
            pos = after
        length -= 1
    _walk(b, pos + 1, prefix + bytes([b[pos]]), out)


def dict_words(data: bytes) -> list[str]:
    """Every word of one ICU ``.dict`` file (byte trie with an offset transform)."""
    header = struct.unpack_from("<H", data, 0)[0]
    index = struct.unpack_from("<8i", data, header)
    trie_offset, total, trie_type, transform = index[0], index[3], index[4], index[5]
    if trie_type & 7 != 0 or transform & 0x7F000000 != 0x01000000:
        raise ValueError("not a byte trie with an offset transform")
    offset = transform & 0x1FFFFF
    trie = data[header + trie_offset : header + total]
    raw: list[bytes] = []
    _walk(trie, 0, b"", raw)

    def decode(word: bytes) -> str:
        return "".join(
            "\u200c" if c == 0xFF else "\u200d" if c == 0xFE else chr(offset + c) for c in word
        )

    return sorted({decode(w) for w in raw})


def main() -> int:
    sys.setrecursionlimit(100_000)
    with tempfile.TemporaryDirectory() as tmp:
        dat = Path(tmp) / "icudt72l.dat"
        subprocess.run(
            ["objcopy", "-O", "binary", "--only-section=.rodata", str(LIB), str(dat)], check=True
        )
        for script, name in DICTS.items():
            subprocess.run(["icupkg", "-d", tmp, "-x", f"brkitr/{name}.dict", str(dat)], check=True)
            words = dict_words((Path(tmp) / "brkitr" / f"{name}.dict").read_bytes())
            kept = [w for w in words if len(w) <= MAX_LEN]
            packed = bz2.compress(front_code(kept).encode("utf-8"), 9)
            (OUT / f"{script}.words.bz2").write_bytes(packed)
            print(f"{script}: {len(kept)} of {len(words)} words, {len(packed)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
