"""The feed updater against feed directories on disk and over HTTP on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk_agent.config import Config, FeedConfig, FilterConfig, load_config
from kiosk_agent.contracts import feed, manifest
from kiosk_agent.filter.sources import entries_from_sources, read_source
from kiosk_agent.filter.updater import STATE_FILE, FeedUpdater, load_state
from kiosk_agent.reporting.events import Event, FeedRejected
from kiosk_agent.service.context import ServiceContext
from tests.filter.feed_helpers import CATS, LATER, NOW, keypair

LIST = "hotline"


def entries(*names: str) -> feed.FeedEntries:
    return entries_from_sources(CATS[:1], {CATS[0].id: read_source(names)})


def full(key: Ed25519PrivateKey, e: feed.FeedEntries, version: int) -> bytes:
    return feed.encode_full(
        e, key=key, issuer="Test", list_id=LIST, version=version, created=NOW, expires=LATER
    )


def delta(
    key: Ed25519PrivateKey, a: feed.FeedEntries, b: feed.FeedEntries, base: int, version: int
) -> bytes:
    return feed.encode_delta(
        a,
        b,
        key=key,
        issuer="Test",
        list_id=LIST,
        version=version,
        base_version=base,
        created=NOW,
        expires=LATER,
    )


class Kiosk:
    """An updater for one feed URL, driven step by step on its own event loop."""

    def __init__(self, tmp: Path, url: str, trust: str, now: float = NOW + 60) -> None:
        config = Config(
            state_dir=tmp / "state",
            filter=FilterConfig(feeds=(FeedConfig(url, (trust,)),), upstreams=("127.0.0.1:9",)),
        )
        self.ctx = ServiceContext(config)
        self.events: list[Event] = []
        self.ctx.bus.subscribe(self.events.append)
        self.updater = FeedUpdater(self.ctx, clock=lambda: now)
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.updater.start())
        # Driven step by step: stop the background checks, which would otherwise race the
        # test's own (start() checks at once when no list is applied yet).
        self.loop.run_until_complete(self.updater.stop())

    def update(self) -> str:
        outcome = self.loop.run_until_complete(self.updater.update_all())[0]
        return outcome.result + (f":{outcome.reason}" if outcome.reason else "")

    def blocked(self, host: str) -> str | None:
        holder = self.updater.current_index()
        return None if holder is None else holder.lookup_host(host)

    def close(self) -> None:
        self.loop.run_until_complete(self.updater.stop())
        self.loop.close()


@pytest.fixture
def key() -> tuple[Ed25519PrivateKey, str]:
    return keypair()


def test_full_then_delta_from_a_file_directory(
    tmp_path: Path, key: tuple[Ed25519PrivateKey, str]
) -> None:
    priv, pub = key
    feed_dir = tmp_path / "feed"
    v1, v2 = entries("blocked.test"), entries("other.test", "new.test")
    manifest.publish(feed_dir, [full(priv, v1, 1)])
    kiosk = Kiosk(tmp_path, feed_dir.as_uri(), pub)
    try:
        assert kiosk.blocked("x.blocked.test") is None
        assert kiosk.update() == "applied"
        assert kiosk.blocked("x.blocked.test") == "csam"
        assert kiosk.update() == "up_to_date"  # manifest unchanged (ETag)
        manifest.publish(feed_dir, [full(priv, v2, 2), delta(priv, v1, v2, 1, 2)])
        assert kiosk.update() == "applied"
        assert kiosk.blocked("x.blocked.test") is None
        assert kiosk.blocked("new.test") == "csam"
        status = kiosk.updater.status()
        assert status["index_entries"] == 2
        assert status["lists"] == [
            {"list_id": LIST, "version": 2, "entries": 2, "updated_at": pytest.approx(
                load_state(kiosk.ctx.state_dir)[feed_dir.as_uri()].applied_at)}
        ]  # fmt: skip
        assert kiosk.events == []
    finally:
        kiosk.close()
    # the state file never holds a name from the list
    text = (tmp_path / "state" / STATE_FILE).read_text()
    assert "new.test" not in text and '"version": 2' in text
    # a restart answers from the last good index before any network check
    again = Kiosk(tmp_path, feed_dir.as_uri(), pub)
    try:
        assert again.blocked("new.test") == "csam"
    finally:
        again.close()


def test_rejections_keep_the_last_good_list(
    tmp_path: Path, key: tuple[Ed25519PrivateKey, str]
) -> None:
    priv, pub = key
    stranger, _ = keypair()
    bundle = tmp_path / "list.bundle"
    bundle.write_bytes(full(priv, entries("blocked.test"), 5))
    kiosk = Kiosk(tmp_path, bundle.as_uri(), pub)
    try:
        assert kiosk.update() == "applied"
        assert kiosk.update() == "up_to_date"
        bundle.write_bytes(full(priv, entries("x.test"), 3))
        assert kiosk.update() == "rejected:rollback"
        bundle.write_bytes(full(stranger, entries("x.test"), 6))
        assert kiosk.update() == "rejected:untrusted_key"
        good = full(priv, entries("x.test"), 7)
        bundle.write_bytes(good[:-10])
        assert kiosk.update() in ("rejected:truncated", "rejected:bad_signature")
        bundle.unlink()
        assert kiosk.update() == "unreachable:unreachable"
        assert kiosk.blocked("blocked.test") == "csam"  # version 5 still in force
        reasons = [e.reason for e in kiosk.events if isinstance(e, FeedRejected)]
        assert reasons[:2] == ["rollback", "untrusted_key"] and reasons[-1] == "unreachable"
    finally:
        kiosk.close()


def test_expiry_uses_the_corrected_clock(
    tmp_path: Path, key: tuple[Ed25519PrivateKey, str]
) -> None:
    priv, pub = key
    bundle = tmp_path / "list.bundle"
    bundle.write_bytes(full(priv, entries("blocked.test"), 1))
    kiosk = Kiosk(tmp_path, bundle.as_uri(), pub, now=LATER + 1)
    try:
        assert kiosk.update() == "rejected:expired"
        assert kiosk.updater.current_index() is None
    finally:
        kiosk.close()


def test_bad_manifest_is_rejected(tmp_path: Path, key: tuple[Ed25519PrivateKey, str]) -> None:
    _, pub = key
    feed_dir = tmp_path / "feed"
    feed_dir.mkdir()
    (feed_dir / "manifest.json").write_text('{"list_id": "x", "latest": 1, "full": "../etc"}')
    kiosk = Kiosk(tmp_path, feed_dir.as_uri(), pub)
    try:
        assert kiosk.update() == "rejected:bad_manifest"
    finally:
        kiosk.close()


class EtagHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with strong ETags and 304s, like the regional server's /feeds."""

    requests: ClassVar[list[tuple[str, int]]] = []

    def do_GET(self) -> None:
        # Each request is recorded before its answer is sent: the client may check the
        # record as soon as it has the answer.
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.requests.append((self.path, 404))
            self.send_error(404)
            return
        data = path.read_bytes()
        tag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == tag:
            self.requests.append((self.path, 304))
            self.send_response(304)
            self.send_header("ETag", tag)
            self.end_headers()
            return
        self.requests.append((self.path, 200))
        self.send_response(200)
        self.send_header("ETag", tag)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_feed(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    (root / "feeds").mkdir(parents=True)
    EtagHandler.requests = []

    def handler(*args: object, **kw: object) -> EtagHandler:
        return EtagHandler(*args, directory=str(root), **kw)  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feeds/{LIST}", root / "feeds" / LIST
    finally:
        server.shutdown()
        server.server_close()


def test_over_http_with_etags(
    tmp_path: Path, key: tuple[Ed25519PrivateKey, str], http_feed: tuple[str, Path]
) -> None:
    priv, pub = key
    url, feed_dir = http_feed
    kiosk = Kiosk(tmp_path, url, pub)
    try:
        assert kiosk.update() == "unreachable:unreachable"  # nothing published yet: 404
        v1 = entries("blocked.test")
        manifest.publish(feed_dir, [full(priv, v1, 1)])
        assert kiosk.update() == "applied"
        assert kiosk.update() == "up_to_date"
        assert EtagHandler.requests[-1] == (f"/feeds/{LIST}/manifest.json", 304)
        v2 = entries("blocked.test", "more.test")
        manifest.publish(feed_dir, [full(priv, v2, 2), delta(priv, v1, v2, 1, 2)])
        assert kiosk.update() == "applied"
        assert (f"/feeds/{LIST}/delta-1-2.bundle", 200) in EtagHandler.requests
        assert kiosk.blocked("more.test") == "csam"
        assert not list((tmp_path / "state" / "downloads").glob("*"))  # temp files removed
    finally:
        kiosk.close()


def test_update_swapped_in_under_load_has_no_failed_queries(
    tmp_path: Path, key: tuple[Ed25519PrivateKey, str]
) -> None:
    import time

    import dns.rcode

    from tests.filter.resolver.helpers import ResolverThread, ScriptedUpstream, ask

    priv, pub = key
    feed_dir = tmp_path / "feed"
    names = [f"n{i}.blocked.test" for i in range(2000)]
    versions = [entries(*names[: 1000 + 100 * v], f"v{v}.test") for v in range(6)]
    manifest.publish(feed_dir, [full(priv, versions[0], 1)])
    kiosk = Kiosk(tmp_path, feed_dir.as_uri(), pub)
    upstream = ScriptedUpstream()
    upstream.start()
    try:
        assert kiosk.update() == "applied"
        with ResolverThread(FilterConfig(), [upstream.address], kiosk.updater.holder) as r:
            failures: list[str] = []
            answered = [0]
            stop = threading.Event()

            def client(n: int) -> None:
                i = n
                while not stop.is_set():
                    i += 7
                    try:
                        blocked = ask(r.address, names[i % 1000], timeout=2)
                        if blocked.rcode() != dns.rcode.NXDOMAIN:
                            failures.append(f"{names[i % 1000]} not blocked")
                        fine = ask(r.address, f"ok{i}.example.test", timeout=2)
                        if fine.rcode() != 0:
                            failures.append(f"rcode {fine.rcode()}")
                        answered[0] += 2
                    except Exception as e:
                        failures.append(repr(e))

            threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
            for t in threads:
                t.start()
            for v in range(1, 6):
                manifest.publish(
                    feed_dir,
                    [
                        full(priv, versions[v], v + 1),
                        delta(priv, versions[v - 1], versions[v], v, v + 1),
                    ],
                )
                assert kiosk.update() == "applied"
                time.sleep(0.05)
            stop.set()
            for t in threads:
                t.join()
            assert failures == []
            assert answered[0] > 50
            assert ask(r.address, "v5.test").rcode() == dns.rcode.NXDOMAIN
            assert ask(r.address, "v4.test").rcode() == 0  # removed by the last delta
    finally:
        upstream.stop()
        kiosk.close()


# -- the default path: each check in a worker process -----------------------------------


def _real_time_full(key: Ed25519PrivateKey, e: feed.FeedEntries, version: int) -> bytes:
    now = int(time.time())
    return feed.encode_full(
        e, key=key, issuer="Test", list_id=LIST, version=version, created=now, expires=now + 86400
    )


def _real_time_delta(
    key: Ed25519PrivateKey, a: feed.FeedEntries, b: feed.FeedEntries, base: int, version: int
) -> bytes:
    now = int(time.time())
    return feed.encode_delta(
        a,
        b,
        key=key,
        issuer="Test",
        list_id=LIST,
        version=version,
        base_version=base,
        created=now,
        expires=now + 86400,
    )


class WorkerKiosk(Kiosk):
    """An updater with a config read from a file and nothing injected: checks run in
    ``kiosk-agent worker feed-check`` processes, as in the service."""

    def __init__(self, tmp: Path, url: str, trust: str, timeout: float = 120) -> None:
        path = tmp / "agent.yaml"
        path.write_text(
            f"state_dir: {json.dumps(str(tmp / 'state'))}\n"
            "filter:\n"
            "  upstreams: ['127.0.0.1:9']\n"
            f"  feeds: [{{url: {json.dumps(url)}, trust: [{json.dumps(trust)}]}}]\n"
        )
        self.ctx = ServiceContext(load_config(path))
        self.events = []
        self.ctx.bus.subscribe(self.events.append)
        self.updater = FeedUpdater(self.ctx, check_timeout=timeout)
        assert self.updater.config_path == path.resolve()
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.updater.start())
        self.loop.run_until_complete(self.updater.stop())


def test_worker_applies_full_then_delta_and_refuses_a_stranger(
    tmp_path: Path, key: tuple[Ed25519PrivateKey, str]
) -> None:
    priv, pub = key
    stranger, _ = keypair()
    feed_dir = tmp_path / "feed"
    v1, v2 = entries("blocked.test"), entries("other.test", "new.test")
    manifest.publish(feed_dir, [_real_time_full(priv, v1, 1)])
    kiosk = WorkerKiosk(tmp_path, feed_dir.as_uri(), pub)
    try:
        assert kiosk.update() == "applied"
        assert kiosk.blocked("x.blocked.test") == "csam"
        assert kiosk.update() == "up_to_date"  # the worker's ETag was kept
        manifest.publish(
            feed_dir, [_real_time_full(priv, v2, 2), _real_time_delta(priv, v1, v2, 1, 2)]
        )
        assert kiosk.update() == "applied"
        assert kiosk.blocked("x.blocked.test") is None and kiosk.blocked("new.test") == "csam"
        manifest.publish(feed_dir, [_real_time_full(stranger, v1, 3)])
        assert kiosk.update() == "rejected:untrusted_key"
        assert kiosk.blocked("new.test") == "csam"  # version 2 stays
        assert [e.reason for e in kiosk.events if isinstance(e, FeedRejected)] == ["untrusted_key"]
        state = load_state(kiosk.ctx.state_dir)[feed_dir.as_uri()]
        assert (state.list_id, state.version) == (LIST, 2)
    finally:
        kiosk.close()


BAD_WORKERS = {
    "worker_crashed": "import sys; print('ERROR boom', file=sys.stderr); sys.exit(2)",
    "worker_bad_output": "print('not json')",
    "worker_timeout": "import time; time.sleep(30)",
}


@pytest.mark.parametrize("reason", sorted(BAD_WORKERS))
def test_a_failing_worker_keeps_the_last_good_list_and_the_next_check_retries(
    tmp_path: Path,
    key: tuple[Ed25519PrivateKey, str],
    monkeypatch: pytest.MonkeyPatch,
    reason: str,
) -> None:
    import sys

    from kiosk_agent.service import worker

    priv, pub = key
    feed_dir = tmp_path / "feed"
    v1, v2 = entries("blocked.test"), entries("blocked.test", "new.test")
    manifest.publish(feed_dir, [_real_time_full(priv, v1, 1)])
    kiosk = WorkerKiosk(tmp_path, feed_dir.as_uri(), pub, timeout=3)
    try:
        assert kiosk.update() == "applied"
        manifest.publish(
            feed_dir, [_real_time_full(priv, v2, 2), _real_time_delta(priv, v1, v2, 1, 2)]
        )
        real_argv = worker.worker_argv
        monkeypatch.setattr(
            worker, "worker_argv", lambda *a, **k: [sys.executable, "-c", BAD_WORKERS[reason]]
        )
        # A half-written index left by a killed worker is cleaned up.
        (tmp_path / "state" / "index" / f".{LIST}.idx.x.tmp").write_bytes(b"half")
        assert kiosk.update() == f"rejected:{reason}"
        assert kiosk.blocked("blocked.test") == "csam" and kiosk.blocked("new.test") is None
        assert [e.reason for e in kiosk.events if isinstance(e, FeedRejected)] == [reason]
        assert not list((tmp_path / "state" / "index").glob(".*.tmp"))
        monkeypatch.setattr(worker, "worker_argv", real_argv)
        assert kiosk.update() == "applied"  # the next check succeeds
        assert kiosk.blocked("new.test") == "csam"
    finally:
        kiosk.close()


def test_an_applied_answer_is_believed_only_if_the_index_on_disk_says_so(
    tmp_path: Path, key: tuple[Ed25519PrivateKey, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from kiosk_agent.filter import index
    from kiosk_agent.service import worker

    priv, pub = key
    feed_dir = tmp_path / "feed"
    v1, v2 = entries("blocked.test"), entries("blocked.test", "new.test")
    manifest.publish(feed_dir, [_real_time_full(priv, v1, 1)])
    kiosk = WorkerKiosk(tmp_path, feed_dir.as_uri(), pub)
    try:
        assert kiosk.update() == "applied"
        etag = load_state(kiosk.ctx.state_dir)[feed_dir.as_uri()].manifest_etag
        manifest.publish(
            feed_dir, [_real_time_full(priv, v2, 2), _real_time_delta(priv, v1, v2, 1, 2)]
        )
        claim = {
            "result": "applied",
            "list_id": LIST,
            "version": 2,  # but the file still holds version 1
            "index": str(index.index_path(kiosk.ctx.state_dir, LIST)),
            "manifest_etag": '"claimed"',
        }
        code = f"print({json.dumps(json.dumps(claim))})"
        real_argv = worker.worker_argv
        monkeypatch.setattr(worker, "worker_argv", lambda *a, **k: [sys.executable, "-c", code])
        assert kiosk.update() == "rejected:index_error"
        assert load_state(kiosk.ctx.state_dir)[feed_dir.as_uri()].manifest_etag == etag
        monkeypatch.setattr(worker, "worker_argv", real_argv)
        assert kiosk.update() == "applied" and kiosk.blocked("new.test") == "csam"
    finally:
        kiosk.close()


def _full_for(key: Ed25519PrivateKey, e: feed.FeedEntries, list_id: str, version: int) -> bytes:
    return feed.encode_full(
        e, key=key, issuer="Test", list_id=list_id, version=version, created=NOW, expires=LATER
    )


class TwoFeeds(Kiosk):
    """Feeds A and B, each with its own key (``lists`` as configured for each)."""

    def __init__(self, tmp: Path, feeds: tuple[FeedConfig, ...]) -> None:
        config = Config(
            state_dir=tmp / "state", filter=FilterConfig(feeds=feeds, upstreams=("127.0.0.1:9",))
        )
        self.ctx = ServiceContext(config)
        self.events = []
        self.ctx.bus.subscribe(self.events.append)
        self.updater = FeedUpdater(self.ctx, clock=lambda: NOW + 60)
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.updater.start())
        self.loop.run_until_complete(self.updater.stop())

    def update_each(self) -> list[str]:
        outcomes = self.loop.run_until_complete(self.updater.update_all())
        return [o.result + (f":{o.reason}" if o.reason else "") for o in outcomes]


@pytest.mark.parametrize("configured", [False, True])
def test_a_feed_cannot_rewrite_another_feeds_list(tmp_path: Path, configured: bool) -> None:
    """Issue 15: a bundle signed with hotline A's key, naming hotline-b version 4 with no
    entries, fetched through feed A, must not wipe hotline B's list."""
    key_a, pub_a = keypair()
    key_b, pub_b = keypair()
    dir_a, dir_b = tmp_path / "feed-a", tmp_path / "feed-b"
    manifest.publish(dir_a, [_full_for(key_a, entries("a.test"), "hotline-a", 1)])
    manifest.publish(dir_b, [_full_for(key_b, entries("b.test"), "hotline-b", 1)])
    lists_a, lists_b = (("hotline-a",), ("hotline-b",)) if configured else ((), ())
    kiosk = TwoFeeds(
        tmp_path,
        (
            FeedConfig(dir_a.as_uri(), (pub_a,), lists_a),
            FeedConfig(dir_b.as_uri(), (pub_b,), lists_b),
        ),
    )
    try:
        assert kiosk.update_each() == ["applied", "applied"]
        assert kiosk.blocked("b.test") == "csam" and kiosk.blocked("a.test") == "csam"
        shutil.rmtree(dir_a)  # feed A's server now serves a list named hotline-b
        manifest.publish(dir_a, [_full_for(key_a, entries(), "hotline-b", 4)])
        assert kiosk.update_each() == ["rejected:wrong_list", "up_to_date"]
        assert kiosk.blocked("b.test") == "csam"  # B's last good list stays
        # the same bundle named directly (a .bundle URL) is refused too
        bare = tmp_path / "b4.bundle"
        bare.write_bytes(_full_for(key_a, entries(), "hotline-b", 4))
        state = load_state(kiosk.ctx.state_dir)
        assert state[dir_a.as_uri()].list_id == "hotline-a"  # pinned at the first apply
    finally:
        kiosk.close()
    assert FeedRejected("wrong_list") in kiosk.events
    single = TwoFeeds(
        tmp_path / "single",
        (FeedConfig(bare.as_uri(), (pub_a,), ("hotline-a",)),),
    )
    try:
        assert single.update_each() == ["rejected:wrong_list"]
    finally:
        single.close()


def test_state_and_index_files_are_the_services_only(
    tmp_path: Path, key: tuple[Ed25519PrivateKey, str]
) -> None:
    priv, pub = key
    feed_dir = tmp_path / "feed"
    manifest.publish(feed_dir, [full(priv, entries("blocked.test"), 1)])
    kiosk = Kiosk(tmp_path, feed_dir.as_uri(), pub)
    try:
        assert kiosk.update() == "applied"
    finally:
        kiosk.close()
    state = tmp_path / "state"
    index_file = state / "index" / f"{LIST}.idx"
    for path, mode in (
        (index_file, 0o600),
        (state / STATE_FILE, 0o600),
        (index_file.parent, 0o700),
    ):
        assert path.stat().st_mode & 0o777 == mode, path
