"""Shared fixtures: running the CLI as a subprocess, and skipping for missing tools.

``require_tool`` skips a test whose external tool (Xvfb, dnsmasq, chromium, ...) is
missing, except under ``CI=true``: CI installs every tool, so a missing one fails there.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

# The real one-file programs, built once per session for every test that needs one.
from tests.program_builds import executable, executable_next  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"

# No test may send multicast DNS on this machine's own network: services that tests start
# (in-process or as children, which inherit this) neither browse for nor advertise a café
# hub. The café-in-a-box test removes it inside the namespaces it makes.
os.environ["KIOSK_AGENT_NO_MDNS"] = "1"

# Test files that make Tk windows and photos.
_TK_TESTS = ("/tests/notices/", "/tests/test_ui", "/tests/installer/test_wizard_tk.py")


@pytest.fixture(autouse=True)
def _tk_objects_die_on_the_main_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """Collect a Tk test's leftovers (photos, widgets of a destroyed root) on the main
    thread right after it. Left to the collector, they may be freed later on another
    thread (a test client's event loop), where Tcl aborts the whole run (it did once:
    "Fatal Python error: Aborted" while garbage-collecting in an anyio thread)."""
    yield
    if any(part in str(request.node.path) for part in _TK_TESTS):
        gc.collect()


def require(condition: bool, reason: str) -> None:
    """Skip (locally) or fail (under CI=true) when ``condition`` is false."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """Path of the executable ``name``; skips locally / fails in CI when it is missing."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None
    )
    require(path is not None, f"{name} is not installed (make test installs it as root)")
    assert path is not None
    return path


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_cli(
    args: Sequence[str], *, input: str | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `kiosk-agent ARGS` from this checkout in a subprocess and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "kiosk_agent", *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
        env=cli_env(),
        cwd=cwd or REPO_ROOT,
        check=False,
    )
