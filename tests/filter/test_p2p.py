"""P2P sightings: name matching, once per session per kind, and a real process seen."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.config import P2PConfig
from kiosk_agent.filter.p2p import (
    ClientMatcher,
    P2PSampler,
    SessionSightings,
    TrackerMatcher,
    families_in,
    normalize_process_name,
    running_process_names,
)
from kiosk_agent.reporting.events import Event, EventBus, P2PSeen, SessionStarted


def collect(bus: EventBus) -> list[Event]:
    events: list[Event] = []
    bus.subscribe(events.append)
    return events


def test_process_names() -> None:
    m = ClientMatcher(extra=["MyShare.exe"])
    assert normalize_process_name(" uTorrent.EXE ") == "utorrent"
    assert m.family("uTorrent.exe") == "bittorrent"
    assert m.family("qbittorrent") == "bittorrent"
    assert m.family("emule.exe") == "ed2k"
    assert m.family("Shareaza.exe") == "gnutella"
    assert m.family("transmission-da") == "bittorrent"  # Linux comm, cut to 15 bytes
    assert m.family("myshare") == "other"
    for harmless in ("python3", "chrome.exe", "torrent", "bash", "transmission-xyz"):
        assert m.family(harmless) is None, harmless
    assert families_in(["bash", "emule.exe", "Tixati.exe", "deluged"], m) == {"bittorrent", "ed2k"}


def test_tracker_names() -> None:
    m = TrackerMatcher(extra=["tracker.example."])
    assert m.matches("router.bittorrent.com")
    assert m.matches("ROUTER.utorrent.com.")
    assert m.matches("a.b.dht.transmissionbt.com")
    assert m.matches("tracker.example")
    assert not m.matches("bittorrent.com")
    assert not m.matches("notrouter.bittorrent.com")
    assert not m.matches("router.bittorrent.com.evil.example")
    assert not m.matches("example")
    assert not m.matches("")


def _walk_reference(hosts: frozenset[str], name: str) -> bool:
    """The matcher's rule spelled out: the name or a parent of at least two labels."""
    labels = name.rstrip(".").lower().split(".")
    return any(".".join(labels[i:]) in hosts for i in range(len(labels) - 1))


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(st.from_regex(r"[a-c]{1,2}(\.[a-c]{1,2}){0,2}", fullmatch=True), max_size=4),
    st.from_regex(r"[a-cA-C]{0,2}(\.[a-cA-C]{1,2}){0,4}\.?", fullmatch=True),
)
def test_tracker_matcher_agrees_with_the_label_walk(extra: list[str], name: str) -> None:
    m = TrackerMatcher(hosts=(), extra=extra)
    assert m.matches(name) == _walk_reference(m.hosts, name)


def test_once_per_session_per_kind() -> None:
    bus = EventBus()
    events = collect(bus)
    sightings = SessionSightings(bus)
    assert sightings.seen("bittorrent")
    assert not sightings.seen("bittorrent")
    assert sightings.seen("ed2k")
    bus.publish(SessionStarted("login"))
    assert sightings.seen("bittorrent")
    assert [e for e in events if isinstance(e, P2PSeen)] == [
        P2PSeen("bittorrent"),
        P2PSeen("ed2k"),
        P2PSeen("bittorrent"),
    ]
    assert sightings.total == {"bittorrent": 3, "ed2k": 1}
    sightings.close()
    bus.publish(SessionStarted("login"))
    assert not sightings.seen("bittorrent")  # no longer subscribed: no reset


@pytest.fixture
def fake_client(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A harmless process whose name is a BitTorrent client's: ``sleep`` copied as qbittorrent."""
    sleep = shutil.which("sleep")
    assert sleep is not None
    exe = tmp_path / "qbittorrent"
    shutil.copy(sleep, exe)
    proc = subprocess.Popen([str(exe), "60"])
    deadline = time.monotonic() + 5
    while "qbittorrent" not in running_process_names() and time.monotonic() < deadline:
        time.sleep(0.02)
    yield proc
    proc.kill()
    proc.wait()


def test_a_running_client_is_seen_once_per_session(
    fake_client: subprocess.Popen[bytes],
) -> None:
    bus = EventBus()
    events = collect(bus)
    sampler = P2PSampler(P2PConfig(), bus)
    assert sampler.sample_once() == {"bittorrent"}
    assert sampler.sample_once() == {"bittorrent"}
    assert events == [P2PSeen("bittorrent")]
    bus.publish(SessionStarted("idle_reset"))
    sampler.sample_once()
    assert events[1:] == [SessionStarted("idle_reset"), P2PSeen("bittorrent")]
    fake_client.kill()
    fake_client.wait()
    bus.publish(SessionStarted("login"))
    assert sampler.sample_once() == set()
    assert events[-1] == SessionStarted("login")
    assert sampler.status()["samples"] == 4


def test_configured_process_names(tmp_path: Path) -> None:
    bus = EventBus()
    events = collect(bus)
    sampler = P2PSampler(
        P2PConfig(processes=("sharetool",)), bus, process_names=lambda: ["init", "ShareTool.exe"]
    )
    assert sampler.sample_once() == {"other"}
    assert events == [P2PSeen("other")]


def test_the_component_samples_periodically_and_survives_failures() -> None:
    calls: list[int] = []

    def names() -> list[str]:
        calls.append(1)
        if len(calls) == 2:
            raise PermissionError("access denied")
        return ["emule.exe"]

    async def main() -> None:
        bus = EventBus()
        events = collect(bus)
        sampler = P2PSampler(P2PConfig(sample_every=0.02), bus, process_names=names)
        await sampler.start()
        await asyncio.sleep(0.3)
        await sampler.stop()
        assert len(calls) >= 4  # went on after the failed sample
        assert events == [P2PSeen("ed2k")]
        assert sampler.status()["sightings"] == {"ed2k": len(calls) - 1}

    asyncio.run(main())
