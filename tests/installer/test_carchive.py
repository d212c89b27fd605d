from __future__ import annotations

import contextlib
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.installer.carchive import (
    COOKIE,
    COOKIE_MAGIC,
    TOC_ENTRY,
    CArchiveError,
    Entry,
    build_archive,
    onedir_archive,
    parse_archive,
    safe_name,
)
from tests.installer.fakes import FAKE_BOOTLOADER, FAKE_FILES, fake_onefile

names = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="\\:"),
    min_size=1,
    max_size=40,
)
entries = st.lists(
    st.builds(
        lambda name, code, data, compress: Entry(
            name, code, zlib.compress(data) if compress else data, len(data), compress
        ),
        names,
        st.sampled_from("bxZnzsmMo"),
        st.binary(max_size=200),
        st.booleans(),
    ),
    max_size=12,
)


@given(entries, st.binary(max_size=64))
def test_build_then_parse_round_trips(items: list[Entry], prefix: bytes) -> None:
    """Any entries survive a round trip, also behind a bootloader's bytes."""
    data = prefix.replace(COOKIE_MAGIC, b"") + build_archive(items, 311, b"libpython3.11.so.1.0")
    archive = parse_archive(data)
    assert archive.entries == tuple(items)
    assert archive.python_version == 311 and archive.python_libname == b"libpython3.11.so.1.0"
    for got in archive.entries:
        assert len(got.content()) == got.uncompressed_length


@settings(max_examples=300)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=399), st.binary(max_size=8))
def test_parser_never_dies_on_damaged_input(tail: bytes, cut: int, junk: bytes) -> None:
    """Truncated, spliced or random bytes give CArchiveError, nothing else."""
    good = build_archive(
        [Entry("a", "x", b"hello", 5, False), Entry("PYZ.pyz", "z", b"pyz", 3, False)], 311, b"l"
    )
    for data in (tail, COOKIE_MAGIC + tail, good[:cut] + junk + good[cut:], good[cut:]):
        try:
            archive = parse_archive(data)
        except CArchiveError:
            continue
        for entry in archive.entries:
            with contextlib.suppress(CArchiveError):
                entry.content()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x7fELF no archive here", "cookie not found"),
        (COOKIE_MAGIC + b"\0" * 10, "truncated: the cookie"),
        # The cookie claims an archive longer than the file.
        (COOKIE.pack(COOKIE_MAGIC, 10**6, 0, 0, 311, b"l"), "longer than the file"),
        # A TOC that claims 64 bytes, in an archive of 88.
        (COOKIE.pack(COOKIE_MAGIC, COOKIE.size, 0, 64, 311, b"l"), "table of contents"),
    ],
)
def test_hand_written_bad_archives(data: bytes, message: str) -> None:
    with pytest.raises(CArchiveError, match=message):
        parse_archive(data)


def test_entry_pointing_outside_the_archive_is_refused() -> None:
    name = b"big\0" + b"\0" * (-(TOC_ENTRY.size + 4) % 16)
    toc = TOC_ENTRY.pack(TOC_ENTRY.size + len(name), 0, 1000, 1000, 0, b"x") + name
    cookie = COOKIE.pack(COOKIE_MAGIC, len(toc) + COOKIE.size, 0, len(toc), 311, b"l")
    with pytest.raises(CArchiveError, match="the data of big"):
        parse_archive(toc + cookie)


def test_bad_compressed_data_is_an_archive_error() -> None:
    entry = Entry("x", "x", b"not zlib", 10, True)
    with pytest.raises(CArchiveError, match="bad compressed data"):
        entry.content()
    with pytest.raises(CArchiveError, match="after decompression"):
        Entry("x", "x", zlib.compress(b"abc"), 99, True).content()


@pytest.mark.parametrize("name", ["/etc/passwd", "../up", "a/../../b", "C:evil", "", "a\0b"])
def test_unsafe_names(name: str) -> None:
    with pytest.raises(CArchiveError, match="unsafe entry name"):
        safe_name(name)


def test_windows_names_become_relative_paths() -> None:
    assert safe_name("PIL\\_imaging.pyd") == "PIL/_imaging.pyd"


def test_onedir_archive_keeps_only_what_the_bootloader_does_not_unpack(tmp_path: Path) -> None:
    program = fake_onefile(tmp_path / "kiosk-agent")
    onefile = parse_archive(program.read_bytes())
    assert onefile.is_onefile
    onedir = parse_archive(onedir_archive(onefile, "_internal"))
    assert not onedir.is_onefile
    assert {e.typecode for e in onedir.entries} == {"m", "s", "z", "o"}
    assert onedir.options == ["pyi-contents-directory _internal"]  # replaced, not doubled
    pyz = next(e for e in onedir.entries if e.typecode == "z")
    assert pyz == next(e for e in onefile.entries if e.typecode == "z")  # bytes copied as is
    assert onedir.python_libname == onefile.python_libname
    assert not any(e.name in FAKE_FILES for e in onedir.entries)
    assert program.read_bytes().startswith(FAKE_BOOTLOADER)


def test_pyinstaller_reads_what_we_write(tmp_path: Path) -> None:
    """PyInstaller's own reader (what the bootloader's C reader mirrors) agrees."""
    readers = pytest.importorskip("PyInstaller.archive.readers")
    program = fake_onefile(tmp_path / "kiosk-agent")
    pkg = tmp_path / "kiosk-agent.pkg"
    pkg.write_bytes(onedir_archive(parse_archive(program.read_bytes()), "_internal"))
    theirs = readers.CArchiveReader(str(pkg))
    assert theirs.options == ["pyi-contents-directory _internal"]
    assert {name: entry[4] for name, entry in theirs.toc.items()} == {
        "struct": "m",
        "pyimod01_archive": "m",
        "kiosk_agent_main": "s",
        "PYZ.pyz": "z",
    }
    assert theirs.extract("kiosk_agent_main") == b"pretend entry script"
    whole = readers.CArchiveReader(str(program))
    assert whole.extract("libfoo.so.1.0") == FAKE_FILES["libfoo.so.1.0"][1]
