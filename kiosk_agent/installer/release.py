"""The installed program: an unpacked PyInstaller one-folder tree per install ("release").

``install`` turns the downloaded one-file program into ``<program_dir>/app-<version>-<id>/``
(the bootloader ``kiosk-agent``, its side-loaded ``kiosk-agent.pkg`` with the frozen
modules, and ``_internal/`` with the libraries and data), so the service starts without
unpacking 50 MB into a temporary folder each time. A release is written under a hidden
``.partial`` name, flushed to disk, then renamed: a power cut leaves either no new release
or a complete one, never a half tree that a service definition names. The service
definitions are switched to the new release afterwards (each file written atomically), and
the release before it stays until the next install, because a tray started from it in an
open desktop session still imports modules from its files.

``<program_dir>/kiosk-agent`` (a symbolic link; on Windows ``kiosk-agent.cmd``) always runs
the current release, for the operator and for scripts. See docs/install.md.

The installer runs as root, so the archive is not trusted to stay inside the release
(issue 15): a symbolic link's target must be relative and resolve inside the contents
folder, never to an ancestor of the link (``check_link_target``, then ``realpath`` once
every link exists); nothing is written through a link in a parent path or onto an
existing name (``O_NOFOLLOW | O_EXCL``); a link that cannot be made is an error, never
a copy.
"""

from __future__ import annotations

import os
import posixpath
import re
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from kiosk_agent.atomic import fsync_dir, write_text_atomic
from kiosk_agent.installer.carchive import (
    FILES,
    SYMLINK,
    CArchiveError,
    onedir_archive,
    read_archive,
    safe_name,
)

RELEASE_PREFIX = "app-"
PARTIAL_SUFFIX = ".partial"
CONTENTS = "_internal"
# Where installer/kiosk-agent.spec puts the one-folder bootloader inside the one-file program.
LAUNCHER_DIR = "kiosk-agent-launcher"
_RELEASE_NAME = re.compile(r"^app-[0-9A-Za-z.+_-]+$")


class ReleaseError(Exception):
    """The program cannot be laid out (not a PyInstaller program, or one without a launcher)."""


@dataclass(frozen=True)
class StagedRelease:
    name: str
    files: int
    size: int  # bytes on disk, unpacked


def new_release_name(version: str, token: str | None = None) -> str:
    """``app-<version>-<random>``: a fresh name each install, so a repair never writes into
    the folder the running service uses."""
    safe_version = re.sub(r"[^0-9A-Za-z.+_-]", "_", version)
    return f"{RELEASE_PREFIX}{safe_version}-{token or secrets.token_hex(4)}"


def is_release_name(name: str) -> bool:
    return bool(_RELEASE_NAME.match(name))


def pkg_name(executable_name: str) -> str:
    """The side-loaded archive's name, as the bootloader derives it from its own name."""
    if executable_name.lower().endswith(".exe"):
        return executable_name[:-4] + ".pkg"
    return executable_name + ".pkg"


def is_onedir_program(program: Path) -> bool:
    """Whether ``program`` is an unpacked release (a launcher beside its .pkg and contents)."""
    return (program.parent / pkg_name(program.name)).is_file() and (
        program.parent / CONTENTS
    ).is_dir()


def check_link_target(name: str, target: str) -> str:
    """``target`` if a link named ``name`` (relative to the contents folder) may point
    there: relative, and inside the folder without being the link's own folder or an
    ancestor of it (a loop, and a way out for names below it); ``ReleaseError`` otherwise."""
    if not target or "\0" in target or "\\" in target or ":" in target:
        raise ReleaseError(f"link {name!r}: unsafe target {target!r}")
    if posixpath.isabs(name):  # names come from safe_name; never judge a target from "/"
        raise ReleaseError(f"link {name!r}: the link's own name is absolute")
    if posixpath.isabs(target):
        raise ReleaseError(f"link {name!r}: absolute target {target!r}")
    parent = posixpath.dirname(name)
    resolved = posixpath.normpath(posixpath.join(parent, target))
    if resolved == ".." or resolved.startswith("../"):
        raise ReleaseError(f"link {name!r}: target {target!r} leaves the release")
    if resolved == "." or name == resolved or name.startswith(resolved + "/"):
        raise ReleaseError(f"link {name!r}: target {target!r} is the link's own folder")
    return target


def _no_link_above(root: Path, path: Path) -> None:
    """Create ``path``'s missing parents under ``root``; ``ReleaseError`` if any of them,
    or ``root`` itself, is a symbolic link (never write through one)."""
    current = root
    if current.is_symlink():
        raise ReleaseError(f"{root} is a symbolic link")
    for part in path.relative_to(root).parts[:-1]:
        current = current / part
        try:
            os.mkdir(current)
        except FileExistsError:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                raise ReleaseError(
                    f"{current} is a symbolic link: not writing through it"
                ) from None
            if not current.is_dir():
                raise ReleaseError(f"{current} is not a folder") from None


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def _write_file(path: Path, data: bytes, mode: int, root: Path | None = None) -> None:
    _no_link_above(root or path.parent, path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ReleaseError(f"{path} is in the program twice") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, mode)


def _make_link(root: Path, link: Path, target: str) -> None:
    _no_link_above(root, link)
    try:
        os.symlink(target, link)
    except FileExistsError:
        raise ReleaseError(f"{link} is in the program twice") from None
    except OSError as e:
        # Windows without the symlink right. Copying the target instead once wrote through
        # a planted link (issue 15): refuse, in plain words.
        raise ReleaseError(f"cannot make the symbolic link {link}: {e.strerror or e}") from None


def _check_links_resolve_inside(root: Path, links: list[Path]) -> None:
    top = os.path.realpath(root)
    for link in links:
        real = os.path.realpath(link)
        if os.path.commonpath([top, real]) != top:
            raise ReleaseError(f"link {link.relative_to(root)} resolves outside the release")


def _fsync_tree(top: Path) -> None:
    for dirpath, _dirs, _files in os.walk(top):
        fsync_dir(Path(dirpath))


def ui_executable_name(executable_name: str) -> str:
    """The windowed UI launcher beside ``executable_name`` (Windows builds carry one:
    ``kiosk-agent-ui.exe``, a GUI-subsystem bootloader, so the logon opens no console)."""
    if executable_name.endswith(".exe"):
        return executable_name[: -len(".exe")] + "-ui.exe"
    return executable_name + "-ui"


def _link_or_copy(source: Path, link: Path) -> None:
    """``link`` as a hard link to ``source`` (same bytes, no space), else a copy."""
    try:
        os.link(source, link)
    except OSError:
        shutil.copyfile(source, link)


def stage_from_onefile(program: Path, target: Path, executable_name: str) -> tuple[int, int]:
    """Write the one-folder form of the one-file ``program`` into the empty ``target``.

    Returns (files, bytes). Raises ``ReleaseError`` when ``program`` is not a one-file
    PyInstaller program or carries no launcher.
    """
    try:
        archive = read_archive(program)
    except CArchiveError as e:
        raise ReleaseError(f"{program} is not a kiosk-agent one-file program: {e}") from None
    if not archive.is_onefile:
        raise ReleaseError(f"{program} is not a one-file program (nothing to unpack)")
    launcher_entry = f"{LAUNCHER_DIR}/{executable_name}"
    ui_name = ui_executable_name(executable_name)
    ui_entry = f"{LAUNCHER_DIR}/{ui_name}"
    launcher: bytes | None = None
    ui_launcher: bytes | None = None
    files = size = 0
    links: list[tuple[Path, str]] = []
    contents = target / CONTENTS
    for entry in archive.entries:
        if entry.typecode not in FILES and entry.typecode != SYMLINK:
            continue
        try:
            name = safe_name(entry.name)
        except CArchiveError as e:
            raise ReleaseError(f"{program}: {e}") from None
        if name == launcher_entry:
            launcher = entry.content()
            continue
        if name == ui_entry:
            ui_launcher = entry.content()
            continue
        if name.startswith(LAUNCHER_DIR + "/"):
            continue
        if entry.typecode == SYMLINK:
            try:
                link_target = entry.content().rstrip(b"\0").decode("utf-8")
            except UnicodeDecodeError:
                raise ReleaseError(f"{program}: link {name!r} has no text target") from None
            links.append((contents / name, check_link_target(name, link_target)))
            continue
        data = entry.content()
        # Binaries executable, as PyInstaller's one-folder build leaves them.
        _write_file(contents / name, data, 0o755 if entry.typecode == "b" else 0o644, target)
        files += 1
        size += len(data)
    if launcher is None:
        raise ReleaseError(
            f"{program} carries no {launcher_entry}: it was built without the one-folder "
            "launcher; rebuild it with `make exe` (installer/kiosk-agent.spec)"
        )
    for link, link_target in links:
        _make_link(target, link, link_target)
        files += 1
    _check_links_resolve_inside(contents, [link for link, _ in links])
    pkg = onedir_archive(archive, CONTENTS)
    _write_file(target / pkg_name(executable_name), pkg, 0o644, target)
    _write_file(target / executable_name, launcher, 0o755, target)
    files, size = files + 2, size + len(pkg) + len(launcher)
    if ui_launcher is not None:
        # The bootloader side-loads "<its own name>.pkg": the UI launcher gets the same
        # archive under its name, as a hard link.
        _write_file(target / ui_name, ui_launcher, 0o755, target)
        _link_or_copy(target / pkg_name(executable_name), target / pkg_name(ui_name))
        files, size = files + 2, size + len(ui_launcher)
    _fsync_tree(target)
    return files, size


def stage_from_onedir(program: Path, target: Path, executable_name: str) -> tuple[int, int]:
    """Copy the release that ``program`` (an installed launcher) belongs to (a repair run
    from the installed program itself)."""
    source = program.parent
    files = size = 0
    links: list[Path] = []
    for dirpath, _dirs, names in os.walk(source):
        rel = Path(dirpath).relative_to(source)
        for name in names:
            src = Path(dirpath) / name
            dst = target / rel / name
            if rel == Path(".") and name == program.name:
                dst = target / executable_name
            if src.is_symlink():
                link_name = (rel / name).as_posix()
                _make_link(target, dst, check_link_target(link_name, os.readlink(src)))
                links.append(dst)
            else:
                data = src.read_bytes()
                _write_file(dst, data, stat.S_IMODE(src.stat().st_mode), target)
                size += len(data)
            files += 1
    _check_links_resolve_inside(target, links)
    _fsync_tree(target)
    return files, size


def install_release(
    program: Path, program_dir: Path, name: str, executable_name: str
) -> StagedRelease:
    """Lay ``program`` out as the release ``program_dir/name``, complete or not at all."""
    program = program.resolve()  # the stable link names the release's launcher
    program_dir.mkdir(parents=True, exist_ok=True)
    partial = program_dir / f".{name}{PARTIAL_SUFFIX}"
    final = program_dir / name
    for leftover in (partial, final):
        if leftover.exists():
            shutil.rmtree(leftover)
    partial.mkdir()
    try:
        if is_onedir_program(program):
            files, size = stage_from_onedir(program, partial, executable_name)
        else:
            files, size = stage_from_onefile(program, partial, executable_name)
        os.replace(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    fsync_dir(program_dir)
    return StagedRelease(name, files, size)


# -- the stable command that runs the current release ------------------------------------


def command_name(executable_name: str) -> str:
    """``kiosk-agent`` (a symbolic link) or, on Windows, ``kiosk-agent.cmd``."""
    if executable_name.lower().endswith(".exe"):
        return executable_name[:-4] + ".cmd"
    return executable_name


def render_cmd(release: str, executable_name: str) -> str:
    """Windows: a batch file that runs the release's program with all arguments."""
    return (
        "@echo off\r\n"
        "rem Written by `kiosk-agent install`: runs the installed program.\r\n"
        f'"%~dp0{release}\\{executable_name}" %*\r\n'
        "exit /b %ERRORLEVEL%\r\n"
    )


def current_release(program_dir: Path, executable_name: str) -> str | None:
    """The release the stable command runs now, or None."""
    command = program_dir / command_name(executable_name)
    if command.is_symlink():
        parts = Path(os.readlink(command)).parts
        name = parts[0] if len(parts) == 2 else None
    elif command.suffix == ".cmd" and command.is_file():
        found = re.search(r"%~dp0(app-[^\\\"]+)\\", command.read_text(errors="replace"))
        name = found.group(1) if found else None
    else:
        return None
    return name if name and is_release_name(name) else None


def point_command_at(program_dir: Path, release: str, executable_name: str) -> Path:
    """Make the stable command run ``release`` (replaced atomically). Returns its path."""
    command = program_dir / command_name(executable_name)
    if command.suffix == ".cmd":
        write_text_atomic(command, render_cmd(release, executable_name), 0o755)
        return command
    tmp = program_dir / f".{command.name}.{secrets.token_hex(4)}.tmp"
    os.symlink(f"{release}/{executable_name}", tmp)
    try:
        os.replace(tmp, command)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(program_dir)
    return command


def remove_old_releases(program_dir: Path, keep: set[str]) -> list[str]:
    """Remove release folders not in ``keep`` and leftovers of interrupted installs.

    Returns one line per folder for the installer's log. A folder that cannot be removed
    (Windows: a program still running from it) stays for the next install.
    """
    lines: list[str] = []
    if not program_dir.is_dir():
        return lines
    for path in sorted(program_dir.iterdir()):
        name = path.name
        partial = name.startswith(".") and name.endswith(PARTIAL_SUFFIX)
        if not path.is_dir() or path.is_symlink():
            continue
        if not partial and (not is_release_name(name) or name in keep):
            continue
        try:
            shutil.rmtree(path)
        except OSError as e:
            lines.append(f"kept {name} ({e.strerror}; removed by the next install)")
            continue
        lines.append(f"removed {name} ({'unfinished' if partial else 'older'} program folder)")
    return lines
