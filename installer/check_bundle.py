"""Checks a built one-file program: size budget, the parts that are easy to lose, and that
it shapes text on a PC without the system's shaping libraries.

PyInstaller leaves a module out silently when its hook fails (pystray's needs an X
display at build time) or when an import is dynamic; this reads the archive's table of
contents and fails the build if the tray backends, Tk and its Tcl library, the locale
files, the agent's command modules, the one-folder launcher (which `install` lays out
with the unpacked program) or the bundled FriBiDi and its licence are missing.

Then (Linux, as root) it runs the built program in a private mount namespace where the
system's libfribidi, libraqm and libharfbuzz are hidden (installer/hidden_libs.py),
renders the Arabic, Khmer and Devanagari notices to PNG under Xvfb, and compares each with
the same notice rendered from the sources with the system's libraries: same size, nearly
the same pixels. A program without its FriBiDi falls back to English there and fails.
Without root or unshare this part is skipped with a note, except under CI=true.

Usage: python installer/check_bundle.py dist/kiosk-agent [BUILD_WORKDIR]
       python installer/check_bundle.py --render-only PROGRAM   (e.g. an installed copy)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PyInstaller.archive.readers import CArchiveReader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script
from installer.hidden_libs import hidden_shaping_command, system_shaping_libraries

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
# The bundled FriBiDi (installer/fribidi_bundle.py), its licence and source note.
FRIBIDI_FILES = {
    "linux": ("fribidi/libfribidi.so.0", "fribidi/copyright", "fribidi/SOURCE.txt"),
    "win32": ("fribidi/fribidi.dll", "fribidi/COPYING", "fribidi/SOURCE.txt"),
}
# Notices compared with the sources: the scripts that need shaping the most.
RENDER_LOCALES = ("ar", "km", "hi")
RENDER_SIZE = "1024x768"
MAX_DIFFERENT_PIXELS = 0.002  # share of pixels that may differ (anti-aliasing)
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
    if platform == "win32":
        found += windows_launcher_problems(path)
    names = {f.replace("\\", "/") for f in files}
    for name in FRIBIDI_FILES[platform]:
        if name not in names:
            found.append(f"{name} is missing: without FriBiDi the notice shows English only")
    locales = [f for f in files if "content/locales/" in f.replace("\\", "/")]
    if Path("kiosk_agent/content/locales").is_dir() and not locales:
        found.append("the notice locale files are missing")
    for script in ("Thai", "Khmr", "Laoo", "Mymr"):  # line breaking by dictionary
        word_list = f"notices/dicts/{script}.words.bz2"
        if not any(f.replace("\\", "/").endswith(word_list) for f in files):
            found.append(f"the {script} word list is missing: its lines would not break")
    return found


PE_GUI, PE_CONSOLE = 2, 3  # IMAGE_SUBSYSTEM_WINDOWS_GUI / _CUI


def pe_subsystem(data: bytes) -> int | None:
    """The Subsystem field of a Windows executable (None if ``data`` is not one): 2 opens
    no console window, 3 does. MZ header -> e_lfanew -> "PE\\0\\0", COFF header (20 bytes),
    optional header whose Subsystem is at offset 68 (PE32 and PE32+ alike)."""
    if len(data) < 64 or data[:2] != b"MZ":
        return None
    pe = int.from_bytes(data[60:64], "little")
    field = pe + 4 + 20 + 68
    if data[pe : pe + 4] != b"PE\0\0" or field + 2 > len(data):
        return None
    if data[pe + 24 : pe + 26] not in (b"\x0b\x01", b"\x0b\x02"):  # PE32 / PE32+ magic
        return None
    return int.from_bytes(data[field : field + 2], "little")


def windows_launcher_problems(path: Path) -> list[str]:
    """The UI launcher must be windowed, the program and its launcher console (Windows)."""
    archive = CArchiveReader(str(path))
    found = []
    wanted = {
        "kiosk-agent-launcher/kiosk-agent-ui.exe": PE_GUI,
        "kiosk-agent-launcher/kiosk-agent.exe": PE_CONSOLE,
    }
    names = {n.replace("\\", "/"): n for n in archive.toc}
    for name, subsystem in wanted.items():
        if name not in names:
            found.append(f"{name} is missing")
            continue
        got = pe_subsystem(archive.extract(names[name]))
        if got != subsystem:
            found.append(f"{name}: PE subsystem {got}, expected {subsystem}")
    if pe_subsystem(path.read_bytes()[:4096]) != PE_CONSOLE:
        found.append(f"{path.name}: not a console program (operators run it in a terminal)")
    return found


def compare_images(built: Path, source: Path) -> str | None:
    """None when the two PNGs have the same size and nearly the same pixels, else why not."""
    from PIL import Image, ImageChops

    with Image.open(built) as a, Image.open(source) as b:
        if a.size != b.size:
            return f"size {a.size[0]}x{a.size[1]}, from the sources {b.size[0]}x{b.size[1]}"
        diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L")
        histogram = diff.histogram()
    different = sum(histogram[16:])  # ignore faint anti-aliasing differences
    share = different / (a.size[0] * a.size[1])
    if share > MAX_DIFFERENT_PIXELS:
        return f"{share:.1%} of the pixels differ from the notice rendered from the sources"
    return None


def _notice_argv(program: list[str], locale: str, out: Path) -> list[str]:
    return [
        "xvfb-run", "-a", "-s", "-screen 0 1024x768x24", *program, "notices", "show",
        "--locale", locale, "--languages", locale, "--country", "KE", "--size", RENDER_SIZE,
        "--min-display", "0", "--tip", "t01", "--screenshot", str(out),
    ]  # fmt: skip


def render_problems(program: Path, repo: Path) -> tuple[list[str], str | None]:
    """(problems, why skipped): the program's notices with the system's shaping libraries
    hidden, against the same notices rendered from the sources at ``repo``."""
    libs = system_shaping_libraries() if sys.platform == "linux" else []
    # With the system's libraries present they must be hidden (root, a mount namespace);
    # without any, the program runs as it is and proves the same.
    needed = ["xvfb-run", *(["unshare"] if libs else [])]
    missing = [t for t in needed if shutil.which(t) is None]
    if sys.platform != "linux" or (libs and os.geteuid() != 0) or missing:
        why = "needs Linux, xvfb-run, and root and unshare to hide the system's libraries"
        return [], why + (f" (missing {missing})" if missing else "")
    found: list[str] = []
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISPLAY")}
    src_env = dict(env, PYTHONPATH=str(repo))
    with tempfile.TemporaryDirectory(prefix="check-bundle-") as tmp:
        empty = Path(tmp) / "empty"
        empty.write_bytes(b"")
        for locale in RENDER_LOCALES:
            built, source = Path(tmp) / f"built-{locale}.png", Path(tmp) / f"src-{locale}.png"
            runs = (
                (
                    hidden_shaping_command(_notice_argv([str(program)], locale, built), str(empty))
                    if libs
                    else _notice_argv([str(program)], locale, built),
                    env,
                ),
                (_notice_argv([sys.executable, "-m", "kiosk_agent"], locale, source), src_env),
            )
            failed = False
            for argv, run_env in runs:
                done = subprocess.run(
                    argv, capture_output=True, text=True, env=run_env, cwd=tmp, timeout=180,
                    check=False,
                )  # fmt: skip
                if done.returncode != 0:
                    found.append(f"{locale}: `{' '.join(argv[-14:])}` failed: {done.stderr[-800:]}")
                    failed = True
                    break
            if failed:
                continue
            differs = compare_images(built, source)
            if differs is not None:
                found.append(f"{locale} notice without the system's shaping libraries: {differs}")
    return found, None


def _render_report(program: Path) -> int:
    found, skipped = render_problems(program, Path(__file__).resolve().parent.parent)
    if skipped is not None:
        if os.environ.get("CI", "").lower() == "true":
            print(f"{program}: shaping check cannot run under CI=true: {skipped}")
            return 1
        print(f"{program}: shaping check skipped: {skipped}")
        return 0
    if found:
        print(f"{program}: text shaping problems:")
        for p in found:
            print(f"  - {p}")
        return 1
    print(f"{program}: {', '.join(RENDER_LOCALES)} notices match the sources with the "
          "system's shaping libraries hidden: OK")  # fmt: skip
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    if argv[0] == "--render-only" and len(argv) == 2:
        return _render_report(Path(argv[1]))
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
    return _render_report(path)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
