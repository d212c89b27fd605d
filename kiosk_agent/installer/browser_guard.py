"""The browser guard at install time: the extension packed for Firefox (an ``.xpi``, a
plain zip of the shipped files) and for Chromium (the publisher-signed ``.crx`` of the
release build) next to the program, and the browsers' policies that install it and keep
it (``kiosk_agent/platform/browser_policies.py``)."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path, PurePath, PureWindowsPath

from kiosk_agent.atomic import write_atomic
from kiosk_agent.filter.guard import DEFAULT_HOST, DEFAULT_PORT, update_url
from kiosk_agent.platform.browser_policies import GuardPolicy

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
GUARD_SOURCE = PACKAGE_ROOT / "browser_guard"  # in a source checkout
XPI_NAME = "browser-guard.xpi"
CRX_NAME = "browser-guard.crx"
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


def xpi_bytes(source: Path) -> bytes:
    """The extension's shipped files as a zip (reproducible: the same files, the same
    bytes); the ``.xpi`` for Firefox and the archive inside the ``.crx``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in shipped_files(source):
            info = zipfile.ZipInfo(rel.as_posix(), _FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, (source / rel).read_bytes())
    return buffer.getvalue()


def build_xpi(source: Path, target: Path) -> int:
    """Write the extension as a zip at ``target``; returns its file count."""
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, xpi_bytes(source), mode=0o644)
    return len(shipped_files(source))


def file_url(path: PurePath, windows: bool) -> str:
    """``file://`` URL of a path as the installed system names it."""
    return (PureWindowsPath(str(path)) if windows else Path(path)).as_uri()


def find_crx(source: Path) -> Path | None:
    """The publisher-signed ``browser-guard.crx`` the release build put beside the
    extension's files (``python -m kiosk_agent.installer.browser_guard``); None in a source checkout
    that has not packed one."""
    path = source / CRX_NAME
    return path if path.is_file() else None


def crx_problem(data: bytes) -> tuple[str | None, str]:
    """(the package's extension id, "") for a publisher-signed package, else (None, why
    the installer leaves Chromium's force-install out)."""
    from kiosk_agent.filter import crx

    try:
        package = crx.read(data)
    except crx.CrxError as e:
        return None, f"{CRX_NAME} is not a valid signed package ({e})"
    if package.extension_id == crx.DEMO_EXTENSION_ID:
        return None, f"{CRX_NAME} is signed with the published DEMO key (tests and demos only)"
    return package.extension_id, ""


def guard_policy(
    program_dir: PurePath,
    windows: bool,
    chromium_id: str | None = None,
    api: tuple[str, int] = (DEFAULT_HOST, DEFAULT_PORT),
) -> GuardPolicy:
    """The policy for an install in ``program_dir``: Firefox installs the ``.xpi`` from
    there; with a signed package's ``chromium_id``, Chromium-family browsers install the
    ``.crx`` the guard API serves on loopback (``update_url``). Without one, Chromium's
    policies go without the force-install (docs/browser-guard.md)."""
    firefox = file_url(program_dir / XPI_NAME, windows)
    if chromium_id is None:
        return GuardPolicy(firefox_install_url=firefox)
    return GuardPolicy(
        firefox_install_url=firefox,
        chromium_id=chromium_id,
        chromium_update_url=update_url(*api),
        chromium_crx=str(PureWindowsPath(str(program_dir)) / CRX_NAME)
        if windows
        else str(program_dir / CRX_NAME),
    )


def main(argv: list[str]) -> int:
    """Release build: ``python -m kiosk_agent.installer.browser_guard --key KEY OUT``."""
    import argparse

    from kiosk_agent.filter import crx

    parser = argparse.ArgumentParser(
        prog="python -m kiosk_agent.installer.browser_guard",
        description="Pack browser_guard/ as a signed CRX3 package and print its id.",
    )
    parser.add_argument("--key", type=Path, required=True, help="the publisher's RSA key (PEM)")
    parser.add_argument("out", type=Path, help="where to write browser-guard.crx")
    args = parser.parse_args(argv)
    source = find_guard_source()
    if source is None:
        print("browser_guard/ not found", file=sys.stderr)
        return 1
    data = crx.pack(xpi_bytes(source), crx.load_key(args.key))
    args.out.write_bytes(data)
    ext_id = crx.read(data).extension_id
    demo = " (the DEMO key: for tests and demos only)" if ext_id == crx.DEMO_EXTENSION_ID else ""
    print(f"wrote {args.out}: extension id {ext_id}{demo}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
