"""installer/fribidi_bundle.py: where the build takes FriBiDi from, and that it fails
without it."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from installer.fribidi_bundle import (
    FribidiMissing,
    datas_and_binaries,
    debian_files,
    linux_bundle,
    windows_bundle,
)

LISTING = """/.
/usr
/usr/lib/x86_64-linux-gnu
/usr/lib/x86_64-linux-gnu/libfribidi.so.0.4.0
/usr/share/doc/libfribidi0
/usr/share/doc/libfribidi0/copyright
/usr/lib/x86_64-linux-gnu/libfribidi.so.0
"""  # recorded `dpkg -L libfribidi0` on Debian 12


def test_debian_files_from_a_recorded_listing() -> None:
    assert debian_files(LISTING) == (
        Path("/usr/lib/x86_64-linux-gnu/libfribidi.so.0"),
        Path("/usr/share/doc/libfribidi0/copyright"),
    )
    with pytest.raises(FribidiMissing):
        debian_files("/usr/share/doc/libfribidi0/copyright\n")


@given(st.text())
def test_debian_files_never_fails_otherwise(listing: str) -> None:
    with contextlib.suppress(FribidiMissing):
        debian_files(listing)


def test_linux_bundle_uses_the_package(tmp_path: Path) -> None:
    lib = tmp_path / "libfribidi.so.0"
    lib.write_bytes(b"\x7fELF")
    copyright_file = tmp_path / "libfribidi0" / "copyright"
    copyright_file.parent.mkdir()
    copyright_file.write_text("License: LGPL-2.1+\n")
    answers = {
        "dpkg -L libfribidi0": f"{lib}\n{copyright_file}\n",
        "dpkg-query -W -f ${Version} libfribidi0": "1.0.8-2.1",
        "dpkg-query -W -f ${source:Package} libfribidi0": "fribidi",
    }

    def run(argv: Sequence[str]) -> str:
        return answers[" ".join(argv)]

    bundle = linux_bundle(run)
    assert bundle.library == (lib, "libfribidi.so.0")
    assert bundle.licences[0] == (copyright_file, "copyright")
    assert "fribidi 1.0.8-2.1" in bundle.source_note and "LGPL-2.1" in bundle.source_note
    binaries, datas = datas_and_binaries(bundle, tmp_path / "w" / "note.txt")
    assert binaries == [("fribidi/libfribidi.so.0", str(lib), "BINARY")]
    assert ("fribidi/SOURCE.txt", str(tmp_path / "w" / "note.txt"), "DATA") in datas


def test_linux_bundle_fails_without_the_package() -> None:
    def run(argv: Sequence[str]) -> str:
        raise OSError("dpkg: not found")

    with pytest.raises(FribidiMissing, match="apt-get install libfribidi0"):
        linux_bundle(run)


def test_windows_build_fails_without_the_dll(tmp_path: Path) -> None:
    with pytest.raises(FribidiMissing, match=r"fribidi\.dll"):
        windows_bundle(tmp_path, env={})
    folder = tmp_path / "windows"
    folder.mkdir()
    for name in ("fribidi.dll", "fribidi-COPYING.txt", "fribidi-SOURCE.txt"):
        (folder / name).write_text(name)
    bundle = windows_bundle(tmp_path, env={})
    assert bundle.library == (folder / "fribidi.dll", "fribidi.dll")
    assert bundle.source_note == "fribidi-SOURCE.txt"
