"""Compares two one-file builds entry by entry, unpacked: are they the same program?

Two runs of `make exe` from the same lock must give the same contents. The executables'
bytes are compared too, but the unpacked contents are what matter (and what a difference
is reported in): every archive entry decompressed, and inside the frozen-module archive
(PYZ) every module's code. Prints each differing entry; exit 1 if any differs.

Usage: python installer/compare_builds.py dist-a/kiosk-agent dist-b/kiosk-agent
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from PyInstaller.archive.readers import CArchiveReader
from PyInstaller.loader.pyimod01_archive import ZlibArchiveReader


def unpacked(path: Path) -> dict[str, str]:
    """Entry name -> SHA-256 of its content; PYZ modules as ``PYZ:<module>``."""
    archive = CArchiveReader(str(path))
    digests: dict[str, str] = {}
    for name in archive.toc:
        data = archive.extract(name)
        digests[name] = hashlib.sha256(data).hexdigest()
        if name.endswith(".pyz") or name.startswith("PYZ"):
            pyz = archive.open_embedded_archive(name)
            assert isinstance(pyz, ZlibArchiveReader)
            for module in pyz.toc:
                code = pyz.extract(module, raw=True)
                digests[f"PYZ:{module}"] = hashlib.sha256(code or b"").hexdigest()
    return digests


def differences(a: Path, b: Path) -> list[str]:
    left, right = unpacked(a), unpacked(b)
    found = [f"only in {a}: {n}" for n in sorted(set(left) - set(right))]
    found += [f"only in {b}: {n}" for n in sorted(set(right) - set(left))]
    found += [f"differs: {n}" for n in sorted(set(left) & set(right)) if left[n] != right[n]]
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    a, b = Path(argv[0]), Path(argv[1])
    found = differences(a, b)
    same_bytes = a.read_bytes() == b.read_bytes()
    for line in found:
        print(line)
    print(
        f"{len(unpacked(a))} entries; {len(found)} differ; executables "
        f"{'identical' if same_bytes else 'differ'} byte for byte"
    )
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
