"""The extension's own decisions (browser_guard/src/guard.js) under Node's test runner."""

from __future__ import annotations

import subprocess

from tests.browser_guard.helpers import GUARD_DIR, node


def test_guard_js_unit_tests() -> None:
    done = subprocess.run(
        [node(), "--test", "test/guard.test.js"],
        cwd=GUARD_DIR,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "# pass 7" in done.stdout and "# fail 0" in done.stdout
