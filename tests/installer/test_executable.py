"""The one-file program, built once per test session with installer/build.sh, smoke-tested.

Slow (a PyInstaller build takes about a minute here); CI runs it with the rest.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require_tool

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def executable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build dist/kiosk-agent into a session temp folder (shared by every test here)."""
    require_tool("xvfb-run")
    require_tool("objdump")
    out = tmp_path_factory.mktemp("exe")
    env = dict(os.environ)
    env["KIOSK_BUILD_WORK"] = str(out / "work")
    env["PYTHON"] = os.environ.get("KIOSK_BUILD_PYTHON", __import__("sys").executable)
    env.pop("DISPLAY", None)  # build.sh must provide its own X display for pystray's hook
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "installer" / "build.sh"), str(out / "dist")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "OK" in done.stdout  # check_bundle.py: size budget, tray backends, Tk data
    exe = out / "dist" / "kiosk-agent"
    assert exe.is_file()
    return exe


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


def test_install_into_prefix_copies_itself(executable: Path, tmp_path: Path) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text(
        'cafe: {name: X, country: KE, region: KE-NBO, languages: [sw, en]}\noperator_pin: "4821"\n'
    )
    root = tmp_path / "root"
    done = _run(executable, "install", "--root", str(root), "--answers", str(answers))
    assert done.returncode == 0, done.stderr
    installed = root / "opt/kiosk-agent/kiosk-agent"
    assert installed.read_bytes() == executable.read_bytes()
    assert (root / "opt/kiosk-agent/agent.example.yaml").is_file()


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
    assert "15 locales OK" in done.stdout


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


def test_service_answers_blocked_and_allowed(executable: Path, tmp_path: Path) -> None:
    """The one-file service with a file:// DEMO feed, forwarding to a loopback upstream."""
    import yaml

    from kiosk_agent.config import HostPort
    from kiosk_agent.demo import have_module
    from kiosk_agent.demo_upstream import DemoUpstream
    from kiosk_agent.dns_probe import resolve, wait_until_answering
    from kiosk_agent.ports import free_port

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
        proc = subprocess.Popen(
            [str(executable), "service", "--config", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            assert wait_until_answering(listen, within=30) is not None
            assert resolve(listen, "news.example") == (0, ["192.0.2.10"])
            deadline = time.monotonic() + 30
            while (got := resolve(listen, "x.blocked-demo.test")) != (3, []):
                assert time.monotonic() < deadline, f"never blocked: {got}"
                time.sleep(0.2)
            upstream.names_seen.clear()
            assert resolve(listen, "deeper.x.blocked-demo.test") == (3, [])
            assert upstream.names_seen == set()  # a blocked name never leaves the kiosk
        finally:
            proc.terminate()
            _out, err = proc.communicate(timeout=30)
        assert proc.returncode in (0, -15), err.decode(errors="replace")[-2000:]
