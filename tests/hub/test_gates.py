"""The café link's gates: feed checks wait for a busy link only while the list is recent
(protection first), and the hub's relay rounds are charged to its daily budget."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.contracts import manifest
from kiosk_agent.hub.gates import (
    FEED_WAIT_BOUND,
    busy_retry,
    feed_gate,
    last_current,
    relay_estimate,
    relay_spent,
    spent_today,
)
from kiosk_agent.hub.roles import feed_key
from kiosk_agent.hub.server import HubComponent
from kiosk_agent.reporting.events import FeedRejected
from kiosk_agent.reporting.uploader import (
    CONNECTION_OVERHEAD_BYTES,
    REQUEST_OVERHEAD_BYTES,
    LinkReading,
)
from kiosk_agent.service.context import ServiceContext
from tests.filter.test_updater import delta, entries, full
from tests.hub.test_loopback import Kiosk, hub_config, hub_setup

__all__ = ["hub_setup"]  # the fixture, used by name

EVERY = 6 * 3600.0
NOW = 1_000_000.0


def _gate(**kw: object) -> tuple[bool, str]:
    args: dict[str, object] = {
        "now": NOW,
        "utilization": 0.9,
        "max_utilization": 0.3,
        "has_list": True,
        "last_current": NOW - 60,
        "update_every": EVERY,
    }
    args.update(kw)
    gate = feed_gate(**args)  # type: ignore[arg-type]
    return gate.go, gate.reason


def test_a_recent_list_waits_for_a_busy_link() -> None:
    assert _gate() == (False, "link_busy")
    assert _gate(utilization=0.3) == (True, "link_has_room")
    assert _gate(utilization=None) == (True, "no_reading")


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"operator": True}, "operator"),
        ({"has_list": False}, "no_list"),
        ({"last_current": None}, "list_too_old"),
        ({"last_current": NOW - FEED_WAIT_BOUND * EVERY}, "list_too_old"),
    ],
)
def test_protection_first_goes_on_a_busy_link(kw: dict[str, object], reason: str) -> None:
    assert _gate(**kw) == (True, reason)


@given(
    st.floats(0, 1),
    st.floats(0.01, 1),
    st.booleans(),
    st.one_of(st.none(), st.floats(0, NOW)),
    st.floats(60, 30 * 86400),
)
def test_a_wait_is_bounded(
    util: float, max_util: float, has_list: bool, current: float | None, every: float
) -> None:
    """Whatever the link does, a check waits only for a list younger than the bound."""
    gate = feed_gate(
        now=NOW,
        utilization=util,
        max_utilization=max_util,
        has_list=has_list,
        last_current=current,
        update_every=every,
    )
    if not gate.go:
        assert has_list and current is not None
        assert NOW - current < FEED_WAIT_BOUND * every and util > max_util
    assert 0 < busy_retry(every) <= every / 4


def test_last_current() -> None:
    assert last_current(None, None, None) is None
    assert last_current(10.0, 50.0, "up_to_date") == 50.0
    assert last_current(10.0, 50.0, "unreachable") == 10.0
    assert last_current(None, 50.0, "rejected") is None


def test_relay_budget_arithmetic() -> None:
    assert relay_estimate(900, 1) == 900 + REQUEST_OVERHEAD_BYTES + CONNECTION_OVERHEAD_BYTES
    assert relay_spent(700, 2, 1) == 700 + 2 * REQUEST_OVERHEAD_BYTES + CONNECTION_OVERHEAD_BYTES
    assert spent_today({"day": "2026-12-03", "bytes": 5000}, "2026-12-03") == 5000
    assert spent_today({"day": "2026-12-02", "bytes": 5000}, "2026-12-03") == 0
    assert spent_today({"day": "2026-12-03", "bytes": "x"}, "2026-12-03") == 0
    assert spent_today(None, "2026-12-03") == 0


BUSY = LinkReading(rx_rate=900.0, tx_rate=0.0, rx_capacity=1000.0, tx_capacity=1000.0)
IDLE = LinkReading(rx_rate=10.0, tx_rate=0.0, rx_capacity=1000.0, tx_capacity=1000.0)


def test_updater_waits_for_the_cafe_link(
    tmp_path: Path, hub_setup: tuple[Path, Ed25519PrivateKey, str]
) -> None:
    """A first install checks on a busy link; a later scheduled check waits for room; an
    operator's "update now" (no gate) goes anyway."""
    feed_dir, priv, pub = hub_setup
    url = feed_dir.as_uri()

    async def run() -> None:
        kiosk = Kiosk(tmp_path, "k", url, pub, None)
        kiosk.client.cafe_link = BUSY  # type: ignore[attr-defined]
        await kiosk.start()
        [first] = await kiosk.updater.update_all(link_gate=True)
        assert first.result == "applied"  # no list yet: protection first
        v1, v2 = entries("blocked.test"), entries("b.test")
        manifest.publish(feed_dir, [full(priv, v2, 2), delta(priv, v1, v2, 1, 2)])
        assert await kiosk.updater.update_all(link_gate=True) == []
        assert kiosk.updater.waiting_for_link == [url] and kiosk.version() == 1
        assert kiosk.updater.status()["link_deferrals"] == 1
        kiosk.client.cafe_link = IDLE  # type: ignore[attr-defined]
        [later] = await kiosk.updater.update_all(link_gate=True)
        assert later.result == "applied" and kiosk.version() == 2
        kiosk.client.cafe_link = BUSY  # type: ignore[attr-defined]
        v3 = entries("c.test")
        manifest.publish(feed_dir, [full(priv, v3, 3), delta(priv, v2, v3, 2, 3)])
        [now] = await kiosk.updater.update_all()  # the operator's check
        assert now.result == "applied" and kiosk.version() == 3

    asyncio.run(run())


def _age(kiosk: Kiosk, url: str) -> None:
    """Make the kiosk's list older than the withholding bound."""
    state = kiosk.updater.states[url]
    old = time.time() - 3 * kiosk.updater.config.filter.update_every
    state.applied_at = state.direct_at = state.first_seen = old


def test_past_the_bound_the_manifest_from_the_server_the_bundle_from_the_hub(
    tmp_path: Path, hub_setup: tuple[Path, Ed25519PrivateKey, str]
) -> None:
    feed_dir, priv, pub = hub_setup
    url = feed_dir.as_uri()

    async def run() -> None:
        hub = HubComponent(ServiceContext(hub_config(tmp_path, url, pub)))
        await hub.start()
        assert hub.address is not None and hub.mirror is not None
        kiosk = Kiosk(tmp_path, "k", url, pub, f"http://127.0.0.1:{hub.address[1]}")
        try:
            await kiosk.start()
            assert await kiosk.update() == "applied"
            v1, v2 = entries("blocked.test"), entries("b.test")
            manifest.publish(feed_dir, [full(priv, v2, 2), delta(priv, v1, v2, 1, 2)])
            _age(kiosk, url)
            assert await kiosk.update() == "applied" and kiosk.version() == 2
            state = kiosk.updater.states[url]
            assert state.direct_at is not None and state.direct_at > time.time() - 60
            assert hub.mirror.fetched == ["full-1.bundle", "delta-1-2.bundle"]
            # a hub that hands an older bundle under the new name is refused and counted;
            # the server's copy is applied
            v3 = entries("c.test")
            manifest.publish(feed_dir, [full(priv, v3, 3), delta(priv, v2, v3, 2, 3)])
            mirrored = hub.mirror.root / feed_key(url)
            (mirrored / "delta-2-3.bundle").write_bytes(
                (mirrored / "delta-1-2.bundle").read_bytes()
            )
            _age(kiosk, url)
            assert await kiosk.update() == "applied" and kiosk.version() == 3
            assert [e.reason for e in kiosk.events if isinstance(e, FeedRejected)] == ["rollback"]
        finally:
            await hub.stop()

    asyncio.run(run())
