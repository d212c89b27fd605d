"""A small WebDriver BiDi client for Debian's firefox-esr (Playwright drives only its own
patched Firefox): start the browser with its remote agent on loopback, send commands over
the WebSocket, skip events."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.browser_guard.websocket import WebSocket

_LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")


class BidiError(RuntimeError):
    """The browser answered a command with an error."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error = error


class Firefox:
    """``firefox --headless --remote-debugging-port 0`` in its own profile; ``send`` runs
    one BiDi command and returns its result."""

    def __init__(self, executable: str, profile: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-remote",
                "--profile",
                str(profile),
                "--remote-debugging-port",
                "0",  # any free port; the browser prints the one it took
                "--remote-allow-hosts",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.log: list[str] = []
        found: list[str] = []
        ready = threading.Event()

        def read_stderr() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.log.append(line.rstrip())
                match = _LISTENING.search(line)
                if match and not found:
                    found.append(match.group(1))
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read_stderr, daemon=True)
        self._reader.start()
        if not ready.wait(60) or not found:
            self.close()
            raise RuntimeError("Firefox's remote agent did not start: " + "\n".join(self.log))
        self.ws = WebSocket(found[0] + "/session")
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any], timeout: float = 30.0) -> Any:
        command_id = next(self._ids)
        self.ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        end = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, end - time.monotonic())))
            if message.get("id") != command_id:
                self.events.append(message)
                continue
            if message.get("type") == "error":
                raise BidiError(message.get("error", "?"), message.get("message", ""))
            return message["result"]

    def close(self) -> None:
        try:
            if hasattr(self, "ws"):
                self.send("browser.close", {}, timeout=10)
        except Exception:
            pass  # the browser may close the socket before it answers
        if hasattr(self, "ws"):
            self.ws.close()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._reader.join(5)
        if self.process.stderr is not None:
            self.process.stderr.close()
