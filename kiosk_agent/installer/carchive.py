"""PyInstaller's PKG archive (the "CArchive"): read one, write a smaller one.

The one-file program is PyInstaller's bootloader followed by a PKG archive that holds
everything: the frozen modules (one ``PYZ`` entry), the entry script, run-time options, and
the libraries and data files that the bootloader unpacks into a temporary folder at each
start. ``kiosk-agent install`` splits it: the libraries and data go to a folder once, the
rest into a new, small PKG that a bootloader runs without unpacking anything (see
docs/install.md, "The installed program is unpacked once").

Format (PyInstaller 6, ``PyInstaller/archive/readers.py``; big-endian): the archive's
entries' data, then its table of contents, then an 88-byte cookie
``magic[8] pkg_length toc_offset toc_length python_version python_libname[64]``. A TOC
entry is ``entry_length offset length uncompressed_length compressed_flag typecode name``,
the name NUL-padded to a multiple of 16 bytes. Every read goes through ``_take``, which
raises ``CArchiveError`` when the data is shorter than the header claims.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

COOKIE_MAGIC = b"MEI\014\013\012\013\016"
COOKIE = struct.Struct("!8sIIII64s")
TOC_ENTRY = struct.Struct("!IIIIBc")

# Typecodes (PyInstaller/archive/readers.py). The bootloader runs a program in one-file
# mode exactly when its PKG holds an entry of an extractable type.
EXTRACTABLE = frozenset("bxZnd")  # binary, data, zipfile, symlink, dependency
FILES = frozenset("bxZ")  # written to the contents folder as files
SYMLINK = "n"
OPTION = "o"
CONTENTS_DIRECTORY_OPTION = "pyi-contents-directory "


class CArchiveError(ValueError):
    """The bytes are not a PKG archive this code can read (truncated, bad sizes, bad names)."""


@dataclass(frozen=True)
class Entry:
    """One TOC entry and its stored (maybe zlib-compressed) bytes."""

    name: str
    typecode: str
    data: bytes
    uncompressed_length: int
    compressed: bool

    def content(self) -> bytes:
        """The entry's bytes as the program sees them (decompressed)."""
        if not self.compressed:
            return self.data
        try:
            out = zlib.decompress(self.data)
        except zlib.error as e:
            raise CArchiveError(f"{self.name}: bad compressed data ({e})") from None
        if len(out) != self.uncompressed_length:
            raise CArchiveError(
                f"{self.name}: {len(out)} bytes after decompression, TOC says "
                f"{self.uncompressed_length}"
            )
        return out


@dataclass(frozen=True)
class Archive:
    """A parsed PKG archive: entries in their order, and the cookie's Python fields."""

    entries: tuple[Entry, ...]
    python_version: int
    python_libname: bytes

    @property
    def is_onefile(self) -> bool:
        """Whether the bootloader would unpack this archive into a temporary folder."""
        return any(e.typecode in EXTRACTABLE for e in self.entries)

    @property
    def options(self) -> list[str]:
        return [e.name for e in self.entries if e.typecode == OPTION]


def _take(data: bytes, start: int, length: int, what: str) -> bytes:
    if start < 0 or length < 0 or start + length > len(data):
        raise CArchiveError(f"truncated: {what} needs bytes {start}..{start + length}")
    return data[start : start + length]


def find_cookie(data: bytes) -> int:
    """Offset of the last cookie in ``data`` (the bootloader scans from the end too)."""
    pos = data.rfind(COOKIE_MAGIC)
    if pos < 0:
        raise CArchiveError("no PyInstaller archive (cookie not found)")
    return pos


def safe_name(name: str) -> str:
    """An entry name usable as a relative path inside the contents folder, or an error."""
    path = PurePosixPath(name.replace("\\", "/"))
    if not name or path.is_absolute() or ".." in path.parts or ":" in name or "\0" in name:
        raise CArchiveError(f"unsafe entry name {name!r}")
    return str(path)


def parse_toc(toc: bytes, payload: bytes) -> tuple[Entry, ...]:
    """The entries of a table of contents; ``payload`` is the archive from its start."""
    entries = []
    pos = 0
    while pos < len(toc):
        header = _take(toc, pos, TOC_ENTRY.size, "a TOC entry")
        length, offset, stored, uncompressed, flag, code = TOC_ENTRY.unpack(header)
        if length < TOC_ENTRY.size + 1:
            raise CArchiveError(f"TOC entry at {pos} has impossible length {length}")
        raw_name = _take(toc, pos + TOC_ENTRY.size, length - TOC_ENTRY.size, "an entry name")
        try:
            name = raw_name.rstrip(b"\0").decode("utf-8")
            typecode = code.decode("ascii")
        except UnicodeDecodeError:
            raise CArchiveError(f"TOC entry at {pos}: name or typecode not text") from None
        if flag not in (0, 1):
            raise CArchiveError(f"{name}: compression flag {flag}")
        data = _take(payload, offset, stored, f"the data of {name}")
        entries.append(Entry(name, typecode, data, uncompressed, bool(flag)))
        pos += length
    return tuple(entries)


def parse_archive(data: bytes) -> Archive:
    """Parse the PKG archive embedded at the end of ``data`` (an executable or a .pkg)."""
    cookie_at = find_cookie(data)
    cookie = _take(data, cookie_at, COOKIE.size, "the cookie")
    _magic, pkg_length, toc_offset, toc_length, pyvers, libname = COOKIE.unpack(cookie)
    start = cookie_at + COOKIE.size - pkg_length
    if start < 0:
        raise CArchiveError(f"archive length {pkg_length} is longer than the file")
    payload = data[start:cookie_at]  # entries and TOC end where the cookie begins
    toc = _take(payload, toc_offset, toc_length, "the table of contents")
    return Archive(parse_toc(toc, payload), pyvers, libname.rstrip(b"\0"))


def read_archive(path: Path) -> Archive:
    return parse_archive(path.read_bytes())


def _toc_entry(entry: Entry, offset: int) -> bytes:
    name = entry.name.encode("utf-8") + b"\0"
    name += b"\0" * (-(TOC_ENTRY.size + len(name)) % 16)  # 16-byte aligned, as the C reader wants
    header = TOC_ENTRY.pack(
        TOC_ENTRY.size + len(name),
        offset,
        len(entry.data),
        entry.uncompressed_length,
        int(entry.compressed),
        entry.typecode.encode("ascii"),
    )
    return header + name


def build_archive(entries: Iterable[Entry], python_version: int, python_libname: bytes) -> bytes:
    """A PKG archive holding ``entries`` (their stored bytes copied as they are)."""
    payload = bytearray()
    toc = bytearray()
    for entry in entries:
        toc += _toc_entry(entry, len(payload))
        payload += entry.data
    toc_offset = len(payload)
    payload += toc
    length = len(payload) + COOKIE.size
    payload += COOKIE.pack(
        COOKIE_MAGIC, length, toc_offset, len(toc), python_version, python_libname
    )
    return bytes(payload)


def onedir_archive(archive: Archive, contents_directory: str) -> bytes:
    """The one-file ``archive`` without what the bootloader would unpack: frozen modules,
    scripts and options only, with the contents folder named ``contents_directory``."""
    kept: list[Entry] = []
    for entry in archive.entries:
        if entry.typecode in EXTRACTABLE:
            continue
        if entry.typecode == OPTION and entry.name.startswith(CONTENTS_DIRECTORY_OPTION):
            continue
        kept.append(entry)
    option = CONTENTS_DIRECTORY_OPTION + contents_directory
    kept.append(Entry(option, OPTION, b"", 0, False))
    return build_archive(kept, archive.python_version, archive.python_libname)
