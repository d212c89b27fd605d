"""Program releases through the café hub (issue 21): the hub downloads a release once for
the café when a kiosk asks for it (resumable, verified with its own release keys before it
is offered, pruned), serves it with ``Range``; kiosks take it from the hub, verify it with
their own keys, wait a bounded time while the hub fetches it, and go to the regional
server when the hub cannot serve it or serves something they refuse (counted)."""

from __future__ import annotations

import asyncio
import copy
import http.client
import http.server
import shutil
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from kiosk_agent.config import HostPort, config_from_mapping
from kiosk_agent.contracts import release, signed_dir
from kiosk_agent.filter.feed_check import default_fetchers
from kiosk_agent.hub import mirror as mirror_mod
from kiosk_agent.hub.mirror import DIR_KINDS, Mirror, MirroredDir, mirrored_dirs, release_keep
from kiosk_agent.hub.ranges import plan_range
from kiosk_agent.hub.roles import feed_key
from kiosk_agent.hub.server import HubComponent
from kiosk_agent.service.context import ServiceContext
from kiosk_agent.updates import check as check_mod
from kiosk_agent.updates.check import CheckAnswer, KindResult, UpdatesCheck, fetcher_from
from kiosk_agent.updates.download import requests_opener
from tests.updates.test_release_check import NOW, PUB, Kiosk

V11 = release.version_number("1.1.0")
V12 = release.version_number("1.2.0")
NAME11 = f"release-{V11}.signed"
NAME12 = f"release-{V12}.signed"


def test_the_release_kind_is_mirrored_with_the_kiosks_limit() -> None:
    assert mirror_mod.SIGNED_DIRS["release"] == "release"
    assert DIR_KINDS["release"].max_file == check_mod.MAX_RELEASE
    assert DIR_KINDS["release"].background
    assert DIR_KINDS["release"].files.match(NAME11)
    assert not DIR_KINDS["release"].files.match(f".{NAME11}.part")


class Cafe:
    """A region publishing releases (file://), a hub's config, and kiosks of the café."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.region = Kiosk(tmp / "region")
        self.url = self.region.feeds.as_uri()
        local = copy.deepcopy(self.region.local)
        local["state_dir"] = str(tmp / "hub-state")
        local["updates"]["release"] = {"url": self.url, "trust": [PUB]}
        config = config_from_mapping(local)
        self.hub_config = replace(
            config, cafe=replace(config.cafe, hub="this", hub_listen=HostPort("127.0.0.1", 0))
        )
        self.key = feed_key(self.url)
        self.mirror_dir = tmp / "hub-state" / mirror_mod.MIRROR_DIR / self.key

    def kiosk(self, name: str) -> Kiosk:
        k = Kiosk(self.tmp / name)
        k.local["updates"]["release"]["url"] = self.url
        k.config = config_from_mapping(k.local)
        return k


def check(
    k: Kiosk, hub: str | None, now: float = NOW, *, release_hub: str | None = None
) -> tuple[KindResult, CheckAnswer]:
    session = requests.Session()
    session.trust_env = False
    answer = UpdatesCheck(
        k.config, fetcher_from(default_fetchers(k.config, k.config.state_dir)), lambda: now,
        k.local, "kiosk-1", running_version="1.0.0", opener=requests_opener(session), hub=hub,
        release_hub=release_hub or hub,
    ).run()  # fmt: skip
    session.close()
    assert check_mod.parse_answer(answer.to_json()) == answer
    return next(r for r in answer.results if r.kind == "release"), answer


def with_hub(cafe: Cafe, body: Callable[[HubComponent, str], Awaitable[None]]) -> None:
    async def run() -> None:
        hub = HubComponent(ServiceContext(cafe.hub_config))
        await hub.start()
        try:
            assert hub.address is not None
            await body(hub, f"http://127.0.0.1:{hub.address[1]}")
        finally:
            await hub.stop()

    asyncio.run(run())


async def until(what: str, ok: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not ok():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


@pytest.fixture
def cafe(tmp_path: Path) -> Cafe:
    return Cafe(tmp_path)


def test_the_hub_mirrors_releases_it_has_keys_for(cafe: Cafe) -> None:
    dirs = mirrored_dirs(cafe.hub_config)
    assert dirs[cafe.key].kind == "release"


def test_two_kiosks_take_one_download_from_the_hub(cafe: Cafe) -> None:
    cafe.region.publish("1.1.0")
    k1, k2 = cafe.kiosk("k1"), cafe.kiosk("k2")

    async def body(hub: HubComponent, url: str) -> None:
        assert hub.mirror is not None
        got, answer = await asyncio.to_thread(check, k1, url)
        # The hub has not got it: the kiosk waits (a bounded time) instead of fetching it.
        assert (got.result, got.reason) == ("deferred", "hub_fetching")
        assert answer.via_hub and answer.hub_refusals == []
        await until(
            "the hub's download", lambda: hub.mirror is not None and bool(hub.mirror.fetched)
        )
        assert hub.mirror.fetched == [NAME11]
        assert not list(cafe.mirror_dir.glob(".*.part"))
        # The regional server no longer has the file: the kiosks can only get it from the hub.
        (cafe.region.feeds / NAME11).unlink()
        for k in (k1, k2):
            got, answer = await asyncio.to_thread(check, k, url)
            assert (got.result, got.version) == ("staged", V11), got
            assert answer.hub_refusals == []
            assert not (k.config.state_dir / "release" / check_mod.HUB_WAIT_FILE).exists()
        assert hub.mirror.fetched == [NAME11]  # once for the café
        assert hub.status()["mirror"]["releases"]["wanted"] == []
        # Past the withholding bound a kiosk reads the manifests from the server itself,
        # and still takes the program from the hub.
        k3 = cafe.kiosk("k3")
        got, answer = await asyncio.to_thread(check, k3, None, release_hub=url)
        assert (got.result, got.version) == ("staged", V11) and not answer.via_hub
        assert hub.mirror.fetched == [NAME11]

    with_hub(cafe, body)


def test_a_tampered_file_on_the_hub_is_refused_counted_and_fetched_direct(cafe: Cafe) -> None:
    cafe.region.publish("1.1.0")
    k1, k2 = cafe.kiosk("k1"), cafe.kiosk("k2")

    async def body(hub: HubComponent, url: str) -> None:
        await asyncio.to_thread(check, k1, url)
        await until(
            "the hub's download", lambda: hub.mirror is not None and bool(hub.mirror.fetched)
        )
        path = cafe.mirror_dir / NAME11
        data = bytearray(path.read_bytes())
        data[-100] ^= 1  # a rogue hub PC, or a bad disk
        path.write_bytes(bytes(data))
        got, answer = await asyncio.to_thread(check, k2, url)
        assert (got.result, got.version) == ("staged", V11)  # from the regional server
        assert answer.hub_refusals == [("release", "bad_signature")]
        assert not list((k2.config.state_dir / "release" / "download").glob("*.part"))

    with_hub(cafe, body)


def test_a_hub_replaying_an_older_release_is_refused_as_a_rollback(
    cafe: Cafe, rogue: tuple[Path, str]
) -> None:
    root, url = rogue
    cafe.region.publish("1.1.0")
    cafe.region.publish("1.2.0")
    served = root / "hub" / "v1" / "feeds" / cafe.key
    served.mkdir(parents=True)
    shutil.copy(cafe.region.feeds / "manifest.json", served / "manifest.json")
    # The older, genuinely signed release under the newer one's name.
    shutil.copy(cafe.region.feeds / NAME11, served / NAME12)
    got, answer = check(cafe.kiosk("k"), url)
    assert answer.hub_refusals == [("release", "rollback")]
    assert (got.result, got.version) == ("staged", V12)  # from the regional server


def test_a_hub_that_cannot_serve_it_sends_the_kiosk_to_the_server(
    cafe: Cafe, rogue: tuple[Path, str]
) -> None:
    _root, url = rogue  # serves nothing at all: 404 for the manifest and the file
    cafe.region.publish("1.1.0")
    got, answer = check(cafe.kiosk("k"), url)
    assert (got.result, got.version) == ("staged", V11)
    assert answer.hub_refusals == []


def test_the_hub_refuses_a_bad_file_from_upstream_and_kiosks_go_direct(cafe: Cafe) -> None:
    cafe.region.publish("1.1.0")
    path = cafe.region.feeds / NAME11
    data = bytearray(path.read_bytes())
    data[-100] ^= 1
    path.write_bytes(bytes(data))
    k = cafe.kiosk("k")

    async def body(hub: HubComponent, url: str) -> None:
        assert hub.mirror is not None
        got, _ = await asyncio.to_thread(check, k, url)
        assert got.reason == "hub_fetching"
        await until(
            "the hub's refusal", lambda: hub.mirror is not None and bool(hub.mirror.refused)
        )
        assert not (cafe.mirror_dir / NAME11).exists()
        assert not list(cafe.mirror_dir.glob(".*.part"))
        assert hub.status()["mirror"]["releases"]["refused"] == [NAME11]
        # The hub answers 502 now: the kiosk reads the server itself at once (and refuses
        # the same bad file there, counted as any refusal).
        got, answer = await asyncio.to_thread(check, k, url)
        assert (got.result, got.reason) == ("rejected", "bad_signature")
        assert answer.hub_refusals == []

    with_hub(cafe, body)


def test_a_busy_link_holds_the_hub_and_the_kiosk_waits_a_bounded_time(
    cafe: Cafe, monkeypatch: pytest.MonkeyPatch
) -> None:
    cafe.region.publish("1.1.0")
    k = cafe.kiosk("k")
    every = k.config.updates.check_every

    async def body(hub: HubComponent, url: str) -> None:
        assert hub.mirror is not None
        monkeypatch.setattr(hub, "release_gate", lambda: (False, "link_busy"))
        got, _ = await asyncio.to_thread(check, k, url)
        assert got.reason == "hub_fetching"
        await until(
            "the deferred round",
            lambda: hub.mirror is not None and bool(hub.mirror.release_deferred),
        )
        assert hub.mirror.release_deferred == "link_busy" and hub.mirror.fetched == []
        got, _ = await asyncio.to_thread(check, k, url, NOW + every)
        assert got.reason == "hub_fetching"
        # Past the bound since its first wait, the kiosk downloads it itself.
        got, _ = await asyncio.to_thread(check, k, url, NOW + check_mod.HUB_RELEASE_WAIT * every)
        assert (got.result, got.version) == ("staged", V11)
        assert hub.mirror.fetched == []

    with_hub(cafe, body)


def test_hub_wait_bound() -> None:
    assert not check_mod.hub_wait_over(100.0, 100.0 + 2 * 3600 - 1, 3600)
    assert check_mod.hub_wait_over(100.0, 100.0 + 2 * 3600, 3600)


def _http(address: tuple[str, int], method: str, path: str, **headers: str) -> Any:
    conn = http.client.HTTPConnection(address[0], address[1], timeout=10)
    conn.request(method, path, headers=headers)
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    return answer.status, {k.lower(): v for k, v in answer.getheaders()}, body


def test_the_hub_serves_releases_with_ranges(cafe: Cafe) -> None:
    cafe.region.publish("1.1.0")
    whole = (cafe.region.feeds / NAME11).read_bytes()
    size = len(whole)
    k = cafe.kiosk("k")

    async def body(hub: HubComponent, url: str) -> None:
        assert hub.address is not None
        await asyncio.to_thread(check, k, url)
        await until(
            "the hub's download", lambda: hub.mirror is not None and bool(hub.mirror.fetched)
        )
        path = f"/hub/v1/feeds/{cafe.key}/{NAME11}"
        addr = ("127.0.0.1", hub.address[1])

        def requests_() -> None:
            status, h, data = _http(addr, "GET", path)
            assert (status, data, h["accept-ranges"]) == (200, whole, "bytes")
            etag = h["etag"]
            status, h, data = _http(addr, "GET", path, Range="bytes=1000-")
            assert status == 206 and data == whole[1000:]
            assert h["content-range"] == f"bytes 1000-{size - 1}/{size}"
            assert int(h["content-length"]) == size - 1000
            status, h, data = _http(addr, "GET", path, Range="bytes=10-19", **{"If-Range": etag})
            assert (status, data) == (206, whole[10:20])
            status, h, data = _http(addr, "GET", path, Range="bytes=10-", **{"If-Range": '"x"'})
            assert (status, data) == (200, whole)
            status, h, data = _http(addr, "GET", path, Range=f"bytes={size}-")
            assert (status, data, h["content-range"]) == (416, b"", f"bytes */{size}")
            status, h, data = _http(addr, "HEAD", path)
            assert (status, data, int(h["content-length"])) == (200, b"", size)
            status, h, _ = _http(addr, "GET", path, **{"If-None-Match": etag})
            assert status == 304
            # A file of another release than the manifest offers: not served.
            status, _, _ = _http(addr, "GET", f"/hub/v1/feeds/{cafe.key}/release-1.signed")
            assert status == 404

        await asyncio.to_thread(requests_)

    with_hub(cafe, body)


def _range_server(data: bytes) -> tuple[http.server.ThreadingHTTPServer, list[dict[str, Any]]]:
    """A regional server stand-in that honours ``Range`` and records what it sent."""
    seen: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            a = plan_range(self.headers.get("Range"), None, '"e"', len(data))
            self.send_response(a.status)
            if a.content_range(len(data)):
                self.send_header("Content-Range", str(a.content_range(len(data))))
            self.send_header("Content-Length", str(a.length))
            self.end_headers()
            body = data[a.start : a.end + 1] if a.status != 416 else b""
            seen.append({"range": self.headers.get("Range"), "sent": len(body)})
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, seen


def test_a_download_cut_by_a_power_cut_resumes_and_is_never_served_half(cafe: Cafe) -> None:
    cafe.region.publish("1.1.0")
    whole = (cafe.region.feeds / NAME11).read_bytes()
    cafe.mirror_dir.mkdir(parents=True)
    shutil.copy(cafe.region.feeds / "manifest.json", cafe.mirror_dir / "manifest.json")
    # What a power cut left: the first half, under the partial name.
    part = cafe.mirror_dir / f".{NAME11}.part"
    part.write_bytes(whole[: len(whole) // 2])

    async def never(params: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("no fetch while a kiosk asks")

    m = Mirror({cafe.key: MirroredDir(cafe.url, "release", (PUB,))}, cafe.tmp / "hub-state", never)
    served = asyncio.run(m.get(cafe.key, NAME11))
    assert served.status == 503 and served.path is None  # never the half file
    httpd, seen = _range_server(whole)
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/{NAME11}"
        result = mirror_mod.fetch_release(
            cafe.hub_config, url, cafe.mirror_dir / NAME11, (PUB,), 60.0
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result == {"result": "fetched", "bytes": len(whole)}
    assert seen == [{"range": f"bytes={len(whole) // 2}-", "sent": len(whole) - len(whole) // 2}]
    assert (cafe.mirror_dir / NAME11).read_bytes() == whole and not part.exists()


def test_the_hub_resumes_a_partial_release_at_its_next_round(cafe: Cafe) -> None:
    """A partial download left by a power cut is a release kiosks wanted: the first
    round after a restart takes it up without a kiosk asking again."""
    cafe.region.publish("1.1.0")
    cafe.mirror_dir.mkdir(parents=True)
    shutil.copy(cafe.region.feeds / "manifest.json", cafe.mirror_dir / "manifest.json")
    (cafe.mirror_dir / f".{NAME11}.part").write_bytes(b"x" * 10)  # file:// starts again
    calls: list[dict[str, Any]] = []

    async def fetch(params: dict[str, Any]) -> dict[str, Any]:
        calls.append(params)
        return mirror_mod.mirror_fetch(cafe.hub_config, params)

    m = Mirror({cafe.key: MirroredDir(cafe.url, "release", (PUB,))}, cafe.tmp / "hub-state", fetch)
    asyncio.run(m.release_round(lambda: (True, "link_has_room")))
    assert [c["dest"] for c in calls] == [str(cafe.mirror_dir / NAME11)]
    assert m.fetched == [NAME11]
    assert asyncio.run(m.get(cafe.key, NAME11)).status == 200


def test_only_the_latest_and_stable_releases_are_kept(cafe: Cafe) -> None:
    for v in ("1.1.0", "1.2.0"):
        cafe.region.publish(v)
    cafe.region.publish("1.3.0", percent=10)  # staged: 1.2.0 stays stable
    v13 = release.version_number("1.3.0")
    d = cafe.mirror_dir
    d.mkdir(parents=True)
    shutil.copy(cafe.region.feeds / "manifest.json", d / "manifest.json")
    assert release_keep(d) == {NAME12, f"release-{v13}.signed"}
    for name in (NAME11, NAME12, f".{NAME11}.part", f".release-{v13}.signed.part"):
        (d / name).write_bytes(b"x")
    mirror_mod._prune(d, "release")
    assert sorted(p.name for p in d.iterdir()) == sorted(
        ["manifest.json", NAME12, f".release-{v13}.signed.part"]
    )
    m = signed_dir.read_manifest(d)
    assert m is not None and m.rollout is not None and m.rollout.stable == V12


def test_the_release_gate_is_the_kiosks_link_rule() -> None:
    from datetime import time as dtime

    from kiosk_agent.hub.gates import release_gate

    night = ("22:00", "06:00")
    assert release_gate(
        utilization=0.2, max_utilization=0.5, local_time=dtime(23), offpeak=night
    ) == (True, "link_has_room")
    assert release_gate(
        utilization=0.2, max_utilization=0.5, local_time=dtime(12), offpeak=night
    ) == (False, "outside_offpeak")
    assert release_gate(
        utilization=0.9, max_utilization=0.5, local_time=dtime(12), offpeak=None
    ) == (False, "link_busy")
    assert release_gate(
        utilization=None, max_utilization=0.5, local_time=dtime(12), offpeak=None
    ) == (True, "no_reading")


def _padded_program(size: int) -> bytes:
    """A one-file program ``install_release`` lays out, with ``size`` random bytes in it."""
    import os
    import zlib

    from kiosk_agent.installer.carchive import Entry, build_archive
    from tests.installer.fakes import FAKE_BOOTLOADER, FAKE_LAUNCHER

    padding = os.urandom(size)
    launcher = zlib.compress(FAKE_LAUNCHER)
    pkg = build_archive(
        [
            Entry("kiosk-agent-launcher/kiosk-agent", "x", launcher, len(FAKE_LAUNCHER), True),
            Entry("libpadding.so", "b", padding, size, False),
            Entry("pyi-contents-directory _internal", "o", b"", 0, False),
        ],
        311,
        b"libpython3.11.so.1.0",
    )
    return FAKE_BOOTLOADER + pkg


def test_a_download_cut_on_the_lan_resumes_from_the_hub(cafe: Cafe) -> None:
    # Large enough that the first try writes some chunks before the cut.
    cafe.region.publish("1.1.0", program=_padded_program(1 << 20))
    whole = (cafe.region.feeds / NAME11).read_bytes()
    manifest = (cafe.region.feeds / "manifest.json").read_bytes()
    base = f"/hub/v1/feeds/{cafe.key}/"
    seen: list[str | None] = []

    class Hub(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == base + "manifest.json":
                self.send_response(200)
                self.send_header("Content-Length", str(len(manifest)))
                self.end_headers()
                self.wfile.write(manifest)
                return
            seen.append(self.headers.get("Range"))
            a = plan_range(self.headers.get("Range"), None, '"e"', len(whole))
            self.send_response(a.status)
            if a.content_range(len(whole)):
                self.send_header("Content-Range", str(a.content_range(len(whole))))
            self.send_header("Content-Length", str(a.length))
            self.end_headers()
            body = whole[a.start : a.end + 1]
            if len(seen) == 1:  # the LAN drops half-way through the first try
                body = body[: len(body) // 2]
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        k = cafe.kiosk("k")
        (cafe.region.feeds / NAME11).unlink()  # only the hub has it
        got, _ = check(k, url)
        assert (got.result, got.reason) == ("deferred", "download_paused")
        got, answer = check(k, url)
        assert (got.result, got.version) == ("staged", V11) and answer.hub_refusals == []
        assert seen[0] is None and seen[1] is not None and seen[1].startswith("bytes=")
        assert seen[1] != "bytes=0-"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_junk_manifest_from_the_hub_is_counted_and_the_servers_read(
    cafe: Cafe, rogue: tuple[Path, str]
) -> None:
    root, url = rogue
    cafe.region.publish("1.1.0")
    served = root / "hub" / "v1" / "feeds" / cafe.key
    served.mkdir(parents=True)
    (served / "manifest.json").write_text('{"kind": "release", "latest": "lots"}')
    (served / NAME11).write_bytes(b"never asked for: the hub's manifest was refused")
    got, answer = check(cafe.kiosk("k"), url)
    assert answer.hub_refusals == [("release", "bad_manifest")]
    assert (got.result, got.version) == ("staged", V11)  # manifest and program from the server


def test_a_damaged_partial_file_is_downloaded_again_not_refused(cafe: Cafe) -> None:
    """A power cut can leave bad bytes at the end of the partial file: the verification
    refuses the resumed file, and the hub starts again instead of refusing the release."""
    cafe.region.publish("1.1.0")
    whole = (cafe.region.feeds / NAME11).read_bytes()
    cafe.mirror_dir.mkdir(parents=True)
    part = cafe.mirror_dir / f".{NAME11}.part"
    part.write_bytes(whole[:100] + b"\0" * 100)  # the tail the disk never got
    httpd, seen = _range_server(whole)
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/{NAME11}"
        target = cafe.mirror_dir / NAME11
        first = mirror_mod.fetch_release(cafe.hub_config, url, target, (PUB,), 60.0)
        assert first["result"] == "failed" and not part.exists() and not target.exists()
        second = mirror_mod.fetch_release(cafe.hub_config, url, target, (PUB,), 60.0)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert second == {"result": "fetched", "bytes": len(whole)}
    assert [s["range"] for s in seen] == ["bytes=200-", None]
    assert target.read_bytes() == whole


def test_a_damaged_partial_from_the_hub_is_fetched_whole_before_the_hub_is_blamed(
    cafe: Cafe,
) -> None:
    cafe.region.publish("1.1.0")
    whole = (cafe.region.feeds / NAME11).read_bytes()
    served: dict[str, bytes] = {
        f"/hub/v1/feeds/{cafe.key}/manifest.json": (
            cafe.region.feeds / "manifest.json"
        ).read_bytes(),
        f"/hub/v1/feeds/{cafe.key}/{NAME11}": whole,
    }
    seen: list[str | None] = []

    class Hub(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = served[self.path]
            if self.path.endswith(".signed"):
                seen.append(self.headers.get("Range"))
            a = plan_range(self.headers.get("Range"), None, '"e"', len(data))
            self.send_response(a.status)
            if a.content_range(len(data)):
                self.send_header("Content-Range", str(a.content_range(len(data))))
            self.send_header("Content-Length", str(a.length))
            self.end_headers()
            self.wfile.write(data[a.start : a.end + 1])

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        k = cafe.kiosk("k")
        part = k.config.state_dir / "release" / "download" / f"{NAME11}.hub.part"
        part.parent.mkdir(parents=True)
        part.write_bytes(whole[:100] + b"\0" * 100)  # what a power cut left on this PC
        (cafe.region.feeds / NAME11).unlink()  # only the hub has it
        got, answer = check(k, url)
        assert (got.result, got.reason) == ("deferred", "download_again")
        assert answer.hub_refusals == [] and not part.exists()
        got, answer = check(k, url)
        assert (got.result, got.version) == ("staged", V11) and answer.hub_refusals == []
        assert seen == ["bytes=200-", None]
    finally:
        httpd.shutdown()
        httpd.server_close()
