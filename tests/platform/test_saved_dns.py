from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.platform.base import DnsSnapshot
from kiosk_agent.platform.saved_dns import (
    load_snapshot,
    save_snapshot,
    snapshot_from_json,
    snapshot_to_json,
    upstreams_before_install,
)


def test_round_trip(tmp_path: Path) -> None:
    snap = DnsSnapshot("systemd-resolved", ("192.0.2.1",), {"eth0": ("192.0.2.2", "192.0.2.1")})
    save_snapshot(tmp_path, snap)
    assert load_snapshot(tmp_path) == snap
    assert upstreams_before_install(tmp_path, own=("192.0.2.2",)) == ("192.0.2.1",)


def test_missing_or_broken_file(tmp_path: Path) -> None:
    assert load_snapshot(tmp_path) is None
    (tmp_path / "dns-before-install.json").write_text("{not json")
    assert load_snapshot(tmp_path) is None
    assert upstreams_before_install(tmp_path) == ()


def test_plain_servers_list_is_read() -> None:
    snap = snapshot_from_json(json.dumps({"servers": ["192.0.2.1", "192.0.2.2"]}))
    assert snap.method == "saved" and snap.all_servers() == ("192.0.2.1", "192.0.2.2")


@pytest.mark.parametrize(
    "text", ['{"method": 3}', '{"servers": "192.0.2.1"}', '{"interfaces": {"eth0": "x"}}', "[]"]
)
def test_bad_shapes_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        snapshot_from_json(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parser_raises_only_value_error(text: str) -> None:
    try:
        snap = snapshot_from_json(text)
    except ValueError:
        return
    assert snapshot_from_json(snapshot_to_json(snap)) == snap
