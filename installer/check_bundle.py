"""Checks a built one-file program: size budget and the parts that are easy to lose.

PyInstaller leaves a module out silently when its hook fails (pystray's needs an X
display at build time) or when an import is dynamic; this reads the archive's table of
contents and fails the build if the tray backends, Tk and its Tcl library, the locale
files, the agent's command modules or the one-folder launcher (which `install` lays out
with the unpacked program) are missing.

Usage: python installer/check_bundle.py dist/kiosk-agent [BUILD_WORKDIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

from PyInstaller.archive.readers import CArchiveReader

MAX_BYTES = 25 * 2**20

REQUIRED_MODULES = (
    "kiosk_agent.cli",
    "kiosk_agent.commands.config_cmd",
    "kiosk_agent.commands.install_cmd",
    "kiosk_agent.commands.worker_cmd",  # feed checks and uploads run in it (service/worker.py)
    "kiosk_agent.filter.feed_check",
    "kiosk_agent.installer.wizard_tk",
    "pystray",
    "tkinter",
    "PIL.ImageTk",
    "PIL._tkinter_finder",
    "yaml",
    "cryptography.hazmat.primitives.asymmetric.ed25519",
)
# One tray backend per platform at least: xorg (any X11 desktop), appindicator/gtk
# (GNOME-family panels), win32 (Windows).
TRAY_BACKENDS = {
    "linux": ("pystray._xorg", "pystray._appindicator", "pystray._gtk"),
    "win32": ("pystray._win32",),
}
FORBIDDEN_PREFIXES = ("regional_server", "fastapi", "sqlalchemy", "uvicorn", "numpy", "pytest")


def contents(path: Path) -> tuple[set[str], set[str]]:
    """(python module names, other file names) inside the one-file program."""
    archive = CArchiveReader(str(path))
    files = set(archive.toc)
    modules: set[str] = set()
    for name in files:
        if name.endswith(".pyz") or name.startswith("PYZ"):
            modules |= set(archive.open_embedded_archive(name).toc)
    return modules, files


def problems(path: Path) -> list[str]:
    found: list[str] = []
    size = path.stat().st_size
    if size > MAX_BYTES:
        found.append(f"{size / 2**20:.1f} MiB is over the 25 MiB budget")
    modules, files = contents(path)
    for module in REQUIRED_MODULES:
        if module not in modules:
            found.append(f"module missing: {module}")
    platform = "win32" if sys.platform == "win32" else "linux"
    for backend in TRAY_BACKENDS[platform]:
        if backend not in modules:
            found.append(f"pystray backend missing: {backend} (pystray hook needs a display)")
    for module in sorted(modules):
        if module.startswith(FORBIDDEN_PREFIXES):
            found.append(f"should not be bundled: {module}")
            break
    if not any(f.replace("\\", "/").endswith("tk/tk.tcl") for f in files) and not any(
        f.endswith("tk.tcl") for f in files
    ):
        found.append("Tk's library (tk.tcl) is missing: the notice window could not open")
    if not any(f.endswith("init.tcl") for f in files):
        found.append("Tcl's library (init.tcl) is missing")
    if not any("_tkinter" in f for f in files):
        found.append("the _tkinter extension is missing")
    if not any(f.replace("\\", "/").endswith("config/agent.example.yaml") for f in files):
        found.append("config/agent.example.yaml is missing")
    if not any(f.replace("\\", "/").endswith("installer/assets/kiosk-agent.png") for f in files):
        found.append("the icon is missing")
    if not any(f.replace("\\", "/").startswith("kiosk-agent-launcher/kiosk-agent") for f in files):
        found.append("the one-folder launcher is missing: install could not unpack the program")
    locales = [f for f in files if "content/locales/" in f.replace("\\", "/")]
    if Path("kiosk_agent/content/locales").is_dir() and not locales:
        found.append("the notice locale files are missing")
    return found


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    path = Path(argv[0])
    found = problems(path)
    size = path.stat().st_size / 2**20
    if found:
        print(f"{path}: {size:.1f} MiB; problems:")
        for p in found:
            print(f"  - {p}")
        return 1
    modules, files = contents(path)
    print(f"{path}: {size:.1f} MiB, {len(modules)} modules, {len(files)} files: OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
