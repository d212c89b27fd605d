"""The operating system behind one interface (``base.Platform``); chosen once, here."""

from __future__ import annotations

import sys
from functools import cache

from kiosk_agent.platform.base import Platform


@cache
def current() -> Platform:
    """The ``Platform`` for the running OS (Linux or Windows)."""
    if sys.platform == "win32":
        from kiosk_agent.platform.windows import WindowsPlatform

        return WindowsPlatform()
    from kiosk_agent.platform.linux import LinuxPlatform

    return LinuxPlatform()


def is_windows() -> bool:
    return sys.platform == "win32"
