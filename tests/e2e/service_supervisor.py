"""A stand-in for systemd in end-to-end tests: runs a command again whenever it ends.

``run DIR -- ARGV...`` keeps ARGV running (``Restart=always``) unless ``DIR/stopped``
exists; ``stop DIR`` creates it and waits until the child has ended (``systemctl
stop``); ``start DIR`` removes it (``systemctl start``). The program switch calls the
last two as ``updates.release.stop_command`` / ``start_command``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def run(folder: Path, argv: list[str]) -> int:
    stopping = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    folder.mkdir(parents=True, exist_ok=True)
    running = folder / "running"
    log = (folder / "children.log").open("ab")
    while not stopping:
        if (folder / "stopped").exists():
            time.sleep(0.2)
            continue
        child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        running.write_text(str(child.pid))
        while child.poll() is None:
            if stopping or (folder / "stopped").exists():
                child.terminate()
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                break
            time.sleep(0.2)
        running.unlink(missing_ok=True)
        if not stopping and not (folder / "stopped").exists():
            time.sleep(1)  # RestartSec
    log.close()
    return 0


def stop(folder: Path) -> int:
    (folder / "stopped").touch()
    deadline = time.monotonic() + 30
    time.sleep(0.5)  # a child being started as the flag appeared is seen by now
    while (folder / "running").exists():
        if time.monotonic() > deadline:
            print("the service did not stop", file=sys.stderr)
            return 1
        time.sleep(0.1)
    return 0


def start(folder: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(folder / "stopped")
    return 0


def main(argv: list[str]) -> int:
    action, folder = argv[0], Path(argv[1])
    if action == "run":
        return run(folder, argv[3:])
    return stop(folder) if action == "stop" else start(folder)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
