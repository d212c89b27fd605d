"""After a notice closes the UI hands memory back: the text engines' pages paged out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk_agent.ui import page_out_text_engines
from tests.conftest import require

SCRIPT = r"""
from pathlib import Path
from kiosk_agent.notices.render import TextStyle, render_text
from kiosk_agent.ui import page_out_text_engines

def engine_rss():
    kb, name = 0, ""
    for line in Path("/proc/self/smaps").read_text().splitlines():
        f = line.split()
        if len(f) >= 5 and "-" in f[0] and ":" in f[3]:
            name = f[5] if len(f) > 5 else ""
        elif f and f[0] == "Rss:" and "libharfbuzz" in name:
            kb += int(f[1])
    return kb

def draw():
    return render_text("Habari! مرحبا ខ្មែរ", "Arab", TextStyle(22), max_width=900, rtl=True,
                       background=(255, 255, 255))

first = draw()
before = engine_rss()
advised = page_out_text_engines()
after = engine_rss()
again = draw()  # the engines come back on use
import os
own = any(os.environ["LD_PRELOAD"] in line for line in open("/proc/self/maps"))
print(before, advised, after, first.tobytes() == again.tobytes(), own)
"""


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="Linux /proc only")
def test_text_engines_leave_the_resident_set_and_still_draw(tmp_path: Path) -> None:
    # The kernel pages out only pages no other process has mapped: this test process has
    # drawn text too (other tests), so the child gets its own copy of Pillow's HarfBuzz,
    # as the kiosk's UI is the only process drawing text on its PC.
    import PIL

    libs = sorted((Path(PIL.__file__).parent.parent / "pillow.libs").glob("libharfbuzz*"))
    require(bool(libs), "Pillow without its bundled HarfBuzz (a wheel has it)")
    copy = tmp_path / libs[0].name
    shutil.copyfile(libs[0], copy)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        # the copy finds its own dependencies (FreeType...) where the original does
        env={**os.environ, "LD_PRELOAD": str(copy), "LD_LIBRARY_PATH": str(libs[0].parent)},
    )
    before, advised, after, same, own = done.stdout.split()
    assert own == "True", "the child draws with its own copy of HarfBuzz"
    assert int(advised) > 0
    assert int(before) >= 300, "drawing shaped text touches HarfBuzz"
    # what stays is the private copies of its data (relocations), about 320 kB
    assert int(after) < int(before) / 2
    assert same == "True"


def test_page_out_is_best_effort(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text("00001000-00002000 r-xp 00000000 00:00 0 /nowhere/libharfbuzz.so\nnot a line\n")
    assert page_out_text_engines(str(maps)) == 0  # nothing mapped there: refused, no harm
    assert page_out_text_engines(str(tmp_path / "missing")) == 0
