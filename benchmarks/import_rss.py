"""Resident memory a statement adds to a process that already runs Tk and Pillow (as the
UI does): each statement in a fresh interpreter, ``VmRSS`` before and after.

`python -m benchmarks.import_rss ["statement" ...]` (defaults: the plural-rule options
measured for issue 22).
"""

from __future__ import annotations

import subprocess
import sys

DEFAULTS = (
    "import babel.plural",
    "from babel.core import Locale; Locale.parse('ar').plural_form(5)",
    "from babel.core import Locale; [Locale.parse(c).plural_form(5) for c in ('ar','sw','en')]",
    "import kiosk_agent.content.plural",
    "from PIL import PngImagePlugin",
)
CHILD = """
import sys
def rss():
    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024
import tkinter, PIL.Image, re, json, datetime, yaml
import kiosk_agent.content.locales
before = rss()
exec(sys.argv[1])
print(f"{rss() - before:.2f}")
"""


def main(argv: list[str]) -> int:
    for statement in argv or DEFAULTS:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, statement], capture_output=True, text=True, check=False
        )
        figure = done.stdout.strip() or f"failed: {done.stderr.strip()[-200:]}"
        print(f"{figure:>8} MB  {statement}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
