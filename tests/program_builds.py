"""Real one-file programs built with installer/build.sh, once per test session, shared by
tests/installer/test_executable.py and tests/e2e/test_program_update.py (tests/conftest.py
imports the fixtures so both see the same session builds).

``executable``: the checkout's version. ``executable_next``: the same tree built with
``KIOSK_BUILD_VERSION`` set to the next minor version (``next_version``), as a release
published after it would be. A build takes one to three minutes here (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def next_version(version: str, step: int = 1) -> str:
    """``0.1.0`` -> ``0.2.0`` (step 1), ``0.3.0`` (step 2): a release newer than ``version``."""
    major, minor, _patch = (int(p) for p in version.split(".")[:3])
    return f"{major}.{minor + step}.0"


def build(out: Path, version: str | None = None) -> Path:
    """Run installer/build.sh into ``out/dist`` (work folder ``out/work``); the program."""
    from tests.conftest import require_tool  # (conftest imports this module's fixtures)

    require_tool("xvfb-run")
    require_tool("objdump")
    env = dict(os.environ)
    env["KIOSK_BUILD_WORK"] = str(out / "work")
    env["PYTHON"] = os.environ.get("KIOSK_BUILD_PYTHON", sys.executable)
    env.pop("DISPLAY", None)  # build.sh must provide its own X display for pystray's hook
    env.pop("KIOSK_BUILD_VERSION", None)
    if version is not None:
        env["KIOSK_BUILD_VERSION"] = version
    started = time.monotonic()
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
    if sys.platform == "linux" and os.geteuid() == 0:  # and text shaping, libraries hidden
        assert "match the sources with the system's shaping libraries hidden: OK" in done.stdout
    exe = out / "dist" / "kiosk-agent"
    assert exe.is_file()
    # docs/BENCHMARKS.md: shown with `pytest -s`.
    print(
        f"\nbuilt {exe} ({version or 'checkout version'}) in "
        f"{time.monotonic() - started:.0f} s: {exe.stat().st_size:,} bytes"
    )
    return exe


@pytest.fixture(scope="session")
def executable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/kiosk-agent built from the checkout, into a session temp folder."""
    return build(tmp_path_factory.mktemp("exe"))


@pytest.fixture(scope="session")
def executable_next(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tree built as the next minor version (KIOSK_BUILD_VERSION)."""
    from kiosk_agent import __version__

    return build(tmp_path_factory.mktemp("exe-next"), next_version(__version__))
