"""Signed, hashed feed bundles: the wire format, its one reader, and the encoder.

A bundle carries one version of a hotline list as sorted 64-bit hashes of canonical
expressions (``urls.hash_int``), one Rice-coded section per category, never a readable
entry. A full bundle holds the whole list; a delta holds what to remove and add to go
from ``base_version`` to ``version``. Layout (docs/feed-format.md has the reasons)::

    magic  b"KAFEED" + format u16 (1)           8 bytes
    header length, u32 big-endian               4 bytes
    header: UTF-8 JSON (canonical)              list, version, times, categories, sections,
                                                body length and SHA-256
    Ed25519 signature over the 12 + header bytes above            64 bytes
    body: each section's unary stream then its low-bit stream

Every check raises a ``FeedError`` subclass with a short ``code`` that becomes the
reason of ``FeedRejected`` and the counter ``feeds.rejected.<code>``.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kiosk_agent.contracts import rice, signed

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "SUSPECT",
    "BadFormat",
    "BadSignature",
    "BaseMismatch",
    "Bundle",
    "BundleHeader",
    "Category",
    "Expired",
    "FeedEntries",
    "FeedError",
    "Rollback",
    "Section",
    "Truncated",
    "UntrustedKey",
    "encode_bundle",
    "encode_delta",
    "encode_full",
    "public_key_string",
    "read_bundle",
    "read_header",
    "verify_signature",
]

MAGIC = b"KAFEED"
FORMAT = 1
PREFIX = struct.Struct(">6sHI")  # magic, format, header length
SIG_LEN = 64
MAX_HEADER = 1 << 20
SUSPECT = 0  # section code of hosts that have URL-level entries (issue 8): never a block
HASH_PARAMS = {"alg": "sha256", "bytes": 8, "expressions": "safebrowsing-v4"}
ACTIONS = ("block",)
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_KEY = re.compile(r"^ed25519:[A-Za-z0-9+/]{43}=\Z")
_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")


# -- errors -----------------------------------------------------------------------------
# The refusals are those of every signed thing (``contracts/signed.py``: one verifier);
# the names stay, so callers and docs keep saying ``feed.FeedError`` and its codes.

FeedError = signed.SignedError
BadFormat = signed.BadFormat
Truncated = signed.Truncated
BadSignature = signed.BadSignature
UntrustedKey = signed.UntrustedKey
Rollback = signed.Rollback
Expired = signed.Expired


class BaseMismatch(signed.SignedError):
    """A delta whose base is not the version applied (or an index that is not its base)."""

    code = "base_mismatch"


# -- header -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Category:
    """A list category: ``code`` in the bundle and index (1-255), ``id`` the short token
    used in events and counters, ``name`` for people, ``action`` what a match does."""

    code: int
    id: str
    name: str
    action: str = "block"


@dataclass(frozen=True, slots=True)
class Section:
    """One Rice-coded set of hashes: ``op`` add or remove, for category ``code``
    (``SUSPECT`` = 0 for suspect hosts), at ``offset`` in the body."""

    op: str
    code: int
    count: int
    k: int
    unary_len: int
    low_len: int
    offset: int


@dataclass(frozen=True, slots=True)
class BundleHeader:
    """What a bundle says about itself. Times are Unix seconds (UTC)."""

    format: int
    issuer: str
    key: str
    list_id: str
    version: int
    base_version: int | None
    created: int
    expires: int
    categories: tuple[Category, ...]
    sections: tuple[Section, ...]
    body_length: int
    body_sha256: str
    result_count: int
    hash_params: Mapping[str, Any] = field(default_factory=lambda: dict(HASH_PARAMS))

    @property
    def is_delta(self) -> bool:
        return self.base_version is not None

    @property
    def added(self) -> int:
        """Entries added (for a full bundle: all entries), suspect hosts included."""
        return sum(s.count for s in self.sections if s.op == "add")

    @property
    def removed(self) -> int:
        return sum(s.count for s in self.sections if s.op == "remove")

    def count(self, code: int, op: str = "add") -> int:
        return sum(s.count for s in self.sections if s.op == op and s.code == code)

    def category(self, code: int) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    @property
    def claims(self) -> signed.Claims:
        """What the bundle says about itself, as every signed thing says it."""
        return signed.Claims(
            "feed", self.issuer, self.key, self.list_id, self.version, self.created, self.expires
        )


# One reader of header fields for every signed thing (contracts/signed.py).
_need = signed.need
_int = signed.header_int
_str = signed.header_text


def _parse_header(raw: bytes, body_start: int) -> BundleHeader:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadFormat("header is not JSON") from None
    _need(isinstance(obj, dict), "header is not a JSON object")
    _need(obj.get("format") == FORMAT, "unknown format version")
    version = _int(obj, "version", 1)
    base = obj.get("base_version")
    if base is not None:
        base = _int(obj, "base_version", 0, version - 1)
    created = _int(obj, "created")
    expires = _int(obj, "expires", created + 1)
    _need(obj.get("hash") == HASH_PARAMS, "unknown hash parameters")
    cats_raw = obj.get("categories")
    _need(isinstance(cats_raw, list) and 1 <= len(cats_raw) <= 255, "categories: 1 to 255")
    cats = []
    for c in cats_raw:
        _need(isinstance(c, dict), "category must be an object")
        cats.append(
            Category(
                code=_int(c, "code", 1, 255),
                id=_str(c, "id", _TOKEN),
                name=_str(c, "name"),
                action=_str(c, "action"),
            )
        )
        _need(cats[-1].action in ACTIONS, "unknown category action")
    _need(len({c.code for c in cats}) == len(cats), "category codes repeat")
    _need(len({c.id for c in cats}) == len(cats), "category ids repeat")
    codes = {c.code for c in cats} | {SUSPECT}
    secs_raw = obj.get("sections")
    _need(isinstance(secs_raw, list) and len(secs_raw) <= 512, "sections: a list")
    sections = []
    offset = body_start
    seen: set[tuple[str, int]] = set()
    for s in secs_raw:
        _need(isinstance(s, dict), "section must be an object")
        op = s.get("op")
        _need(op in ("add", "remove"), "section op must be add or remove")
        _need(op == "add" or base is not None, "a full bundle removes nothing")
        code = _int(s, "code", 0, 255)
        _need(op == "remove" or code in codes, "section for an unknown category")
        _need((op, code) not in seen, "section repeats")
        seen.add((op, code))
        count = _int(s, "count", 0, 1 << 40)
        k = _int(s, "k", 0, 63)
        unary_len = _int(s, "unary", 0, 1 << 40)
        low_len = _int(s, "low", 0, 1 << 40)
        _need(low_len == (count * k + 7) // 8, "section low-bit length does not match")
        _need(unary_len * 8 >= count, "section unary stream too short")
        sections.append(Section(str(op), code, count, k, unary_len, low_len, offset))
        offset += unary_len + low_len
    body = obj.get("body")
    _need(isinstance(body, dict), "header lacks the body description")
    assert isinstance(body, dict)
    body_length = _int(body, "length")
    _need(body_length == offset - body_start, "body length does not match the sections")
    return BundleHeader(
        format=FORMAT,
        issuer=_str(obj, "issuer"),
        key=_str(obj, "key", _KEY),
        list_id=_str(obj, "list_id", _TOKEN),
        version=version,
        base_version=base,
        created=created,
        expires=expires,
        categories=tuple(cats),
        sections=tuple(sections),
        body_length=body_length,
        body_sha256=_str(body, "sha256", _HEX64),
        result_count=_int(obj, "result_count"),
    )


def _split(prefix: bytes) -> tuple[int, int]:
    """(header length, body start) from the first bytes; raises for a non-bundle."""
    if len(prefix) < PREFIX.size:
        if MAGIC.startswith(prefix[:6]):
            raise Truncated("data ends inside the bundle prefix")
        raise BadFormat("not a feed bundle (bad magic)")
    magic, fmt, hlen = PREFIX.unpack_from(prefix)
    if magic != MAGIC:
        raise BadFormat("not a feed bundle (bad magic)")
    if fmt != FORMAT:
        raise BadFormat(f"unknown bundle format {fmt}")
    if hlen > MAX_HEADER:
        raise BadFormat("header too long")
    return hlen, PREFIX.size + hlen + SIG_LEN


# -- byte sources (memory or file) -----------------------------------------------------


class _Source(Protocol):
    def size(self) -> int: ...
    def read(self, offset: int, length: int) -> bytes | memoryview: ...


class _MemorySource:
    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._mv = memoryview(data).cast("B")

    def size(self) -> int:
        return len(self._mv)

    def read(self, offset: int, length: int) -> memoryview:
        return self._mv[offset : offset + length]


class _FileSource:
    """Reads a bundle file piecewise, so a big bundle never sits in memory whole."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def size(self) -> int:
        return self.path.stat().st_size

    def read(self, offset: int, length: int) -> bytes:
        with self.path.open("rb") as f:
            f.seek(offset)
            return f.read(length)


class _LazyStream:
    """A section stream as rice.iter_decode slices it: reads only the asked-for range."""

    def __init__(self, src: _Source, offset: int, length: int) -> None:
        self._src, self._off, self._len = src, offset, length
        self._cache: tuple[int, bytes | memoryview] | None = None

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, s: slice) -> bytes | memoryview:
        start, stop, _ = s.indices(self._len)
        return self._src.read(self._off + start, max(0, stop - start))


def _source(data: bytes | bytearray | memoryview | Path | str) -> _Source:
    if isinstance(data, Path | str):
        return _FileSource(Path(data))
    return _MemorySource(data)


# -- the reader -------------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """A verified bundle. The hashes are decoded on demand, chunk by chunk."""

    header: BundleHeader
    _src: _Source = field(repr=False)

    def iter_section(self, section: Section) -> Iterator[array[int]]:
        """The section's sorted hashes in ``array('Q')`` chunks. Raises BadFormat."""
        unary = _LazyStream(self._src, section.offset, section.unary_len)
        low = _LazyStream(self._src, section.offset + section.unary_len, section.low_len)
        try:
            yield from rice.iter_decode(section.k, section.count, unary, low)
        except rice.RiceError as e:
            raise BadFormat(f"section {section.op}/{section.code}: {e}") from None

    def section(self, op: str, code: int) -> Section | None:
        return next((s for s in self.header.sections if s.op == op and s.code == code), None)

    def hashes(self, code: int, op: str = "add") -> array[int]:
        """All hashes of one section as one array (empty when there is no such section)."""
        sec = self.section(op, code)
        return rice.concat(self.iter_section(sec)) if sec else array("Q")

    def entries(self) -> FeedEntries:
        """The whole list of a full bundle (for building a delta against it)."""
        if self.header.is_delta:
            raise ValueError("a delta does not hold a whole list")
        return FeedEntries(
            self.header.categories,
            {s.code: rice.concat(self.iter_section(s)) for s in self.header.sections},
        )

    def validate(self) -> None:
        """Decode every section once; raises BadFormat when one does not decode."""
        for sec in self.header.sections:
            for _ in self.iter_section(sec):
                pass


def _read_header(src: _Source) -> tuple[BundleHeader, int]:
    """(header, length of the signed prefix) from a byte source."""
    try:
        hlen, body_start = _split(bytes(src.read(0, PREFIX.size)))
        raw = bytes(src.read(PREFIX.size, hlen))
        if len(raw) < hlen or src.size() < body_start:
            raise Truncated("data ends inside the header or signature")
        return _parse_header(raw, body_start), PREFIX.size + hlen
    except OSError as e:
        raise BadFormat(f"cannot read bundle: {e.strerror}") from None


def read_header(data: bytes | bytearray | memoryview | Path | str) -> BundleHeader:
    """Parse a bundle's header without trusting it (inspect, server publishing).

    ``data`` is the bundle's bytes or a file path. Raises ``FeedError``.
    """
    return _read_header(_source(data))[0]


public_key_string = signed.public_key_string


def _verified(src: _Source, trusted_keys: Iterable[str]) -> BundleHeader:
    header, hlen = _read_header(src)
    signed.check_signed(
        header.claims, bytes(src.read(0, hlen)), bytes(src.read(hlen, SIG_LEN)), trusted_keys
    )
    body_start = hlen + SIG_LEN
    if src.size() < body_start + header.body_length:
        raise Truncated("data ends inside the body")
    if src.size() > body_start + header.body_length:
        raise BadFormat("bytes after the body")
    digest = hashlib.sha256()
    for pos in range(0, header.body_length, 1 << 20):
        digest.update(src.read(body_start + pos, min(1 << 20, header.body_length - pos)))
    if digest.hexdigest() != header.body_sha256:
        raise BadSignature("body does not match its signed digest")
    return header


def verify_signature(
    data: bytes | bytearray | memoryview | Path | str, trusted_keys: Iterable[str]
) -> BundleHeader:
    """Check format, trusted key, signature and body digest only (no expiry, rollback or
    base checks): for a server publishing bundles. Raises ``FeedError``."""
    return _verified(_source(data), trusted_keys)


def read_bundle(
    data: bytes | bytearray | memoryview | Path | str,
    trusted_keys: Iterable[str],
    *,
    applied_version: int | None = None,
    now: float | None = None,
    validate: bool = True,
) -> Bundle:
    """Verify a bundle (bytes, or a file path read piecewise) and return it.

    Checks, in order: format and lengths, trusted key, signature, body digest, expiry
    against ``now`` (Unix seconds; pass the corrected clock), rollback against
    ``applied_version`` (the version applied for this list, None if none), a delta's base,
    and (``validate``) that every section decodes. Raises a ``FeedError`` subclass.
    """
    src = _source(data)
    header = _verified(src, trusted_keys)
    signed.check_fresh(header.claims, applied_version=applied_version, now=now)
    if header.base_version is not None and header.base_version != applied_version:
        raise BaseMismatch(
            f"delta from version {header.base_version}, applied version is {applied_version}"
        )
    bundle = Bundle(header, src)
    if validate:
        bundle.validate()
    return bundle


# -- the encoder ------------------------------------------------------------------------


@dataclass
class FeedEntries:
    """One version of a list, without cleartext: categories and, per code, sorted hashes
    (``SUSPECT`` holds the hosts of URL-level entries)."""

    categories: tuple[Category, ...]
    hashes: dict[int, array[int]]

    def total(self) -> int:
        return sum(len(a) for a in self.hashes.values())


def _difference(a: Sequence[int], b: Sequence[int]) -> list[int]:
    """Sorted members of sorted ``a`` that are not in ``b``."""
    other = set(b)
    return [x for x in a if x not in other]


def encode_bundle(
    *,
    key: Ed25519PrivateKey,
    issuer: str,
    list_id: str,
    version: int,
    created: int,
    expires: int,
    categories: Sequence[Category],
    adds: Mapping[int, Sequence[int]],
    removes: Mapping[int, Sequence[int]] | None = None,
    base_version: int | None = None,
    result_count: int,
) -> bytes:
    """Encode and sign a bundle from sorted hash sets per code. Empty sets are left out."""
    from cryptography.hazmat.primitives import serialization

    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sections: list[dict[str, Any]] = []
    parts: list[bytes] = []
    for op, sets in (("remove", removes or {}), ("add", adds)):
        for code in sorted(sets):
            if not len(sets[code]):
                continue
            sec = rice.encode(sets[code])
            sections.append(
                {
                    "op": op,
                    "code": code,
                    "count": sec.count,
                    "k": sec.k,
                    "unary": len(sec.unary),
                    "low": len(sec.low),
                }
            )
            parts += [sec.unary, sec.low]
    body = b"".join(parts)
    header = {
        "format": FORMAT,
        "issuer": issuer,
        "key": public_key_string(pub),
        "list_id": list_id,
        "version": version,
        "base_version": base_version,
        "created": created,
        "expires": expires,
        "categories": [
            {"code": c.code, "id": c.id, "name": c.name, "action": c.action} for c in categories
        ],
        "hash": HASH_PARAMS,
        "sections": sections,
        "body": {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()},
        "result_count": result_count,
    }
    raw = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    prefix = PREFIX.pack(MAGIC, FORMAT, len(raw)) + raw
    _parse_header(raw, len(prefix) + SIG_LEN)  # never publish what the reader would refuse
    return prefix + key.sign(prefix) + body


def encode_full(
    entries: FeedEntries,
    *,
    key: Ed25519PrivateKey,
    issuer: str,
    list_id: str,
    version: int,
    created: int,
    expires: int,
) -> bytes:
    """A signed full bundle of ``entries``."""
    return encode_bundle(
        key=key,
        issuer=issuer,
        list_id=list_id,
        version=version,
        created=created,
        expires=expires,
        categories=entries.categories,
        adds=entries.hashes,
        result_count=entries.total(),
    )


def encode_delta(
    base: FeedEntries,
    new: FeedEntries,
    *,
    key: Ed25519PrivateKey,
    issuer: str,
    list_id: str,
    version: int,
    base_version: int,
    created: int,
    expires: int,
) -> bytes:
    """A signed delta taking a kiosk from ``base`` (version ``base_version``) to ``new``.

    Category codes must mean the same in both (``align_categories`` arranges that).
    """
    codes = set(base.hashes) | set(new.hashes)
    empty: array[int] = array("Q")
    removes = {c: _difference(base.hashes.get(c, empty), new.hashes.get(c, empty)) for c in codes}
    adds = {c: _difference(new.hashes.get(c, empty), base.hashes.get(c, empty)) for c in codes}
    return encode_bundle(
        key=key,
        issuer=issuer,
        list_id=list_id,
        version=version,
        base_version=base_version,
        created=created,
        expires=expires,
        categories=new.categories,
        adds=adds,
        removes=removes,
        result_count=new.total(),
    )


def align_categories(base: Sequence[Category], ids: Sequence[str]) -> tuple[Category, ...]:
    """Categories for ``ids`` that keep the codes ``base`` gave them; new ids get free codes."""
    known = {c.id: c for c in base}
    used = {c.code for c in base}
    out = []
    free = (c for c in range(1, 256) if c not in used)
    for cid in ids:
        if cid in known:
            out.append(known[cid])
        else:
            try:
                out.append(Category(next(free), cid, cid))
            except StopIteration:
                raise ValueError("more than 255 categories") from None
    return tuple(out)
