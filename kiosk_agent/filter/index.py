"""The blocklist index: one list's sorted 64-bit hashes in a memory-mapped file.

One file per list (``state_dir/index/<list_id>.idx``), one sorted ``u64`` array per
category plus one of suspect hosts, each with a small bucket table (the first index of
each value of the top bits) that narrows the binary search to a dozen entries. Lookups
use ``bisect`` on a ``memoryview`` of the mapping: no Python object per entry, about
8.3 bytes of memory per entry. Layout (native byte order, recorded in the header)::

    "KAIDX" 0 0 1, u32 header length, UTF-8 JSON header, zero padding to a page
    per code: hashes (u64 x count), then per code: bucket table (u32 x 2**bits + 1),
    then per code: prefilter (about 4 bits per entry, one bit set per hash)

Updates never rewrite the file in place: ``apply_bundle`` streams the old index and a
verified bundle into a temp file (fsync, rename), so memory stays near the steady state
and a reader never sees half an index. ``IndexHolder`` is what readers call through; it
swaps to a newly opened index in one assignment.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import io
import itertools
import json
import mmap
import os
import re
import struct
import sys
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from kiosk_agent.atomic import fsync_dir
from kiosk_agent.contracts import feed
from kiosk_agent.filter.urls import (
    InvalidURL,
    host_expression_bytes,
    host_hashes,
    name_sha256,
    url_hashes,
)

__all__ = [
    "BlocklistIndex",
    "IndexError_",
    "IndexHolder",
    "apply_bundle",
    "build_index",
    "index_path",
    "read_index_info",
]

MAGIC = b"KAIDX\x00\x00\x01"
PAGE = 4096
_PREFIX = struct.Struct(">8sI")
_U64 = struct.Struct(">Q")
_LIST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_TARGET_BUCKET = 16  # entries per bucket on average
_MAX_BITS = 24


class IndexError_(Exception):
    """The index file is missing, damaged or from another machine's byte order."""


def index_path(state_dir: Path | str, list_id: str) -> Path:
    """Where the index of ``list_id`` lives under ``state_dir``."""
    if not _LIST_ID.match(list_id):
        raise ValueError(f"bad list id {list_id!r}")
    return Path(state_dir) / "index" / f"{list_id}.idx"


def _bucket_bits(count: int) -> int:
    return max(0, min(_MAX_BITS, (count // _TARGET_BUCKET).bit_length() - 1))


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """What an index file says about the list it holds."""

    list_id: str
    version: int
    key: str
    issuer: str
    created: int
    expires: int
    categories: tuple[feed.Category, ...]
    counts: dict[int, int]  # code -> entries (feed.SUSPECT included)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _filter_bits(count: int) -> int:
    """Size of an array's one-bit-per-slot prefilter: about 4 bits per entry."""
    return max(64, -(-4 * count // 8) * 8)


class _HashArray:
    """One sorted hash array of the mapping, with its bucket table and prefilter."""

    __slots__ = ("count", "filter", "filter_bits", "hashes", "shift", "table")

    def __init__(self, hashes: memoryview, table: memoryview, bits: int, filt: memoryview) -> None:
        self.hashes = hashes
        self.table = table
        self.shift = 64 - bits
        self.count = len(hashes)
        self.filter = filt
        self.filter_bits = len(filt) * 8

    def __contains__(self, h: int) -> bool:
        p = ((h >> 32) * self.filter_bits) >> 32
        if not (self.filter[p >> 3] >> (p & 7)) & 1:
            return False
        b = h >> self.shift
        hi = self.table[b + 1]
        i = bisect.bisect_left(self.hashes, h, self.table[b], hi)
        return i < hi and self.hashes[i] == h

    def index_of(self, h: int) -> int:
        """Position of ``h``, or -1."""
        i = bisect.bisect_left(self.hashes, h)
        return i if i < self.count and self.hashes[i] == h else -1


def _read_header(buf: bytes | mmap.mmap) -> tuple[dict[str, Any], int]:
    if len(buf) < _PREFIX.size:
        raise IndexError_("index file too short")
    magic, hlen = _PREFIX.unpack_from(buf)
    if magic != MAGIC:
        raise IndexError_("not a blocklist index (bad magic)")
    try:
        obj = json.loads(bytes(buf[_PREFIX.size : _PREFIX.size + hlen]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise IndexError_(f"index header unreadable: {e}") from None
    if not isinstance(obj, dict) or obj.get("byteorder") != sys.byteorder:
        raise IndexError_("index header invalid or from another byte order")
    return obj, _PREFIX.size + hlen


def _info(obj: dict[str, Any]) -> IndexInfo:
    try:
        return IndexInfo(
            list_id=str(obj["list_id"]),
            version=int(obj["version"]),
            key=str(obj["key"]),
            issuer=str(obj["issuer"]),
            created=int(obj["created"]),
            expires=int(obj["expires"]),
            categories=tuple(feed.Category(**c) for c in obj["categories"]),
            counts={int(a["code"]): int(a["count"]) for a in obj["arrays"]},
        )
    except (KeyError, TypeError, ValueError) as e:
        raise IndexError_(f"index header incomplete: {e}") from None


def read_index_info(path: Path | str) -> IndexInfo:
    """The header of an index file, without mapping it."""
    try:
        with open(path, "rb") as f:
            head = f.read(PAGE)
            _, hlen = _PREFIX.unpack_from(head) if len(head) >= _PREFIX.size else (b"", 0)
            if _PREFIX.size + hlen > len(head):
                head += f.read(_PREFIX.size + hlen - len(head))
    except OSError as e:
        raise IndexError_(f"cannot read index {path}: {e.strerror}") from None
    return _info(_read_header(head)[0])


class BlocklistIndex:
    """One list's index, memory-mapped read-only. Thread-safe for lookups."""

    def __init__(self, path: Path, buf: mmap.mmap | bytes, obj: dict[str, Any]) -> None:
        self.path = path
        self.info = _info(obj)
        self._buf = buf
        self._views: list[memoryview] = []
        whole = memoryview(buf)
        self._views.append(whole)
        names = {c.code: c.id for c in self.info.categories}
        blocks: list[tuple[str, _HashArray]] = []
        self._by_code: dict[int, _HashArray] = {}
        self._offsets: dict[int, int] = {}
        self._suspect: _HashArray | None = None
        try:
            for a in obj["arrays"]:
                code, count, off = int(a["code"]), int(a["count"]), int(a["offset"])
                bits, toff = int(a["bits"]), int(a["table_offset"])
                foff, fbits = int(a["filter_offset"]), int(a["filter_bits"])
                if fbits != _filter_bits(count) or foff < 0 or foff + fbits // 8 > len(buf):
                    raise IndexError_("index prefilter outside the file")
                if not 0 <= bits <= _MAX_BITS or count < 0 or off < _PREFIX.size or toff < 0:
                    raise IndexError_("index array description out of range")
                if off % 8 or toff % 4 or off + 8 * count > len(buf):
                    raise IndexError_("index array outside the file")
                if toff + 4 * ((1 << bits) + 1) > len(buf):
                    raise IndexError_("index bucket table outside the file")
                hv = whole[off : off + 8 * count].cast("Q")
                tv = whole[toff : toff + 4 * ((1 << bits) + 1)].cast("I")
                self._views += [hv, tv]
                # A damaged table would send bisect out of range: check it once here.
                if tv[0] != 0 or tv[-1] != count or any(a > b for a, b in itertools.pairwise(tv)):
                    raise IndexError_("index bucket table damaged")
                fv = whole[foff : foff + fbits // 8]
                self._views.append(fv)
                arr = _HashArray(hv, tv, bits, fv)
                self._by_code[code] = arr
                self._offsets[code] = off
                if code == feed.SUSPECT:
                    self._suspect = arr if count else None
                elif count:
                    blocks.append((names.get(code, str(code)), arr))
        except (KeyError, TypeError, ValueError, IndexError_) as e:
            self.close()
            raise IndexError_(f"index damaged: {e}") from None
        self._blocks = tuple(blocks)
        self._flat = tuple(
            (cid, a.hashes, a.table, a.shift, a.filter, a.filter_bits) for cid, a in blocks
        )

    @classmethod
    def open(cls, path: Path | str) -> BlocklistIndex:
        """Map an index file (read into memory on Windows, where a mapped file cannot be
        replaced). Raises ``IndexError_`` for a missing or damaged file."""
        p = Path(path)
        try:
            with p.open("rb") as f:
                if os.name == "nt":
                    buf: mmap.mmap | bytes = f.read()
                else:
                    buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:
            raise IndexError_(f"cannot open index {p}: {e}") from None
        obj, _ = _read_header(buf)
        return cls(p, buf, obj)

    # -- lookups ------------------------------------------------------------------------

    def lookup_hashes(self, hashes: Iterable[int]) -> str | None:
        """The category id of the first hash that is listed, or None."""
        bisect_left = bisect.bisect_left
        for h in hashes:
            # the bucket search of _HashArray.__contains__, inlined: this is the hot path
            top = h >> 32
            for cid, arr, table, shift, filt, fbits in self._flat:
                # prefilter: 4 bits per entry answer most misses without a search
                p = (top * fbits) >> 32
                if not (filt[p >> 3] >> (p & 7)) & 1:
                    continue
                b = h >> shift
                hi = table[b + 1]
                i = bisect_left(arr, h, table[b], hi)
                if i < hi and arr[i] == h:
                    return cid
        return None

    def lookup_host(self, host: str) -> str | None:
        """Category id if ``host`` or one of its parent domains is listed, else None."""
        try:
            exprs = host_expression_bytes(host)
        except InvalidURL:
            return None
        # hashed one at a time: a hit on the exact host needs no second hash
        bisect_left = bisect.bisect_left
        sha = name_sha256
        unpack = _U64.unpack_from
        for e in exprs:
            h = unpack(sha(e).digest())[0]
            top = h >> 32
            for cid, arr, table, shift, filt, fbits in self._flat:
                p = (top * fbits) >> 32
                if not (filt[p >> 3] >> (p & 7)) & 1:
                    continue
                b = h >> shift
                hi = table[b + 1]
                i = bisect_left(arr, h, table[b], hi)
                if i < hi and arr[i] == h:
                    return cid
        return None

    def lookup_url(self, url: str) -> str | None:
        """Category id if any expression of ``url`` (host or page entries) is listed."""
        try:
            return self.lookup_hashes(url_hashes(url))
        except InvalidURL:
            return None

    def is_suspect_hashes(self, hashes: Iterable[int]) -> bool:
        arr = self._suspect
        return arr is not None and any(h in arr for h in hashes)

    def suspect_host(self, host: str) -> bool:
        """True when the list has URL-level entries under ``host`` or a parent domain:
        the host's pages need a closer look (issue 8's proxy). Not a block."""
        if self._suspect is None:
            return False
        try:
            return self.is_suspect_hashes(host_hashes(host))
        except InvalidURL:
            return False

    def offset(self, code: int) -> int:
        """File offset of one code's hash array (0 when the code has none)."""
        return self._offsets.get(code, 0)

    def array(self, code: int) -> memoryview:
        """The sorted hashes of one code (for streaming updates and tests)."""
        arr = self._by_code.get(code)
        return arr.hashes if arr else memoryview(array("Q"))

    def __len__(self) -> int:
        return self.info.total

    @property
    def list_id(self) -> str:
        return self.info.list_id

    @property
    def version(self) -> int:
        return self.info.version

    def close(self) -> None:
        """Release the mapping. Only call when no other thread may still look up."""
        self._blocks = ()
        self._flat = ()
        self._suspect = None
        self._by_code = {}
        for v in reversed(self._views):
            v.release()
        self._views = []
        if isinstance(self._buf, mmap.mmap):
            with contextlib.suppress(BufferError):
                self._buf.close()

    def __enter__(self) -> BlocklistIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- writing ----------------------------------------------------------------------------


class _ArrayWriter:
    """Writes one sorted hash array in chunks and builds its bucket table on the way.

    Each chunk's bucket boundaries come from a bisect in the chunk itself, so the table
    costs no second pass over the file and no mapping of the new index.
    """

    def __init__(self, f: BinaryIO, bits: int, filter_bits: int) -> None:
        self.f = f
        self.bits = bits
        self.shift = 64 - bits
        self.table = array("I", [0]) * ((1 << bits) + 1)
        self.filter = bytearray(filter_bits // 8)
        self.filter_bits = filter_bits
        self.written = 0
        self.next_bucket = 0

    def write(self, chunk: array[int] | memoryview) -> None:
        n = len(chunk)
        if not n:
            return
        last_bucket = chunk[n - 1] >> self.shift
        for b in range(self.next_bucket, last_bucket + 1):
            self.table[b] = self.written + bisect.bisect_left(chunk, b << self.shift)
        self.next_bucket = last_bucket + 1
        filt, m = self.filter, self.filter_bits
        for v in chunk:
            p = ((v >> 32) * m) >> 32
            filt[p >> 3] |= 1 << (p & 7)
        self.f.write(chunk)
        self.written += n

    def finish(self) -> array[int]:
        for b in range(self.next_bucket, (1 << self.bits) + 1):
            self.table[b] = self.written
        return self.table


_COPY_ENTRIES = 1 << 17  # 1 MiB of hashes per read when copying unchanged runs


def _copy_runs(
    old_file: io.BufferedReader, base: int, start: int, stop: int
) -> Iterator[memoryview]:
    """Entries [start, stop) of an old index array at file offset ``base``, read in pieces
    into one reused buffer (read with a file handle, not the mapping: no resident copy)."""
    buf = bytearray(8 * _COPY_ENTRIES)
    view = memoryview(buf)
    old_file.seek(base + 8 * start)
    left = stop - start
    while left > 0:
        want = 8 * min(left, _COPY_ENTRIES)
        got = old_file.readinto(view[:want])
        if not got or got % 8:
            raise IndexError_("old index ends early")
        piece = view[:got].cast("Q")
        try:
            yield piece
        finally:
            piece.release()
        left -= got // 8


class _OldIndex:
    """The index being updated, read through a file handle only.

    A second mapping of the file would count its pages in resident memory a second time
    (the readers' mapping already holds them), so positions are found by reading the
    bucket table and then one bucket (~16 entries) per changed hash.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.file = path.open("rb")  # copies unchanged runs
            self.lookup_file = path.open("rb")  # finds positions, interleaved with copies
        except OSError as e:
            raise IndexError_(f"cannot open index {path}: {e.strerror}") from None
        try:
            head = self.file.read(PAGE)
            hlen = _PREFIX.unpack_from(head)[1] if len(head) >= _PREFIX.size else 0
            if _PREFIX.size + hlen > len(head):
                head += self.file.read(_PREFIX.size + hlen - len(head))
            obj, _ = _read_header(head)
            self.info = _info(obj)
            self.arrays = {int(a["code"]): a for a in obj["arrays"]}
        except (KeyError, TypeError, ValueError, struct.error, IndexError_) as e:
            self.close()
            raise IndexError_(f"index damaged: {e}") from None

    def offset(self, code: int) -> int:
        a = self.arrays.get(code)
        return int(a["offset"]) if a else 0

    def count(self, code: int) -> int:
        a = self.arrays.get(code)
        return int(a["count"]) if a else 0

    def positions(self, code: int, hashes: Iterable[int]) -> Iterator[tuple[int, int, bool]]:
        """For each hash (in the order given): (hash, its position in the code's array or
        where it would go, whether it is there). Lazy, so a big delta costs no list."""
        a = self.arrays.get(code)
        if a is None:
            for h in hashes:
                yield h, 0, False
            return
        bits, count, off = int(a["bits"]), int(a["count"]), int(a["offset"])
        table = array("I")
        f = self.lookup_file
        f.seek(int(a["table_offset"]))
        try:
            table.frombytes(f.read(4 * ((1 << bits) + 1)))
        except ValueError:
            raise IndexError_("index bucket table cut short") from None
        if len(table) != (1 << bits) + 1 or table[0] != 0 or table[-1] != count:
            raise IndexError_("index bucket table damaged")
        shift = 64 - bits
        for h in hashes:
            b = h >> shift
            lo, hi = table[b], table[b + 1]
            if not 0 <= lo <= hi <= count:
                raise IndexError_("index bucket table damaged")
            bucket = array("Q")
            f.seek(off + 8 * lo)
            bucket.frombytes(f.read(8 * (hi - lo)))
            i = bisect.bisect_left(bucket, h)
            yield h, lo + i, i < len(bucket) and bucket[i] == h

    def close(self) -> None:
        self.file.close()
        self.lookup_file.close()


def _merge(
    old: _OldIndex, code: int, removed: array[int], added: array[int]
) -> Iterator[array[int] | memoryview]:
    """The old array of ``code`` minus ``removed`` plus ``added`` in sorted order, as chunks.

    Unchanged runs are read from the old file in pieces. Raises ``BaseMismatch`` when a
    removed hash is missing or an added one already present.
    """
    n = old.count(code)
    old_file, base = old.file, old.offset(code)

    def removals() -> Iterator[tuple[int, int, int]]:
        for h, i, found in old.positions(code, removed):
            if not found:
                raise feed.BaseMismatch("the delta removes an entry the index does not hold")
            yield i, 1, h

    def additions() -> Iterator[tuple[int, int, int]]:
        for h, i, found in old.positions(code, added):
            if found:
                raise feed.BaseMismatch("the delta adds an entry the index already holds")
            yield i, 0, h

    # (position in old, 0 add / 1 remove, hash), merged lazily: at a position the
    # insertion (a smaller hash) comes before the removal of the entry there
    events = heapq.merge(removals(), additions())
    cur = 0
    pending = array("Q")
    for pos, kind, h in events:
        if pos > cur:
            if pending:
                yield pending
                pending = array("Q")
            yield from _copy_runs(old_file, base, cur, pos)
            cur = pos
        if kind == 0:
            pending.append(h)
        else:
            cur = pos + 1
    if pending:
        yield pending
    if cur < n:
        yield from _copy_runs(old_file, base, cur, n)


def _layout(counts: dict[int, int], header: dict[str, Any]) -> tuple[bytes, list[dict[str, int]]]:
    """The header bytes (padded to pages) and the array descriptions, offsets filled in."""
    arrays = [
        {
            "code": c,
            "count": counts[c],
            "bits": _bucket_bits(counts[c]),
            "filter_bits": _filter_bits(counts[c]),
        }
        for c in counts
    ]
    for _ in range(3):  # the header's own length moves the offsets; settles at once
        header["arrays"] = arrays
        raw = json.dumps(header, sort_keys=True).encode("utf-8")
        start = -(-(_PREFIX.size + len(raw) + 64) // PAGE) * PAGE
        off = start
        for a in arrays:
            a["offset"] = off
            off += 8 * a["count"]
        for a in arrays:
            a["table_offset"] = off
            off += 4 * ((1 << a["bits"]) + 1)
        for a in arrays:
            a["filter_offset"] = off
            off += a["filter_bits"] // 8
        raw = json.dumps(header, sort_keys=True).encode("utf-8")
        if _PREFIX.size + len(raw) <= start:
            padding = bytes(start - _PREFIX.size - len(raw))
            return _PREFIX.pack(MAGIC, len(raw)) + raw + padding, arrays
    raise AssertionError("index header layout did not settle")


def apply_bundle(path: Path | str, bundle: feed.Bundle) -> IndexInfo:
    """Write the index at ``path`` for ``bundle`` applied to the index there (a delta needs
    the index of its base version; a full bundle replaces whatever is there).

    The new file is written beside the old one, fsynced and renamed over it; memory use
    stays near one chunk of hashes plus the delta. Raises ``BaseMismatch`` when the index
    is not the delta's base, ``IndexError_`` when the old index cannot be read.
    """
    target = Path(path)
    h = bundle.header
    old: _OldIndex | None = None
    if h.is_delta:
        try:
            old = _OldIndex(target)
        except IndexError_:
            raise feed.BaseMismatch("no index to apply the delta to") from None
        have = old.info
        if have.list_id != h.list_id or have.version != h.base_version:
            old.close()
            raise feed.BaseMismatch(
                f"delta for {h.list_id} v{h.base_version}, index holds {have.list_id} "
                f"v{have.version}"
            )
    try:
        codes = sorted({c.code for c in h.categories} | {feed.SUSPECT})
        counts: dict[int, int] = {}
        for c in codes:
            base = old.info.counts.get(c, 0) if old else 0
            counts[c] = base - h.count(c, "remove") + h.count(c, "add")
        if old:
            dropped = set(old.info.counts) - set(codes)
            if any(old.info.counts[c] - h.count(c, "remove") for c in dropped):
                raise feed.BaseMismatch("the delta drops a category but not its entries")
        if any(v < 0 for v in counts.values()) or sum(counts.values()) != h.result_count:
            raise feed.BaseMismatch("the index and the delta disagree on the entry count")
        header = {
            "byteorder": sys.byteorder,
            "list_id": h.list_id,
            "version": h.version,
            "key": h.key,
            "issuer": h.issuer,
            "created": h.created,
            "expires": h.expires,
            "categories": [
                {"code": c.code, "id": c.id, "name": c.name, "action": c.action}
                for c in h.categories
            ],
        }
        head, arrays = _layout(counts, header)
        # The service's only: the hashes are short unsalted prefixes, so a local user who
        # could read them could test guessed names offline (docs/feed-format.md).
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w+b") as f:
                f.write(head)
                tables = []
                for a in arrays:
                    code = a["code"]
                    sec = bundle.section("add", code)
                    if old is None:
                        chunks: Iterable[array[int] | memoryview] = (
                            bundle.iter_section(sec) if sec else ()
                        )
                    else:
                        chunks = _merge(
                            old, code, bundle.hashes(code, "remove"), bundle.hashes(code)
                        )
                    writer = _ArrayWriter(f, a["bits"], a["filter_bits"])
                    if f.tell() != a["offset"]:
                        raise AssertionError("index layout mismatch")
                    for chunk in chunks:
                        writer.write(chunk)
                    if writer.written != a["count"]:
                        raise feed.BaseMismatch(f"entry count of code {code} does not match")
                    tables.append((writer.finish(), writer.filter))
                for a, (table, _) in zip(arrays, tables, strict=True):
                    if f.tell() != a["table_offset"]:
                        raise AssertionError("index layout mismatch")
                    f.write(table)
                for a, (_, filt) in zip(arrays, tables, strict=True):
                    if f.tell() != a["filter_offset"]:
                        raise AssertionError("index layout mismatch")
                    f.write(filt)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            if old is not None:
                old.close()
                old = None
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        fsync_dir(target.parent)
    finally:
        if old is not None:
            old.close()
    return read_index_info(target)


def build_index(path: Path | str, bundles: Sequence[feed.Bundle]) -> IndexInfo:
    """Write the index of a list from its verified full bundle and the deltas after it."""
    if not bundles or bundles[0].header.is_delta:
        raise ValueError("build_index needs a full bundle first")
    info = apply_bundle(path, bundles[0])
    for b in bundles[1:]:
        info = apply_bundle(path, b)
    return info


# -- readers call through this --------------------------------------------------------


class IndexHolder:
    """The open indexes (one per list) that the resolver and proxy look up through.

    ``swap`` replaces one list's index with a single assignment, so a lookup sees the old
    set or the new one, never a mix; the old mapping is released when the last lookup
    that holds it returns.
    """

    def __init__(self, indexes: Iterable[BlocklistIndex] = ()) -> None:
        self._indexes: tuple[BlocklistIndex, ...] = tuple(indexes)

    @classmethod
    def open_dir(cls, directory: Path | str) -> IndexHolder:
        """Open every ``*.idx`` in ``directory`` (damaged ones are skipped)."""
        found = []
        for p in sorted(Path(directory).glob("*.idx")):
            with contextlib.suppress(IndexError_):
                found.append(BlocklistIndex.open(p))
        return cls(found)

    def swap(self, index: BlocklistIndex) -> None:
        """Put ``index`` in place of the index of the same list (or add it)."""
        self._indexes = (
            *(i for i in self._indexes if i.list_id != index.list_id),
            index,
        )

    def update(self, path: Path | str, bundle: feed.Bundle) -> IndexInfo:
        """Apply a verified bundle to the index file at ``path`` and swap to the result.

        Lookups go on against the old index until the swap. On any error the old index
        (file and mapping) stays in use.
        """
        info = apply_bundle(path, bundle)
        self.swap(BlocklistIndex.open(path))
        return info

    def remove(self, list_id: str) -> None:
        self._indexes = tuple(i for i in self._indexes if i.list_id != list_id)

    @property
    def indexes(self) -> tuple[BlocklistIndex, ...]:
        return self._indexes

    def versions(self) -> dict[str, int]:
        """Applied version per list id."""
        return {i.list_id: i.version for i in self._indexes}

    def __len__(self) -> int:
        return sum(len(i) for i in self._indexes)

    def lookup_host(self, host: str) -> str | None:
        """Category id if any list blocks ``host`` or a parent domain, else None."""
        indexes = self._indexes
        if len(indexes) == 1:  # the usual café: one list, hashed lazily (a hit needs one)
            return indexes[0].lookup_host(host)
        if not indexes:
            return None
        try:
            hashes = host_hashes(host)
        except InvalidURL:
            return None
        for idx in indexes:
            cat = idx.lookup_hashes(hashes)
            if cat is not None:
                return cat
        return None

    def lookup_url(self, url: str) -> str | None:
        """Category id if any list blocks ``url``, else None."""
        indexes = self._indexes
        if not indexes:
            return None
        try:
            hashes = url_hashes(url)
        except InvalidURL:
            return None
        for idx in indexes:
            cat = idx.lookup_hashes(hashes)
            if cat is not None:
                return cat
        return None

    def suspect_host(self, host: str) -> bool:
        """True when some list has URL-level entries under ``host`` or a parent domain."""
        indexes = self._indexes
        if not indexes:
            return False
        try:
            hashes = host_hashes(host)
        except InvalidURL:
            return False
        return any(idx.is_suspect_hashes(hashes) for idx in indexes)
