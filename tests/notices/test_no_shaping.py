"""Without the system's FriBiDi, Raqm and HarfBuzz the notice still comes up: degraded to
the languages drawable without shaping, logged once, and counted (``notices.degraded``).

The libraries are hidden in a private mount namespace (root, ``unshare``), and the notice
runs there in a subprocess under its own Xvfb, as on a café PC that lacks them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from installer.hidden_libs import hidden_shaping_command, system_shaping_libraries
from kiosk_agent.notices import shaping
from tests.conftest import REPO_ROOT, cli_env, require, require_tool

pytestmark = pytest.mark.slow

SCRIPT = r"""
import json, logging, sys, time, tkinter as tk
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
from PIL import features
from kiosk_agent.notices import shaping
from kiosk_agent.content.countries import country_for
from kiosk_agent.notices.window import NoticeWindow
from kiosk_agent.reporting.counters import Counters

counters = Counters(time.time)
root = tk.Tk(className="kiosk-agent")
root.withdraw()
window = NoticeWindow(
    root, languages=["ar", "km", "sw", "en"], country=country_for("KE"), min_display=0,
    font_size=22, on_event=counters.count, size=(1024, 768),
)
window.show()
window.show()  # a second session: counted again, logged no more
root.update()
window.capture().save(sys.argv[1])
print(json.dumps({
    "raqm": features.check_feature("raqm"),
    "shaping": shaping.available(),
    "languages": window.languages,
    "locale": window.locale.code,
    "counts": {name: n for (_start, name), n in counters.take().items()},
}))
"""


def _prerequisites() -> None:
    require(sys.platform == "linux" and os.geteuid() == 0, "hiding libraries needs root on Linux")
    require_tool("unshare")
    require_tool("xvfb-run")
    require(bool(system_shaping_libraries()), "no system FriBiDi/HarfBuzz to hide")


def test_notice_comes_up_degraded_and_counted(tmp_path: Path) -> None:
    _prerequisites()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    shot = tmp_path / "notice.png"
    argv = [
        "xvfb-run", "-a", "-s", "-screen 0 1024x768x24",
        sys.executable, "-W", "error", "-c", SCRIPT, str(shot),
    ]  # fmt: skip
    done = subprocess.run(
        hidden_shaping_command(argv, str(empty)),
        capture_output=True, text=True, timeout=180, env=cli_env(), cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["raqm"] is False and result["shaping"] is False  # really hidden
    assert result["languages"] == ["sw", "en"] and result["locale"] == "sw"
    assert result["counts"]["notices.degraded"] == 2
    assert result["counts"]["notices.shown.sw"] == 2
    warnings = [ln for ln in done.stderr.splitlines() if "text shaping is unavailable" in ln]
    assert len(warnings) == 1 and "fribidi" in warnings[0]
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1024, 768)
        colors = im.convert("L").getcolors(maxcolors=1 << 16)
    assert colors is not None and len(colors) > 20  # text was drawn, not a blank window


def test_shaping_is_available_outside_the_namespace() -> None:
    """The same machine with its libraries: nothing degraded (the test above is not vacuous)."""
    require(shaping.available(), "Pillow has no Raqm here")
    shown, state = shaping.notice_languages(["ar", "km", "sw"])
    assert state.available and shown == ["ar", "km", "sw"]
