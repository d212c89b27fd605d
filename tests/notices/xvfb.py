"""A private Xvfb for window tests: a free display number chosen by Xvfb (-displayfd)."""

from __future__ import annotations

import atexit
import os
import select
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.conftest import require_tool


@contextmanager
def xvfb(width: int = 1024, height: int = 768) -> Iterator[str]:
    """Start Xvfb on a free display; yields the DISPLAY value (e.g. ``":7"``)."""
    path = require_tool("Xvfb")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [
            path,
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        data = b""
        while not data.endswith(b"\n"):
            ready, _, _ = select.select([read_fd], [], [], 10)
            if not ready:
                raise RuntimeError("Xvfb did not report its display within 10 s")
            chunk = os.read(read_fd, 64)
            if not chunk:
                raise RuntimeError(f"Xvfb exited ({proc.poll()})")
            data += chunk
        yield f":{int(data.strip())}"
    finally:
        os.close(read_fd)
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_shared: dict[tuple[int, int], tuple[str, Any]] = {}


def shared_xvfb(width: int = 1024, height: int = 768) -> str:
    """An Xvfb that lives until this test process exits (one per screen size).

    Tk keeps its connection to a display open after the last window on it is destroyed;
    if that X server then goes away, the next Tk call in the process dies of an X I/O
    error. Tests that open Tk windows therefore share displays that outlive them.
    """
    key = (width, height)
    if key not in _shared:
        context = xvfb(width, height)
        display = context.__enter__()
        _shared[key] = (display, context)
        atexit.register(context.__exit__, None, None, None)
    return _shared[key][0]
