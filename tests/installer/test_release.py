from __future__ import annotations

import filecmp
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.installer import release
from kiosk_agent.installer.carchive import Entry, build_archive, read_archive
from kiosk_agent.installer.release import (
    ReleaseError,
    check_link_target,
    current_release,
    install_release,
    new_release_name,
    point_command_at,
    remove_old_releases,
    render_cmd,
)
from tests.installer.fakes import FAKE_FILES, FAKE_LAUNCHER, FAKE_UI_LAUNCHER, fake_onefile


def _same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    return all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def test_release_names() -> None:
    name = new_release_name("0.1.0")
    assert release.is_release_name(name) and name.startswith("app-0.1.0-")
    assert new_release_name("0.1.0") != name  # a repair never reuses the running folder
    assert new_release_name("1.0 beta/2", "ab") == "app-1.0_beta_2-ab"
    assert not release.is_release_name("app-../x")
    assert release.pkg_name("kiosk-agent.exe") == "kiosk-agent.pkg"
    assert release.pkg_name("kiosk-agent") == "kiosk-agent.pkg"


def test_one_file_program_is_laid_out_as_one_folder(tmp_path: Path) -> None:
    program = fake_onefile(tmp_path / "dl" / "kiosk-agent")
    staged = install_release(program, tmp_path / "opt", "app-1-a", "kiosk-agent")
    top = tmp_path / "opt/app-1-a"
    assert sorted(p.name for p in top.iterdir()) == ["_internal", "kiosk-agent", "kiosk-agent.pkg"]
    assert (top / "kiosk-agent").read_bytes() == FAKE_LAUNCHER
    for name, (code, data) in FAKE_FILES.items():
        path = top / "_internal" / name
        assert path.read_bytes() == data
        assert path.stat().st_mode & 0o777 == (0o755 if code == "b" else 0o644)
    assert os.readlink(top / "_internal/libfoo.so.1") == "libfoo.so.1.0"
    assert not read_archive(top / "kiosk-agent.pkg").is_onefile
    assert staged.files == len(FAKE_FILES) + 3  # + the symlink, the launcher, the .pkg
    assert not list((tmp_path / "opt").glob(".*"))  # no staging leftovers


def test_windows_program(tmp_path: Path) -> None:
    program = fake_onefile(tmp_path / "dl" / "kiosk-agent.exe", windows=True)
    install_release(program, tmp_path / "pf", "app-1-w", "kiosk-agent.exe")
    top = tmp_path / "pf/app-1-w"
    assert (top / "kiosk-agent.exe").read_bytes() == FAKE_LAUNCHER
    assert (top / "kiosk-agent.pkg").is_file()  # the bootloader side-loads <name>.pkg
    assert (top / "_internal/PIL/_imaging.cpython-311-x86_64-linux-gnu.so").is_file()
    # The windowed UI launcher, with the same archive under its own name (a hard link).
    assert (top / "kiosk-agent-ui.exe").read_bytes() == FAKE_UI_LAUNCHER
    assert os.path.samefile(top / "kiosk-agent-ui.pkg", top / "kiosk-agent.pkg")
    assert release.ui_executable_name("kiosk-agent.exe") == "kiosk-agent-ui.exe"


def test_repair_from_the_installed_program_copies_its_release(tmp_path: Path) -> None:
    program = fake_onefile(tmp_path / "dl" / "kiosk-agent")
    install_release(program, tmp_path / "opt", "app-1-a", "kiosk-agent")
    installed = tmp_path / "opt/app-1-a/kiosk-agent"
    assert release.is_onedir_program(installed) and not release.is_onedir_program(program)
    link = point_command_at(tmp_path / "opt", "app-1-a", "kiosk-agent")
    install_release(link, tmp_path / "opt", "app-1-b", "kiosk-agent")  # --program the link
    assert _same_tree(tmp_path / "opt/app-1-a", tmp_path / "opt/app-1-b")
    assert (tmp_path / "opt/app-1-b/_internal/libfoo.so.1").is_symlink()


def test_not_a_program(tmp_path: Path) -> None:
    script = tmp_path / "kiosk-agent"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(ReleaseError, match="not a kiosk-agent one-file program"):
        install_release(script, tmp_path / "opt", "app-1-a", "kiosk-agent")
    onedir = tmp_path / "onedir"
    onedir.write_bytes(build_archive([Entry("PYZ.pyz", "z", b"pyz", 3, False)], 311, b"l"))
    with pytest.raises(ReleaseError, match="nothing to unpack"):
        install_release(onedir, tmp_path / "opt", "app-1-a", "kiosk-agent")
    assert not list((tmp_path / "opt").iterdir())


def test_program_without_launcher_is_refused(tmp_path: Path) -> None:
    old = tmp_path / "kiosk-agent"
    old.write_bytes(b"\x7fELF" + build_archive([Entry("a.so", "b", b"x", 1, False)], 311, b"l"))
    with pytest.raises(ReleaseError, match="rebuild it with `make exe`"):
        install_release(old, tmp_path / "opt", "app-1-a", "kiosk-agent")


def test_interrupted_install_leaves_the_current_release_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure (or, for the folder name, a power cut) halfway through writing the new
    release: the old release and the command still work; no half tree has a release name."""
    program = fake_onefile(tmp_path / "dl" / "kiosk-agent")
    opt = tmp_path / "opt"
    install_release(program, opt, "app-1-a", "kiosk-agent")
    point_command_at(opt, "app-1-a", "kiosk-agent")
    before = sorted(str(p.relative_to(opt)) for p in opt.rglob("*"))
    real_write = release._write_file
    written: list[Path] = []

    def failing_write(path: Path, data: bytes, mode: int, root: Path | None = None) -> None:
        if len(written) == 3:
            raise OSError(28, "No space left on device", str(path))
        written.append(path)
        real_write(path, data, mode, root)

    monkeypatch.setattr(release, "_write_file", failing_write)
    with pytest.raises(OSError, match="No space left"):
        install_release(program, opt, "app-1-b", "kiosk-agent")
    assert all(".app-1-b.partial" in str(p) for p in written)  # staged under a hidden name
    assert sorted(str(p.relative_to(opt)) for p in opt.rglob("*")) == before
    assert current_release(opt, "kiosk-agent") == "app-1-a"


def test_leftovers_of_a_power_cut_are_removed_by_the_next_install(tmp_path: Path) -> None:
    opt = tmp_path / "opt"
    (opt / ".app-1-b.partial/_internal").mkdir(parents=True)
    for name in ("app-1-a", "app-1-c", "app-1-d", "not-a-release"):
        (opt / name).mkdir()
    (opt / "kiosk-agent.png").write_bytes(b"png")
    lines = remove_old_releases(opt, keep={"app-1-c", "app-1-d"})
    assert sorted(p.name for p in opt.iterdir()) == [
        "app-1-c",
        "app-1-d",
        "kiosk-agent.png",
        "not-a-release",
    ]
    assert lines == [
        "removed .app-1-b.partial (unfinished program folder)",
        "removed app-1-a (older program folder)",
    ]
    assert remove_old_releases(tmp_path / "missing", keep=set()) == []


def test_command_link_replaces_an_old_one_file_copy(tmp_path: Path) -> None:
    opt = tmp_path / "opt"
    opt.mkdir()
    (opt / "kiosk-agent").write_bytes(b"the one-file program an older install copied")
    assert current_release(opt, "kiosk-agent") is None
    point_command_at(opt, "app-1-a", "kiosk-agent")
    assert os.readlink(opt / "kiosk-agent") == "app-1-a/kiosk-agent"
    point_command_at(opt, "app-1-b", "kiosk-agent")
    assert current_release(opt, "kiosk-agent") == "app-1-b"
    assert [p.name for p in opt.iterdir()] == ["kiosk-agent"]  # no temporary links left


def test_windows_command_file(tmp_path: Path) -> None:
    text = render_cmd("app-0.1.0-0a1b2c3d", "kiosk-agent.exe")
    assert '"%~dp0app-0.1.0-0a1b2c3d\\kiosk-agent.exe" %*\r\n' in text
    assert text.startswith("@echo off\r\n") and "exit /b %ERRORLEVEL%" in text
    path = point_command_at(tmp_path, "app-0.1.0-0a1b2c3d", "kiosk-agent.exe")
    assert path.name == "kiosk-agent.cmd"
    assert current_release(tmp_path, "kiosk-agent.exe") == "app-0.1.0-0a1b2c3d"


def _archive_with(tmp_path: Path, extra: list[Entry]) -> Path:
    """A fake one-file program with ``extra`` entries after the usual ones."""
    program = fake_onefile(tmp_path / "dl" / "kiosk-agent")
    archive = read_archive(program)
    entries = [e for e in archive.entries if e.typecode != "o"]
    options = [e for e in archive.entries if e.typecode == "o"]
    pkg = build_archive([*entries, *extra, *options], 311, b"libpython3.11.so.1.0")
    out = tmp_path / "crafted" / "kiosk-agent"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"\x7fELF crafted bootloader\n" + pkg)
    return out


def _link(name: str, target: str) -> Entry:
    data = target.encode() + b"\0"
    return Entry(name, "n", data, len(data), False)


def _data(name: str, data: bytes) -> Entry:
    return Entry(name, "x", data, len(data), False)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ([_link("passwd", "/etc/passwd")], "absolute"),
        ([_link("up", "../../outside")], "leaves the release"),
        ([_link("PIL/up", "../../x")], "leaves the release"),
        ([_link("loop", ".")], "own folder"),
        ([_link("PIL/loop", "..")], "own folder"),
        ([_link("c", "C:\\Windows")], "unsafe target"),
        # a link to a folder, then an entry below it: never written through the link
        ([_link("dir", "PIL"), _link("dir/x", "y")], "symbolic link"),
        # the same name as a file written before: refused, never copied over
        ([_link("base_library.zip", "libfoo.so.1.0")], "twice"),
    ],
)
def test_crafted_archive_links_are_refused(tmp_path: Path, extra: list[Entry], match: str) -> None:
    outside = tmp_path / "outside"
    outside.write_text("keep")
    program = _archive_with(tmp_path, extra)
    opt = tmp_path / "a" / "b" / "opt"
    with pytest.raises(ReleaseError, match=match):
        install_release(program, opt, "app-1-x", "kiosk-agent")
    assert outside.read_text() == "keep"
    assert not (opt / "app-1-x").exists() and not list(opt.glob(".app-*"))


def test_links_that_resolve_outside_through_other_links_are_refused(tmp_path: Path) -> None:
    # each target is inside on paper, but "d" leads two levels up, so "d/../../x" really
    # climbs out of the release
    extra = [_link("PIL/sub/d", "../../_tcl_data"), _link("PIL/sub/e", "d/../../x")]
    with pytest.raises(ReleaseError, match="resolves outside"):
        install_release(_archive_with(tmp_path, extra), tmp_path / "opt", "app-1-x", "kiosk-agent")


@given(st.text(max_size=30), st.text(max_size=30))
def test_link_targets_that_pass_stay_inside(name: str, target: str) -> None:
    import posixpath

    try:
        ok = check_link_target(name or "n", target)
    except ReleaseError:
        return
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name or "n"), ok))
    assert not posixpath.isabs(resolved) and not resolved.startswith("..")
