"""The browser guard at install time: the extension packed for Firefox (an ``.xpi``, a
plain zip of the shipped files) next to the program, and the browsers' policies that
install it and keep it (``kiosk_agent/platform/browser_policies.py``)."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path, PurePath, PureWindowsPath

from kiosk_agent.platform.browser_policies import GuardPolicy

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
XPI_NAME = "browser-guard.xpi"
# What the extension is made of; tests/browser_guard and the tooling stay out.
SHIPPED = ("manifest.json", "managed_schema.json", "src/*.js")
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # the same files make the same package


def find_guard_source() -> Path | None:
    """``browser_guard/``: in the one-file program's bundle or the source checkout."""
    for base in (Path(getattr(sys, "_MEIPASS", PACKAGE_ROOT)), PACKAGE_ROOT):
        if (base / "browser_guard" / "manifest.json").is_file():
            return base / "browser_guard"
    return None


def shipped_files(source: Path) -> list[Path]:
    """The extension's files, sorted, relative to ``source``."""
    found: set[Path] = set()
    for pattern in SHIPPED:
        found.update(p.relative_to(source) for p in source.glob(pattern) if p.is_file())
    return sorted(found)


def build_xpi(source: Path, target: Path) -> int:
    """Write the extension as a zip at ``target`` (reproducible); returns its file count."""
    files = shipped_files(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in files:
            info = zipfile.ZipInfo(rel.as_posix(), _FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, (source / rel).read_bytes())
    tmp.replace(target)
    return len(files)


def file_url(path: PurePath, windows: bool) -> str:
    """``file://`` URL of a path as the installed system names it."""
    return (PureWindowsPath(str(path)) if windows else Path(path)).as_uri()


def guard_policy(program_dir: PurePath, windows: bool) -> GuardPolicy:
    """The policy for an install in ``program_dir``: Firefox installs the ``.xpi`` from
    there. Chromium needs a packed, signed ``.crx`` with its id, which this release does
    not build yet: its policies go without the force-install (docs/browser-guard.md)."""
    return GuardPolicy(firefox_install_url=file_url(program_dir / XPI_NAME, windows))
