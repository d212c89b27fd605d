"""The one-file program, built once per test session with installer/build.sh
(tests/program_builds.py: ``executable``, and ``executable_next`` built as the next
version), smoke-tested, and the unpacked program that `install --root` lays out from it.

Slow (a PyInstaller build takes one to three minutes here); CI runs it with the rest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require, require_tool

pytestmark = pytest.mark.slow


def _run(exe: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISPLAY")}
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        input=input,
        check=False,
        cwd=exe.parent,
    )


def test_size_budget(executable: Path) -> None:
    assert executable.stat().st_size <= 25 * 2**20


def test_version(executable: Path) -> None:
    from kiosk_agent import __version__

    done = _run(executable, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"kiosk-agent {__version__}"


def test_config_check(executable: Path, tmp_path: Path) -> None:
    done = _run(executable, "config", "check", str(REPO_ROOT / "config" / "agent.example.yaml"))
    assert done.returncode == 0 and "config OK" in done.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("filter: {block_answer: maybe}\n")
    done = _run(executable, "config", "check", str(bad))
    assert done.returncode == 1 and "filter.block_answer" in done.stderr


ANSWERS = (
    'cafe: {name: X, country: KE, region: KE-NBO, languages: [sw, en]}\noperator_pin: "4821"\n'
)


def _releases(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "opt/kiosk-agent").glob("app-*"))


def _exec_start(root: Path) -> str:
    unit = (root / "etc/systemd/system/kiosk-agent.service").read_text()
    return next(line for line in unit.splitlines() if line.startswith("ExecStart="))


@pytest.fixture(scope="session")
def installed(executable: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one-file program installed into a prefix: the unpacked program under opt/."""
    tmp = tmp_path_factory.mktemp("installed")
    answers = tmp / "a.yaml"
    answers.write_text(ANSWERS)
    root = tmp / "root"
    done = _run(executable, "install", "--root", str(root), "--answers", str(answers))
    assert done.returncode == 0, done.stderr
    return root


def test_install_lays_out_the_unpacked_program(installed: Path, tmp_path: Path) -> None:
    (release,) = _releases(installed)
    top = installed / "opt/kiosk-agent" / release
    assert (top / "kiosk-agent").stat().st_mode & 0o111
    assert (top / "kiosk-agent.pkg").is_file() and (top / "_internal").is_dir()
    assert list((top / "_internal").glob("libpython3*"))
    assert (installed / "opt/kiosk-agent/kiosk-agent").resolve() == top / "kiosk-agent"
    assert (installed / "opt/kiosk-agent/agent.example.yaml").is_file()
    assert _exec_start(installed) == (
        f"ExecStart=/opt/kiosk-agent/{release}/kiosk-agent service "
        "--config /etc/kiosk-agent/agent.yaml"
    )
    # It runs from the folder and unpacks nothing: its temporary folder stays empty.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISPLAY")}
    env["TMPDIR"] = str(scratch)
    from kiosk_agent import __version__

    for program in (top / "kiosk-agent", installed / "opt/kiosk-agent/kiosk-agent"):
        done = subprocess.run(
            [str(program), "--version"], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.stdout.strip() == f"kiosk-agent {__version__}", done.stderr
    done = subprocess.run(
        [str(top / "kiosk-agent"), "notices", "check"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and "23 locales OK" in done.stdout, done.stderr
    # Babel stays out of the program: the rules are not compared with CLDR there.
    assert "not compared with CLDR" in done.stdout
    assert list(scratch.iterdir()) == []


def test_repair_swaps_the_program_and_uninstall_removes_it(
    executable: Path, tmp_path: Path
) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text(ANSWERS)
    root = tmp_path / "root"
    args = ["install", "--root", str(root), "--answers", str(answers)]
    assert _run(executable, *args).returncode == 0
    (first,) = _releases(root)
    # A repair run from the installed program itself copies its release into a new one.
    done = _run(root / "opt/kiosk-agent/kiosk-agent", *args)
    assert done.returncode == 0, done.stderr
    (second,) = set(_releases(root)) - {first}
    assert second in _exec_start(root)
    assert (root / "opt/kiosk-agent/kiosk-agent").resolve().parent.name == second
    # Again from the download: the oldest goes, the one before the new one stays.
    assert _run(executable, *args).returncode == 0
    (third,) = set(_releases(root)) - {first, second}
    assert _releases(root) == sorted([second, third]) and third in _exec_start(root)
    done = _run(root / "opt/kiosk-agent/kiosk-agent", "--version")
    assert done.returncode == 0, done.stderr

    done = _run(executable, "uninstall", "--root", str(root), input="4821\n")
    assert done.returncode == 0, done.stderr
    assert not (root / "opt/kiosk-agent").exists()
    assert not (root / "etc/systemd/system/kiosk-agent.service").exists()


DEMO_KEY = REPO_ROOT / "config" / "demo" / "DEMO-feed-signing.key"


def _demo_trust() -> str:
    pub = (REPO_ROOT / "config" / "demo" / "DEMO-feed-signing.pub").read_text()
    return next(line for line in pub.splitlines() if line.startswith("ed25519:"))


def test_feed_build_verify_check(executable: Path, tmp_path: Path) -> None:
    listed = tmp_path / "DEMO-list.txt"
    listed.write_text("blocked-demo.test\nunsafe-chat.example\n")
    bundle = tmp_path / "demo.bundle"
    done = _run(
        executable, "feed", "build", "--key", str(DEMO_KEY), "--list-id", "demo",
        "--version", "1", "--category", f"abuse={listed}", "--out", str(bundle),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    trust = _demo_trust()
    done = _run(executable, "feed", "verify", str(bundle), "--trust", trust)
    assert done.returncode == 0 and done.stdout.startswith("OK"), done.stdout + done.stderr
    other = "ed25519:" + "A" * 43 + "="
    done = _run(executable, "feed", "verify", str(bundle), "--trust", other)
    assert done.returncode == 1
    done = _run(
        executable, "feed", "check", str(bundle), "--trust", trust, "x.blocked-demo.test",
        "news.example",
    )  # fmt: skip
    assert done.stdout.splitlines() == ["x.blocked-demo.test blocked abuse", "news.example allowed"]


def test_notices_check(executable: Path) -> None:
    done = _run(executable, "notices", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "23 locales OK" in done.stdout


def test_notice_window_renders_from_the_executable(executable: Path, tmp_path: Path) -> None:
    """Tk, Pillow's ImageTk (which loads PIL._tkinter_finder by name) and the fonts."""
    xvfb_run = require_tool("xvfb-run")
    shot = tmp_path / "km.png"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISPLAY")}
    done = subprocess.run(
        [xvfb_run, "-a", "-s", "-screen 0 1024x768x24", str(executable), "notices", "show",
         "--locale", "km", "--country", "KE", "--screenshot", str(shot)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    from PIL import Image

    with Image.open(shot) as im:
        colors = im.convert("L").getcolors(maxcolors=1 << 16)
    assert colors is not None and len(colors) > 20  # text was drawn, not a blank window


@pytest.mark.parametrize("form", ["one-file", "installed"])
def test_service_answers_blocked_and_allowed(
    executable: Path, installed: Path, tmp_path: Path, form: str
) -> None:
    """The service, run by the downloaded one-file program and by the unpacked program that
    install laid out, with a file:// DEMO feed, forwarding to a loopback upstream."""
    import yaml

    from kiosk_agent.config import HostPort
    from kiosk_agent.demo.run import have_module
    from kiosk_agent.demo.upstream import DemoUpstream
    from kiosk_agent.net.dns_probe import resolve, wait_until_answering
    from kiosk_agent.net.ports import free_port

    if not have_module("kiosk_agent.filter.updater"):
        pytest.skip("the feed updater (kiosk_agent/filter/updater.py) is not on this branch yet")
    listed = tmp_path / "DEMO-list.txt"
    listed.write_text("blocked-demo.test\n")
    bundle = tmp_path / "demo.bundle"
    built = _run(
        executable, "feed", "build", "--key", str(DEMO_KEY), "--list-id", "demo",
        "--version", "1", "--category", f"abuse={listed}", "--out", str(bundle),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    listen = HostPort("127.0.0.1", free_port())
    with DemoUpstream() as upstream:
        config = {
            "demo": True,  # it trusts the published DEMO key
            "state_dir": str(tmp_path / "state"),
            "filter": {
                "listen": [str(listen)],
                "upstreams": [str(upstream.address)],
                "blockpage_listen": f"127.0.0.1:{free_port()}",
                "feeds": [{"url": bundle.as_uri(), "trust": [_demo_trust()]}],
            },
            "reporting": {"server": None},
            "control": {"listen": f"127.0.0.1:{free_port()}"},
        }
        path = tmp_path / "agent.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISPLAY")}
        program = executable if form == "one-file" else installed / "opt/kiosk-agent/kiosk-agent"
        proc = subprocess.Popen(
            [str(program), "service", "--config", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            assert wait_until_answering(listen, within=30) is not None
            assert resolve(listen, "news.example") == (0, ["192.0.2.10"])
            # The list is applied in the background after the resolver answers. Wait on a
            # listed name the upstream has a record for: NXDOMAIN then means blocked (the
            # upstream itself says NXDOMAIN for listed names it has no record of).
            deadline = time.monotonic() + 30
            while (got := resolve(listen, "bad-pictures.blocked-demo.test")) != (3, []):
                assert time.monotonic() < deadline, f"never blocked: {got}"
                time.sleep(0.2)
            upstream.names_seen.clear()
            assert resolve(listen, "deeper.x.blocked-demo.test") == (3, [])
            assert upstream.names_seen == set()  # a blocked name never leaves the kiosk
        finally:
            proc.terminate()
            _out, err = proc.communicate(timeout=30)
        assert proc.returncode in (0, -15), err.decode(errors="replace")[-2000:]


def _check_bundle_render(program: Path) -> subprocess.CompletedProcess[str]:
    """installer/check_bundle.py's shaping check (system libraries hidden) on ``program``."""
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "installer" / "check_bundle.py"), "--render-only",
         str(program)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _require_namespaces() -> None:
    require(sys.platform == "linux" and os.geteuid() == 0, "hiding libraries needs root")
    require_tool("unshare")
    require_tool("xvfb-run")


def test_installed_program_shapes_without_system_libraries(installed: Path) -> None:
    """The unpacked program a café runs carries FriBiDi too (the one-file program is
    checked by build.sh itself: tests/program_builds.py asserts its OK)."""
    _require_namespaces()
    (release,) = _releases(installed)
    top = installed / "opt/kiosk-agent" / release
    assert (top / "_internal/fribidi/libfribidi.so.0").is_file()
    assert "LGPL" in (top / "_internal/fribidi/copyright").read_text()
    done = _check_bundle_render(top / "kiosk-agent")
    assert done.returncode == 0 and "match the sources" in done.stdout, done.stdout[-2000:]


def test_check_bundle_fails_when_the_bundled_fribidi_is_removed(
    installed: Path, tmp_path: Path
) -> None:
    _require_namespaces()
    (release,) = _releases(installed)
    copy = tmp_path / release
    shutil.copytree(installed / "opt/kiosk-agent" / release, copy, symlinks=True)
    shutil.rmtree(copy / "_internal/fribidi")
    done = _check_bundle_render(copy / "kiosk-agent")
    assert done.returncode == 1, done.stdout[-2000:]
    for locale in ("ar", "km", "hi"):
        assert f"{locale} notice without the system's shaping libraries" in done.stdout


def test_a_second_build_has_the_same_contents(executable: Path, executable_next: Path) -> None:
    """`make exe` twice from the same lock and tree: the same unpacked contents
    (installer/compare_builds.py; docs/reproducible-builds.md). The second build is the
    one made as the next version (KIOSK_BUILD_VERSION; the update test needs it anyway,
    so CI builds twice, not three times): exactly the generated version module differs,
    and the frozen-module archive holding it; every other entry and module is the same."""
    from installer import compare_builds

    left, right = compare_builds.unpacked(executable), compare_builds.unpacked(executable_next)
    assert "PYZ:kiosk_agent_build" in set(right) - set(left)
    found = compare_builds.differences(executable, executable_next)
    pyz = [n for n in left if ":" not in n and (n.endswith(".pyz") or n.startswith("PYZ"))]
    assert found == [f"only in {executable_next}: PYZ:kiosk_agent_build"] + [
        f"differs: {n}" for n in sorted(pyz)
    ], found
    assert len(left) > 900  # the whole program was compared, not an empty archive


def test_a_build_made_as_another_version_says_so(executable_next: Path, tmp_path: Path) -> None:
    """KIOSK_BUILD_VERSION: `--version`, and the release folder `install` names."""
    from kiosk_agent import __version__
    from tests.program_builds import next_version

    wanted = next_version(__version__)
    done = _run(executable_next, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"kiosk-agent {wanted}"
    answers = tmp_path / "a.yaml"
    answers.write_text(ANSWERS)
    root = tmp_path / "root"
    done = _run(executable_next, "install", "--root", str(root), "--answers", str(answers))
    assert done.returncode == 0, done.stderr
    (release,) = _releases(root)
    assert release.startswith(f"app-{wanted}-")
    done = _run(root / "opt/kiosk-agent/kiosk-agent", "--version")
    assert done.stdout.strip() == f"kiosk-agent {wanted}", done.stderr


def test_build_refuses_a_version_that_cannot_be_published(tmp_path: Path) -> None:
    """Checked before PyInstaller starts (the same rule as `kiosk-server publish-release`)."""
    env = dict(os.environ, KIOSK_BUILD_VERSION="1.3.0-rc1", KIOSK_BUILD_WORK=str(tmp_path / "w"))
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "installer" / "build.sh"), str(tmp_path / "dist")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "not a version like 1.3.0" in done.stderr
    assert not (tmp_path / "w").exists() and not (tmp_path / "dist").exists()
