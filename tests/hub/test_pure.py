"""The hub's pure rules and parsers (roles, heartbeat, HTTP head, hand-off, config)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.config import ConfigError, config_from_mapping
from kiosk_agent.hub import http, relay, roles
from kiosk_agent.hub.discovery import parse_found
from kiosk_agent.hub.link import CafeLink
from kiosk_agent.hub.registry import HeartbeatError, Registry, parse_heartbeat

BEAT = {"pc": "a1", "name": "PC 1", "rx": 10, "tx": 5, "protected": True}


def test_config_hub_keys() -> None:
    c = config_from_mapping({})
    assert (c.cafe.hub, c.cafe.hub_console, str(c.cafe.hub_listen)) == (
        "auto",
        "loopback",
        "0.0.0.0:8055",
    )
    c = config_from_mapping({"cafe": {"hub": "http://192.0.2.10:8055/", "hub_console": "lan"}})
    assert c.cafe.hub == "http://192.0.2.10:8055" and c.cafe.hub_console == "lan"
    for bad in (
        {"hub": "https://192.0.2.1:1"},
        {"hub": "http://name.example:80"},
        {"hub": "yes"},
        {"hub_console": "wan"},
        {"hub_listen": "x"},
    ):
        with pytest.raises(ConfigError):
            config_from_mapping({"cafe": bad})


@given(st.text(max_size=40))
def test_hub_setting_parser_never_crashes(text: str) -> None:
    try:
        c = config_from_mapping({"cafe": {"hub": text}})
    except ConfigError:
        return
    assert c.cafe.hub in ("auto", "this", "off") or c.cafe.hub.startswith("http://")


def test_use_hub_for_feed_has_a_bound() -> None:
    every = 3600.0
    assert roles.use_hub_for_feed(
        now=0, first_seen=None, applied_at=None, direct_at=None, update_every=every
    )
    assert roles.use_hub_for_feed(
        now=7000, first_seen=0, applied_at=None, direct_at=None, update_every=every
    )
    # a withholding hub keeps a kiosk behind at most 2 x update_every
    assert not roles.use_hub_for_feed(
        now=7300, first_seen=0, applied_at=100, direct_at=None, update_every=every
    )
    assert roles.use_hub_for_feed(
        now=7300, first_seen=0, applied_at=100, direct_at=7000, update_every=every
    )


def test_report_route() -> None:
    r = roles.report_route
    assert r(now=0, handed_at=None, hub_answer=None, bound=100) == "hub"
    assert r(now=50, handed_at=0, hub_answer="held", bound=100) == "wait"
    assert r(now=150, handed_at=0, hub_answer="held", bound=100) == "direct"
    assert r(now=50, handed_at=0, hub_answer="stored", bound=100) == "done"
    assert r(now=500, handed_at=0, hub_answer="duplicate", bound=100) == "done"
    assert r(now=50, handed_at=0, hub_answer="expired", bound=100) == "hub"
    assert r(now=50, handed_at=0, hub_answer="rejected", bound=100) == "direct"
    assert r(now=50, handed_at=0, hub_answer=None, bound=100) == "hub"  # the hub lost it


def test_relay_due() -> None:
    due = roles.relay_due
    assert not due(now=10, oldest_received=None, oldest_signed=None, window=900)
    assert not due(now=10, oldest_received=0, oldest_signed=0, window=900, gather=60)
    assert due(now=61, oldest_received=0, oldest_signed=0, window=900, gather=60)
    # a signature close to the server's window goes at once
    assert due(now=10, oldest_received=5, oldest_signed=-800, window=900, gather=60)


def test_heartbeat_parse() -> None:
    b = parse_heartbeat({**BEAT, "lists": [{"list_id": "l", "version": 3, "updated_at": 5}]})
    assert b.pc == "a1" and b.lists[0].version == 3 and b.protected
    bad: object
    for bad in (
        {**BEAT, "pc": "../x"},
        {**BEAT, "rx": -1},
        {**BEAT, "protected": "yes"},
        {**BEAT, "problems": ["x"] * 11},
        {**BEAT, "lists": [{"list_id": 1}]},
        [],
    ):
        with pytest.raises(HeartbeatError):
            parse_heartbeat(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.dictionaries(
        st.sampled_from(
            sorted({*BEAT, "lists", "problems", "ui_running", "paused_until", "kiosk_id"})
        ),
        json_values,
    )
)
def test_heartbeat_parser_raises_only_its_error(obj: dict[str, object]) -> None:
    with contextlib.suppress(HeartbeatError):
        parse_heartbeat({**BEAT, **obj})


@given(st.binary(max_size=200))
def test_http_head_parser_raises_only_http_error(data: bytes) -> None:
    try:
        method, _path, _, headers = http.parse_head(data + b"\r\n\r\n")
    except http.HttpError as e:
        assert e.status == 400
        return
    assert method.isalpha() and all(k == k.lower() for k in headers)


def test_hand_off_parse() -> None:
    headers = {
        "x-report-id": "0b8f0b5e-3c2e-4d8e-9a55-1c2d3e4f5a6b",
        "x-kiosk-id": "k1",
        "x-kiosk-timestamp": "1800000000",
        "x-kiosk-signature": "c2ln",
    }
    h = relay.parse_hand_off(headers, b"body")
    assert h.kiosk_id == "k1" and h.timestamp == 1800000000
    for name in headers:
        with pytest.raises(relay.RelayError):
            relay.parse_hand_off({**headers, name: "bad id!"}, b"body")
    with pytest.raises(relay.RelayError):
        relay.parse_hand_off(headers, b"")


def test_cafe_link_sums_increases_not_totals() -> None:
    registry, link = Registry(), CafeLink()
    for t, rx in ((0.0, 1_000_000), (5.0, 1_050_000), (10.0, 1_100_000)):
        for pc in ("a", "b"):
            beat = parse_heartbeat({**BEAT, "pc": pc, "rx": rx, "tx": 0})
            prev, seen = registry.update(beat, t)
            link.add(beat, prev, None if seen is None else t - seen)
        link.sample(t, monotonic=t)
    # two PCs, 50 kB each per 5 s: 20 kB/s for the café; a PC's first beat adds nothing
    reading = link.monitor.reading()
    assert reading is not None and reading.rx_rate == pytest.approx(20_000)


def test_discovery_accepts_ipv4_lan_addresses_only() -> None:
    assert parse_found(["192.0.2.7", "::1", "127.0.0.1", "x"], 8055) == ["http://192.0.2.7:8055"]
    assert parse_found(["192.0.2.7"], None) == []
