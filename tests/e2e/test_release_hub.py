"""Program releases through the café hub, on loopback, with real processes (issue 21):
a ``kiosk-server``, a hub PC's ``kiosk-agent service`` and kiosks' services. Two kiosks
stage a release and the regional server sends the program once (to the hub); then a hub
whose copy was tampered with makes a third kiosk refuse it, count the refusal and take
the program from the server.

The server's file route is reached through a counting relay in this test (uvicorn's
access log is off), which records each request for a release file and the bytes it sent.
The programs are small PyInstaller PKG archives that are not runnable (like
``tests/installer/fakes.fake_onefile``); ``KIOSK_RELEASE_TEST_MB=25`` pads the released one
to a real program's size (docs/BENCHMARKS.md). This test stops at ``staged`` (downloaded,
verified, unpacked beside the running release); the switch itself is
``tests/e2e/test_program_update.py``'s.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kiosk_agent.config import HostPort
from kiosk_agent.contracts import release as release_contract
from kiosk_agent.demo.run import agent_config, have_module
from kiosk_agent.demo.upstream import DemoUpstream
from kiosk_agent.hub.mirror import MIRROR_DIR
from kiosk_agent.hub.roles import feed_key
from kiosk_agent.installer import release
from kiosk_agent.net.ports import free_port
from kiosk_agent.updates import release_state as rs
from tests.conftest import require
from tests.e2e.test_signed_updates import World, get, wait_for
from tests.installer.fakes import FAKE_BOOTLOADER, FAKE_LAUNCHER, fake_onefile

pytestmark = pytest.mark.slow

VERSION = "0.6.0"
NAME = f"release-{release_contract.version_number(VERSION)}.signed"


def program(path: Path, megabytes: int) -> Path:
    """A one-file program ``install_release`` can lay out, padded with ``megabytes`` MB of
    random bytes (random: nothing on the way could compress them)."""
    from kiosk_agent.installer.carchive import Entry, build_archive

    def entry(name: str, code: str, data: bytes) -> Entry:
        return Entry(name, code, zlib.compress(data), len(data), True)

    padding = os.urandom(megabytes << 20)
    pkg = build_archive(
        [
            entry("kiosk_agent_main", "s", b"pretend entry script"),
            entry("kiosk-agent-launcher/kiosk-agent", "x", FAKE_LAUNCHER),
            Entry("libpadding.so", "b", padding, len(padding), False),
            Entry("pyi-contents-directory _internal", "o", b"", 0, False),
        ],
        311,
        b"libpython3.11.so.1.0",
    )
    path.write_bytes(FAKE_BOOTLOADER + pkg)
    return path


class CountingRelay:
    """Forwards GET and HEAD to the regional server; counts release-file requests and
    the body bytes the server sent for them."""

    def __init__(self, upstream_port: int) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str | None, int, int]] = []
        """(path, Range header, status, body bytes) of each release-file request."""
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                wanted = ("Range", "If-Range", "If-None-Match")
                headers = {k: v for k in wanted if (v := self.headers.get(k)) is not None}
                conn.request(self.command, self.path, headers=headers)
                answer = conn.getresponse()
                body = answer.read()
                conn.close()
                if self.path.endswith(".signed") and "/releases/" in self.path:
                    with relay.lock:
                        relay.requests.append(
                            (self.path, self.headers.get("Range"), answer.status, len(body))
                        )
                self.send_response(answer.status)
                skip = {"content-length", "transfer-encoding", "connection", "server", "date"}
                for k, v in answer.getheaders():
                    if k.lower() not in skip:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = _forward
            do_HEAD = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def program_downloads(self) -> list[tuple[str, str | None, int, int]]:
        with self.lock:
            return [r for r in self.requests if r[2] in (200, 206)]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    require(have_module("regional_server.cli"), "regional_server is not in this checkout")
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.stop()


def candidate(config: dict[str, Any]) -> str | None:
    state = rs.load(Path(config["state_dir"]))
    return None if state.candidate is None else state.candidate.program_version


def counters(world: World, config: Path) -> str:
    return world.run("report", "show", "--json", "--config", str(config))


def test_releases_cross_the_uplink_once_and_a_tampered_hub_copy_is_refused(
    world: World,
) -> None:
    tmp = world.tmp
    key, pub = world.keygen("release")
    world.server("init-db")
    port = free_port()
    world.spawn("server", "serve", "--host", "127.0.0.1", "--port", str(port),
                module="regional_server")  # fmt: skip
    wait_for("the server", lambda: "csrf" in get(f"http://127.0.0.1:{port}/login"), world)
    relay = CountingRelay(port)
    releases = f"{relay.url}/feeds/releases"
    upstream = DemoUpstream().start()
    hub_port = free_port()
    configs: dict[str, dict[str, Any]] = {}
    paths: dict[str, Path] = {}

    def pc(name: str) -> None:
        hub = "this" if name == "hub" else f"http://127.0.0.1:{hub_port}"
        data: dict[str, Any] = agent_config(
            tmp, resolver=HostPort("127.0.0.1", free_port()), upstream=upstream.address,
            control_port=free_port(), blockpage_port=free_port(), server=None, trust=None,
            name=name, hub=hub, hub_port=hub_port,
        )  # fmt: skip
        program_dir = tmp / name / "opt"
        if name != "hub":  # the kiosks as `install` leaves them: a release unpacked
            first = release.install_release(
                fake_onefile(tmp / name / "first"), program_dir,
                release.new_release_name("0.5.0"), "kiosk-agent",
            )  # fmt: skip
            release.point_command_at(program_dir, first.name, "kiosk-agent")
        data["updates"]["release"] = {
            "url": releases,
            "trust": [pub],
            "program_dir": str(program_dir),  # the hub PC: none installed, its own step off
            "service": "command",
            # The switch is test_program_update's: this one stops at "staged".
            "stop_command": ["false"],
            "start_command": ["true"],
        }
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        configs[name], paths[name] = data, path
        world.spawn(name, "service", "--config", str(path))

    def hub_pcs() -> int:
        # 3: the service is not answering yet.
        out = world.run("status", "--json", "--config", str(paths["hub"]), codes=(0, 2, 3))
        if not out.strip():
            return 0
        found: list[int] = []

        def walk(node: object) -> None:
            if isinstance(node, dict):
                if "pcs_live" in node and isinstance(node["pcs_live"], int):
                    found.append(node["pcs_live"])
                for v in node.values():
                    walk(v)

        walk(json.loads(out))
        return max(found, default=0)

    try:
        pc("hub")
        pc("k1")
        pc("k2")
        wait_for("both kiosks heard by the hub", lambda: hub_pcs() >= 2, world, 60)
        megabytes = int(os.environ.get("KIOSK_RELEASE_TEST_MB", "0") or 0)
        released = program(tmp / "kiosk-agent-0.6.0", megabytes)
        started = time.monotonic()
        out = world.server("publish-release", str(released), "--version", VERSION,
                           "--key", str(key), "--trust", pub)  # fmt: skip
        assert "published release release version 0.6.0" in out, out
        size = len((tmp / "server" / "feeds" / "releases" / NAME).read_bytes())

        wait_for("k1 and k2 staged", lambda: candidate(configs["k1"]) == VERSION
                 and candidate(configs["k2"]) == VERSION, world, 120)  # fmt: skip
        downloads = relay.program_downloads()
        # One program download for the café (the hub's), whatever the number of kiosks.
        assert [d[0] for d in downloads] == [f"/feeds/releases/{NAME}"], downloads
        assert sum(d[3] for d in downloads) == size
        sent = sum(d[3] for d in downloads)
        took = time.monotonic() - started
        print(f"release of {size:,} B: 2 kiosks staged it through the hub {took:.1f} s after")
        print(f"publishing; the server sent {sent:,} B of it in {len(downloads)} download(s)")

        # A tampered copy on the hub: a third kiosk refuses it, counts it, and takes the
        # program from the regional server.
        mirrored = tmp / "hub" / "state" / MIRROR_DIR / feed_key(releases) / NAME
        data = bytearray(mirrored.read_bytes())
        data[-200] ^= 1
        mirrored.write_bytes(bytes(data))
        pc("k3")
        wait_for("k3 staged", lambda: candidate(configs["k3"]) == VERSION, world, 180)
        downloads = relay.program_downloads()
        sent = sum(d[3] for d in downloads)
        print(f"after a tampered hub copy: the server sent {sent:,} B in {len(downloads)}")
        assert len(downloads) == 2 and sum(d[3] for d in downloads) == 2 * size, downloads
        wait_for("the refusal counted",
                 lambda: "release.rejected.bad_signature" in counters(world, paths["k3"]),
                 world, 60)  # fmt: skip
        for name in ("k1", "k2"):
            assert "release.rejected" not in counters(world, paths[name])
    finally:
        upstream.stop()
        relay.stop()
