"""The hub on loopback, in one process: shared feed downloads, a rogue hub refused, reports
relayed with the kiosk's own signature and acknowledged, and the fallbacks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk_agent.config import (
    CafeConfig,
    Config,
    FeedConfig,
    FilterConfig,
    HostPort,
    ReportingConfig,
)
from kiosk_agent.contracts import manifest
from kiosk_agent.filter.updater import FeedUpdater
from kiosk_agent.hub import mirror, roles
from kiosk_agent.hub.server import HubComponent
from kiosk_agent.reporting.component import Reporting
from kiosk_agent.reporting.events import Event, FeedRejected
from kiosk_agent.reporting.identity import enroll
from kiosk_agent.service.context import ServiceContext
from tests.filter.feed_helpers import NOW, keypair
from tests.filter.test_updater import delta, entries, full
from tests.reporting.report_server import ReportServer


class FakeClient:
    """Stands in for the kiosk's hub-client component: the hub it found."""

    name = "hub-client"

    def __init__(self, hub: str | None) -> None:
        self.hub = hub

    def current_hub(self) -> str | None:
        return self.hub

    async def wait_ready(self, timeout: float) -> None:
        return None


class Kiosk:
    def __init__(self, tmp: Path, name: str, url: str, trust: str, hub: str | None) -> None:
        config = Config(
            state_dir=tmp / name,
            filter=FilterConfig(feeds=(FeedConfig(url, (trust,)),), upstreams=("127.0.0.1:9",)),
        )
        self.ctx = ServiceContext(config)
        self.client = FakeClient(hub)
        self.ctx.components["hub-client"] = self.client  # type: ignore[assignment]
        self.events: list[Event] = []
        self.ctx.bus.subscribe(self.events.append)
        self.updater = FeedUpdater(self.ctx, clock=lambda: NOW + 60)

    async def start(self) -> None:
        await self.updater.start()
        await self.updater.stop()  # driven step by step

    async def update(self) -> str:
        outcome = (await self.updater.update_all())[0]
        return outcome.result + (f":{outcome.reason}" if outcome.reason else "")

    def version(self) -> int | None:
        return self.updater.versions().get("hotline")


@pytest.fixture
def hub_setup(tmp_path: Path) -> Iterator[tuple[Path, Ed25519PrivateKey, str]]:
    priv, pub = keypair()
    feed_dir = tmp_path / "region-feed"
    manifest.publish(feed_dir, [full(priv, entries("blocked.test"), 1)])
    yield feed_dir, priv, pub


def hub_config(tmp: Path, feed_url: str, pub: str, server: str | None = None) -> Config:
    return Config(
        state_dir=tmp / "hub",
        cafe=CafeConfig(hub="this", hub_listen=HostPort("127.0.0.1", 0)),
        filter=FilterConfig(feeds=(FeedConfig(feed_url, (pub,)),), upstreams=("127.0.0.1:9",)),
        reporting=ReportingConfig(server=server),
    )


def test_feeds_cross_once_and_kiosks_verify(
    tmp_path: Path, hub_setup: tuple[Path, Ed25519PrivateKey, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_dir, priv, pub = hub_setup
    url = feed_dir.as_uri()
    monkeypatch.setattr(mirror, "MANIFEST_FRESH", 0.0)  # every kiosk check asks upstream

    async def run() -> None:
        hub = HubComponent(ServiceContext(hub_config(tmp_path, url, pub)))
        await hub.start()
        assert hub.address is not None
        hub_url = f"http://127.0.0.1:{hub.address[1]}"
        kiosks = [Kiosk(tmp_path, f"k{i}", url, pub, hub_url) for i in range(4)]
        try:
            for k in kiosks:
                await k.start()
            results = await asyncio.gather(*(k.update() for k in kiosks))
            assert results == ["applied"] * 4
            assert [k.version() for k in kiosks] == [1] * 4
            v1, v2, v3 = entries("blocked.test"), entries("b.test"), entries("c.test")
            manifest.publish(feed_dir, [full(priv, v2, 2), delta(priv, v1, v2, 1, 2)])
            assert await asyncio.gather(*(k.update() for k in kiosks)) == ["applied"] * 4
            manifest.publish(feed_dir, [full(priv, v3, 3), delta(priv, v2, v3, 2, 3)])
            assert await asyncio.gather(*(k.update() for k in kiosks)) == ["applied"] * 4
            # each file crossed "the uplink" once, whatever the number of kiosks
            assert hub.mirror is not None
            assert hub.mirror.fetched == ["full-1.bundle", "delta-1-2.bundle", "delta-2-3.bundle"]
            for k in kiosks:
                assert k.version() == 3 and k.events == []
                state = k.updater.states[url]
                assert state.direct_at is None  # everything came through the hub
            # the hub silent: straight to the regional server
            await hub.stop()
            v4 = entries("d.test")
            manifest.publish(feed_dir, [full(priv, v4, 4), delta(priv, v3, v4, 3, 4)])
            assert await kiosks[0].update() == "applied"
            assert kiosks[0].updater.states[url].direct_at is not None
        finally:
            await hub.stop()

    asyncio.run(run())


@pytest.mark.parametrize("attack", ["replay", "other_key"])
def test_rogue_hub_is_refused_and_the_server_asked(
    tmp_path: Path,
    hub_setup: tuple[Path, Ed25519PrivateKey, str],
    rogue: tuple[Path, str],
    attack: str,
) -> None:
    feed_dir, priv, pub = hub_setup
    url = feed_dir.as_uri()
    root, rogue_url = rogue
    v1, v2, v3 = entries("blocked.test"), entries("b.test"), entries("c.test")
    manifest.publish(feed_dir, [full(priv, v2, 2), delta(priv, v1, v2, 1, 2)])

    async def run() -> None:
        k = Kiosk(tmp_path, "k", url, pub, None)
        await k.start()
        assert await k.update() == "applied" and k.version() == 2
        # the rogue answers for the café's hub: a newer-looking manifest whose bundle is an
        # old one (a replay) or one signed with another key
        served = root / "hub" / "v1" / "feeds" / roles.feed_key(url)
        if attack == "replay":
            manifest.publish(served, [full(priv, v1, 1)])
            (served / "full-1.bundle").rename(served / "full-9.bundle")
            (served / "manifest.json").write_text(
                manifest.manifest_bytes(manifest.Manifest("hotline", 9, "full-9.bundle")).decode()
            )
        else:
            other, _ = keypair()
            manifest.publish(served, [full(other, v3, 9)])
        manifest.publish(feed_dir, [full(priv, v3, 3), delta(priv, v2, v3, 2, 3)])
        k.client.hub = rogue_url
        assert await k.update() == "applied"
        assert k.version() == 3  # the right list, from the regional server
        reasons = [e.reason for e in k.events if isinstance(e, FeedRejected)]
        assert reasons == (["rollback"] if attack == "replay" else ["untrusted_key"])

    asyncio.run(run())


def _count(r: Reporting, n: int) -> None:
    day = int(r.clock.now() // 86400) * 86400 - 86400
    r.outbox.flush({(day, "sessions.login"): n}, 86400)
    r.cut(all_periods=True)


def test_reports_relayed_in_one_round_and_acknowledged(
    tmp_path: Path, hub_setup: tuple[Path, Ed25519PrivateKey, str]
) -> None:
    feed_dir, _, pub = hub_setup
    codes = {f"C{i}": ("KE-NBO", "KE") for i in range(3)}
    with ReportServer(codes) as server:

        async def run() -> None:
            hub = HubComponent(
                ServiceContext(hub_config(tmp_path, feed_dir.as_uri(), pub, server.url)),
                gather=3600,
            )
            await hub.start()
            assert hub.address is not None
            hub_url = f"http://127.0.0.1:{hub.address[1]}"
            kiosks = []
            try:
                for i in range(3):
                    config = Config(
                        state_dir=tmp_path / f"r{i}",
                        filter=FilterConfig(upstreams=("127.0.0.1:9",)),
                        reporting=ReportingConfig(server=server.url, upload_every=60),
                    )
                    r = Reporting(config)
                    with requests.Session() as s:
                        enroll(config.state_dir, server.url, f"C{i}", s, now=time.time())
                    r.hub = hub_url
                    _count(r, 10 + i)
                    kiosks.append(r)
                for r in kiosks:
                    result = await asyncio.to_thread(r.upload_with, None, operator=True)
                    assert result.sent == 0, result  # handed to the hub, not sent
                    assert r.outbox.report_count() == 1
                assert server.state.totals()["reports"] == 0
                forwarded = await hub.relay_round()
                assert forwarded["sent"] == 3 and forwarded["error"] is None
                totals = server.state.totals()
                assert totals["counts"] == {"sessions.login": 33} and totals["reports"] == 3
                # the acknowledgement comes back through the hub at the next round
                for r in kiosks:
                    await asyncio.to_thread(r.upload_with, None, operator=True)
                    assert r.outbox.report_count() == 0
                    assert (
                        r.outbox.totals()["sessions.login"][0]
                        == r.outbox.totals()["sessions.login"][1]
                    )
                # a report the hub holds while it goes silent is sent by the kiosk itself;
                # the server counts it once
                _count(kiosks[0], 5)
                await asyncio.to_thread(kiosks[0].upload_with, None, operator=True)
                assert kiosks[0].outbox.report_count() == 1
                await hub.relay_round()  # the hub forwarded it, but the answer is lost:
                await hub.stop()
                result = await asyncio.to_thread(kiosks[0].upload_with, None, operator=True)
                assert result.sent == 1 and result.duplicates == 1
                assert kiosks[0].outbox.report_count() == 0
                assert server.state.totals()["counts"] == {"sessions.login": 38}
            finally:
                await hub.stop()
                for r in kiosks:
                    r.close()

        asyncio.run(run())
