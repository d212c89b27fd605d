"""Tip rotation per PC: seldom the same tip twice in a row, history saved atomically."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.notices.rotation import (
    HISTORY_FILE,
    HISTORY_MAX,
    TipRotation,
    next_tip,
    parse_history,
    system_pick,
)

IDS = [f"t{i:02d}" for i in range(1, 13)]


def seeded(seed: int) -> Callable[[int], int]:
    return random.Random(seed).randrange


def test_a_tip_comes_back_only_after_half_the_pool() -> None:
    rng = random.Random(1)
    recent: list[str] = []
    for _ in range(500):
        tip = next_tip(IDS, recent, rng.randrange)
        assert tip not in recent[-6:]
        recent.append(tip)
    # Every tip is shown, none is starved.
    assert set(recent) == set(IDS)


def test_small_and_shrunk_pools() -> None:
    assert next_tip(["t01"], ["t01"]) == "t01"
    assert next_tip(["t01", "t02"], ["t01"]) == "t02"
    # The history names tips the pool no longer has, or all of them: still a choice.
    assert next_tip(["t01", "t02", "t03"], ["t03", "t02", "t01"]) in ("t02", "t03")
    with pytest.raises(ValueError):
        next_tip([], [])


def test_history_is_kept_across_processes(tmp_path: Path) -> None:
    first = TipRotation(tmp_path, seeded(3))
    shown = [first.choose(IDS) for _ in range(5)]
    saved = json.loads((tmp_path / HISTORY_FILE).read_text())
    assert saved == {"recent": shown}
    second = TipRotation(tmp_path, seeded(3))
    assert second.choose(IDS) not in shown  # 5 < 6: none of them is due again
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temp file
    assert sorted({system_pick(3) for _ in range(200)}) == [0, 1, 2]


def test_unwritable_state_keeps_the_rotation_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    rotation = TipRotation(blocker / "sub", seeded(4))  # a folder under a file
    a = rotation.choose(IDS)
    assert rotation.choose(IDS) != a


@given(st.text(max_size=200))
def test_history_parser_never_fails(text: str) -> None:
    ids = parse_history(text)
    assert len(ids) <= HISTORY_MAX and all(i.startswith("t") for i in ids)


def test_history_parser_keeps_only_tip_ids() -> None:
    assert parse_history('{"recent": ["t01", "evil/../x", 3, "t02"]}') == ["t01", "t02"]
    assert parse_history("[]") == [] and parse_history("{") == []
