"""Settings an overlay changes without a restart (config_live.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kiosk_agent.config import config_from_mapping, load_config
from kiosk_agent.config_live import (
    LIVE_KEYS,
    changed_keys,
    overlay_keys,
    overlay_mark,
    take_live,
    with_live,
)
from kiosk_agent.config_overlay import Overlay, save_overlay

LOCAL: dict[str, Any] = {
    "cafe": {"name": "Sunrise", "languages": ["en"]},
    "reporting": {"offpeak": "22:00-06:00"},
}


def _files(tmp_path: Path) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({**LOCAL, "state_dir": str(tmp_path / "state")}))
    return path


def test_every_live_key_is_one_an_overlay_may_set() -> None:
    keys = set(overlay_keys())
    assert "reporting.offpeak" in keys and "state_dir" not in keys
    assert keys >= LIVE_KEYS
    assert "filter.p2p.policy" in keys - LIVE_KEYS  # set by overlays, taken at start


def test_with_live_takes_only_the_live_keys() -> None:
    old = config_from_mapping(LOCAL)
    new = config_from_mapping(
        {
            "cafe": {"name": "Sunrise", "languages": ["sw", "en"]},
            "reporting": {"offpeak": "01:00-05:00", "daily_budget_bytes": 5000},
            "filter": {"p2p": {"policy": "block"}, "block_ttl": 30},
        }
    )
    assert changed_keys(old, new) == [
        "cafe.languages",
        "filter.block_ttl",
        "filter.p2p.policy",
        "reporting.daily_budget_bytes",
        "reporting.offpeak",
    ]
    taken = with_live(old, new)
    assert taken.cafe.languages == ("sw", "en")
    assert taken.reporting.offpeak == ("01:00", "05:00")
    assert taken.reporting.daily_budget_bytes == 5000
    assert taken.filter.p2p.policy == old.filter.p2p.policy  # waits for the next start
    assert taken.filter.block_ttl == old.filter.block_ttl
    assert changed_keys(old, with_live(old, old)) == []


def test_take_live_reads_the_applied_overlay(tmp_path: Path) -> None:
    path = _files(tmp_path)
    running = load_config(path)
    state = running.state_dir
    before = overlay_mark(state)
    unchanged = take_live(running)
    assert unchanged is not None and (unchanged.live, unchanged.restart) == ([], [])
    save_overlay(
        state,
        Overlay(
            2,
            "settings-KE-NBO",
            "DEMO",
            {
                "cafe": {"languages": ["pt", "en"]},
                "reporting": {"offpeak": "02:00-04:00"},
                "filter": {"p2p": {"policy": "block"}},
            },
        ),
    )
    assert overlay_mark(state) != before
    taken = take_live(running)
    assert taken is not None
    assert (taken.live, taken.restart) == (
        ["cafe.languages", "reporting.offpeak"],
        ["filter.p2p.policy"],
    )
    assert taken.config.cafe.languages == ("pt", "en")
    assert taken.config.filter.p2p.policy == running.filter.p2p.policy
    assert taken.config.source == running.source  # workers still find the file


def test_take_live_keeps_the_running_config_when_it_cannot_read_one(tmp_path: Path) -> None:
    assert take_live(config_from_mapping(LOCAL)) is None  # not read from a file
    path = _files(tmp_path)
    running = load_config(path)
    path.write_text("cafe: [not, a, mapping]\n")  # an operator's broken edit
    assert take_live(running) is None
