"""A small world for the browser tests: an HTTPS origin on loopback, the agent's guard API
over a real signed list, the reporting component, and Chromium with the extension.

Everything listens on 127.0.0.1; the browser's names are mapped there (or to NXDOMAIN)
with ``--host-resolver-rules``, so no query or connection leaves the machine.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from kiosk_agent.config import HostPort, config_from_mapping
from kiosk_agent.contracts import feed
from kiosk_agent.filter.guard import GuardServer, create_guard
from kiosk_agent.filter.index import BlocklistIndex, IndexHolder, build_index, index_path
from kiosk_agent.filter.sources import entries_from_sources, read_source
from kiosk_agent.reporting.component import ReportingComponent
from kiosk_agent.service.context import ServiceContext
from tests.browser_guard.helpers import GUARD_DIR
from tests.filter.feed_helpers import CATS, NOW, full, keypair
from tests.filter.proxy.origins import make_cert

T = TypeVar("T")

LISTED_PATH = "/listed/page.html"
LISTS = {
    # reserved names only: a page on an otherwise ordinary host, and a whole host
    "csam": [f"http://pages.test{LISTED_PATH}", "dns-blocked.test"],
    "grooming": [],
}
HOSTS = ("pages.test", "www.pages.test", "plain.test")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless=new",  # the new headless mode runs extensions
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def resolver_rules() -> str:
    mapped = [f"MAP {h} 127.0.0.1" for h in HOSTS]
    return ",".join([*mapped, "MAP * ~NOTFOUND", "EXCLUDE 127.0.0.1"])


def open_index(directory: Path) -> BlocklistIndex:
    key, pub = keypair()
    entries = entries_from_sources(CATS, {c: read_source(lines) for c, lines in LISTS.items()})
    path = index_path(directory, "hotline")
    build_index(path, [feed.read_bundle(full(key, entries), [pub], now=NOW)])
    return BlocklistIndex.open(path)


class Origin:
    """An HTTPS server for any of ``HOSTS``: one small page per path; records requests."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.requests: list[tuple[str, str]] = []  # (host, path)
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                host = next(
                    (
                        v.strip()
                        for k, _, v in (x.partition(":") for x in lines[1:])
                        if k.lower() == "host"
                    ),
                    "",
                )
                self.requests.append((host.split(":")[0], path))
                if path == "/favicon.ico":
                    body, status = b"", "404 Not Found"
                else:
                    body = b"<!doctype html><title>origin page</title><h1>ORIGIN PAGE</h1>"
                    status = "200 OK"
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {len(body)}"
                    "\r\nCache-Control: no-store\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ssl.SSLError):
            pass
        finally:
            writer.close()


class World:
    """The agent's side (guard + reporting) and the origin, on a loop in a thread."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.index = open_index(tmp)
        self.holder = IndexHolder([self.index])
        cert, key, _ = make_cert(tmp, list(HOSTS))
        self.origin = Origin(cert, key)
        self.ctx = ServiceContext(
            config_from_mapping(
                {
                    "state_dir": str(tmp / "state"),
                    "cafe": {"languages": ["sw", "en"]},
                    "reporting": {"server": None, "flush_every": 1},
                    "filter": {"upstreams": ["127.0.0.1:9"]},
                }
            )
        )
        self.reporting = ReportingComponent(self.ctx)
        guard = create_guard(self.ctx)
        assert guard is not None
        guard.listen = HostPort("127.0.0.1", 0)
        guard.api.current = lambda: self.holder
        self.guard: GuardServer = guard

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(30)

    def start(self) -> None:
        self.thread.start()
        (self.tmp / "state").mkdir(exist_ok=True)
        self.run(self.reporting.start())
        self.run(self.guard.start())
        self.run(self.origin.start())
        assert self.guard.address is not None, self.guard.error

    def stop(self) -> None:
        for coro in (self.origin.stop(), self.guard.stop(), self.reporting.stop()):
            self.run(coro)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.index.close()

    @property
    def api(self) -> str:
        assert self.guard.address is not None
        return f"http://127.0.0.1:{self.guard.address[1]}"

    def url(self, host: str, path: str) -> str:
        return f"https://{host}:{self.origin.port}{path}"

    def guard_counts(self) -> dict[str, Any]:
        return self.guard.status()

    def today(self) -> dict[str, int]:
        return self.reporting.today_counts()


def extension_copy(target: Path, api: str, source: Path | None = None) -> Path:
    """The extension as the installer ships it (the files of the ``.xpi``), with the guard
    API's address of this test (``source``: another copy of ``browser_guard/``)."""
    from kiosk_agent.installer.browser_guard import shipped_files

    source = source or GUARD_DIR
    for rel in shipped_files(source):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target / rel)
    config = target / "src" / "config.js"
    text = config.read_text()
    assert '"http://127.0.0.1:8054"' in text
    config.write_text(text.replace('"http://127.0.0.1:8054"', f'"{api}"'))
    return target


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()
