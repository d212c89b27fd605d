"""Settings overlays over agent.yaml: merge, local-only keys refused, origins; fuzzed."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent import config_overlay
from kiosk_agent.config import ConfigError, declared_keys
from kiosk_agent.config_overlay import Overlay
from kiosk_agent.content import active

LOCAL: dict[str, Any] = {"state_dir": "/tmp/k", "cafe": {"name": "Sunrise", "languages": ["en"]}}


def test_merge_keeps_local_and_replaces_lists() -> None:
    overlay = Overlay(3, "settings-KE-NBO", "r", {"cafe": {"languages": ["sw"]}})
    config = config_overlay.effective_config(LOCAL, overlay)
    assert config.cafe.languages == ("sw",) and config.cafe.name == "Sunrise"


def test_overlayable_marker_is_declared_once_per_key() -> None:
    from kiosk_agent.config import ControlConfig, OperatorConfig, ReportingConfig

    assert not any(spec.overlay for _, spec in declared_keys(ControlConfig))
    assert not any(spec.overlay for _, spec in declared_keys(OperatorConfig))
    marked = {f.name for f, spec in declared_keys(ReportingConfig) if spec.overlay}
    assert "offpeak" in marked and "server" not in marked


@pytest.mark.parametrize(
    "settings",
    [
        {"state_dir": "/x"},
        {"filter": {"listen": ["127.0.0.1:53"]}},
        {"demo": True},
        {"filter": {"manage_system_dns": True}},
        {"cafe": "x"},
    ],
)
def test_local_only_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        config_overlay.effective_config(LOCAL, Overlay(1, "s", "r", settings))


def test_load_effective_ignores_an_overlay_that_no_longer_fits(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({"state_dir": str(state)}))
    config_overlay.save_overlay(state, Overlay(1, "s", "r", {"reporting": {"offpeak": "1-2"}}))
    assert config_overlay.load_effective(path).reporting.offpeak is None
    config_overlay.save_overlay(
        state, Overlay(2, "s", "r", {"reporting": {"offpeak": "01:00-02:00"}})
    )
    assert config_overlay.load_effective(path).reporting.offpeak == ("01:00", "02:00")
    assert config_overlay.load_effective(path).source == str(path)


YAMLISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
    max_leaves=20,
)


@given(st.binary(max_size=300))
def test_overlay_text_parser_only_value_errors(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        config_overlay.parse_overlay_text(data)


@given(st.dictionaries(st.sampled_from(["cafe", "reporting", "filter", "x", "state_dir"]), YAMLISH))
def test_any_overlay_is_accepted_or_refused_cleanly(settings: dict[str, Any]) -> None:
    with contextlib.suppress(ConfigError):
        config_overlay.effective_config(LOCAL, Overlay(1, "s", "r", settings))


@given(YAMLISH)
def test_pointer_and_overlay_readers_never_fail(obj: object) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        (state / "content").mkdir()
        (state / "settings").mkdir()
        (state / "content" / "current.json").write_text(json.dumps(obj))
        (state / "settings" / "overlay.json").write_text(json.dumps(obj))
        assert active.read_pointer(state) is None  # no pack folder exists here
        config_overlay.read_overlay(state)
