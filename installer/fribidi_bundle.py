"""Which FriBiDi the one-file program carries, and from where (used by kiosk-agent.spec).

Pillow's wheels open FriBiDi by name at run time and do not carry it (docs/notices.md,
"When text shaping is missing"), so the build adds it to ``<bundle>/fribidi/`` with its
licence and a note of its source (FriBiDi is LGPL-2.1+: whoever gets the program may ask
for the library's source and replace the library):

- Linux: ``libfribidi.so.0`` from the build machine's Debian package ``libfribidi0``
  (``dpkg -L``), its ``copyright`` file, the LGPL-2.1 text from ``common-licenses``.
- Windows: ``fribidi.dll`` from ``installer/windows/`` (or ``KIOSK_FRIBIDI_DLL``), with
  ``installer/windows/fribidi-COPYING.txt`` and ``fribidi-SOURCE.txt`` beside it; see
  installer/README.md for how that DLL is made. Nothing is downloaded by the build.

A missing piece is an error: a program without FriBiDi shows the notice in English only.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

DEBIAN_PACKAGE = "libfribidi0"
LINUX_NAME = "libfribidi.so.0"
WINDOWS_NAME = "fribidi.dll"
BUNDLE_DIR = "fribidi"  # kiosk_agent/notices/shaping.py BUNDLE_DIR
COMMON_LGPL = Path("/usr/share/common-licenses/LGPL-2.1")


class FribidiMissing(Exception):
    """The build machine lacks what the program must carry; the message says what to do."""


@dataclass(frozen=True)
class Bundle:
    """Files to put in ``<bundle>/fribidi/``: (source path, name inside) and a source note."""

    library: tuple[Path, str]
    licences: tuple[tuple[Path, str], ...]
    source_note: str


def debian_files(listing: str, package: str = DEBIAN_PACKAGE) -> tuple[Path, Path]:
    """(library, copyright file) from the output of ``dpkg -L PACKAGE``."""
    paths = [Path(line.strip()) for line in listing.splitlines() if line.strip()]
    library = next((p for p in paths if p.name == LINUX_NAME), None)
    copyright_file = next(
        (p for p in paths if p.name == "copyright" and p.parent.name == package), None
    )
    if library is None or copyright_file is None:
        raise FribidiMissing(
            f"the Debian package {package} lists no {LINUX_NAME} or copyright file"
        )
    return library, copyright_file


def _run(argv: Sequence[str]) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True).stdout


def linux_bundle(run: Callable[[Sequence[str]], str] = _run) -> Bundle:
    """FriBiDi from the build machine's Debian package (install it: apt-get install
    libfribidi0)."""
    try:
        listing = run(["dpkg", "-L", DEBIAN_PACKAGE])
        version = run(["dpkg-query", "-W", "-f", "${Version}", DEBIAN_PACKAGE]).strip()
        source = run(["dpkg-query", "-W", "-f", "${source:Package}", DEBIAN_PACKAGE]).strip()
    except (OSError, subprocess.CalledProcessError) as e:
        raise FribidiMissing(
            f"cannot list the Debian package {DEBIAN_PACKAGE} ({e}); build on Debian 12 with "
            f"`apt-get install {DEBIAN_PACKAGE}`"
        ) from None
    library, copyright_file = debian_files(listing)
    library = library.resolve()
    if not library.is_file():
        raise FribidiMissing(f"{library} is listed by {DEBIAN_PACKAGE} but missing")
    licences = [(copyright_file, "copyright")]
    if COMMON_LGPL.is_file():
        licences.append((COMMON_LGPL, "LGPL-2.1"))
    note = (
        f"{LINUX_NAME}: FriBiDi from the Debian package {DEBIAN_PACKAGE} {version} "
        f"(source package {source or 'fribidi'} {version}), LGPL-2.1 or later.\n"
        f"Its source: `apt-get source {source or 'fribidi'}={version}` or "
        f"https://sources.debian.org/src/{source or 'fribidi'}/{version}/\n"
        "You may replace this file with another build of FriBiDi with the same soname.\n"
    )
    return Bundle((library, LINUX_NAME), tuple(licences), note)


def windows_bundle(installer_dir: Path, env: dict[str, str] | None = None) -> Bundle:
    """fribidi.dll and its licence and source note from ``installer/windows/``."""
    env = dict(os.environ) if env is None else env
    folder = installer_dir / "windows"
    dll = Path(env.get("KIOSK_FRIBIDI_DLL") or folder / WINDOWS_NAME)
    licence = folder / "fribidi-COPYING.txt"
    source = folder / "fribidi-SOURCE.txt"
    missing = [str(p) for p in (dll, licence, source) if not p.is_file()]
    if missing:
        raise FribidiMissing(
            "the Windows build must carry FriBiDi, or the notice shows English only; "
            f"missing: {', '.join(missing)} (installer/README.md, 'FriBiDi on Windows')"
        )
    return Bundle((dll, WINDOWS_NAME), ((licence, "COPYING"),), source.read_text("utf-8"))


def datas_and_binaries(bundle: Bundle, note_path: Path) -> tuple[list[tuple[str, str, str]], ...]:
    """PyInstaller TOC entries (name inside, source, kind): (binaries, datas); writes the
    source note to ``note_path`` first."""
    note_path.parent.mkdir(parents=True, exist_ok=True)
    note_path.write_text(bundle.source_note, "utf-8")
    src, name = bundle.library
    binaries = [(f"{BUNDLE_DIR}/{name}", str(src), "BINARY")]
    datas = [(f"{BUNDLE_DIR}/{inside}", str(path), "DATA") for path, inside in bundle.licences]
    datas.append((f"{BUNDLE_DIR}/SOURCE.txt", str(note_path), "DATA"))
    return binaries, datas
