"""The hub mirrors the signed directories (content packs, settings overlays, key
announcements) like feeds: each file crosses "the uplink" once for all kiosks, kiosks
read through the hub first and verify with their own keys, and what a rogue hub serves
is refused, counted, and read again from the regional server."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kiosk_agent.config import HostPort, config_from_mapping
from kiosk_agent.content import active
from kiosk_agent.contracts import signed_dir
from kiosk_agent.filter.feed_check import default_fetchers
from kiosk_agent.hub.mirror import DIR_KINDS, SIGNED_DIRS, mirrored_dirs
from kiosk_agent.hub.roles import feed_key
from kiosk_agent.hub.server import HubComponent
from kiosk_agent.service.context import ServiceContext
from kiosk_agent.updates.check import CheckAnswer, UpdatesCheck, fetcher_from, parse_answer
from tests.filter.feed_helpers import keypair
from tests.updates.test_check import CONTENT, NOW, Region, overlay, pack_with_title, sign


@pytest.fixture
def region(tmp_path: Path) -> Iterator[Region]:
    r = Region(tmp_path)
    del r.local["updates"]["keys"]  # no announcements published here: keys "off"
    yield r
    active.use_state_dir(None)


def _config(region: Region, state: Path) -> Any:
    local = copy.deepcopy(region.local)
    local["state_dir"] = str(state)
    return config_from_mapping(local), local


def _check(region: Region, state: Path, hub: str | None) -> CheckAnswer:
    config, local = _config(region, state)
    fetch = fetcher_from(default_fetchers(config, state))
    answer = UpdatesCheck(config, fetch, lambda: NOW, local, "kiosk-1", hub=hub).run()
    assert parse_answer(answer.to_json()) == answer
    return answer


def _results(answer: CheckAnswer) -> dict[str, tuple[str, int | None]]:
    return {r.kind: (r.result, r.version) for r in answer.results}


def test_every_signed_source_has_a_kind() -> None:
    assert set(SIGNED_DIRS.values()) <= set(DIR_KINDS)


def test_kiosks_read_packs_and_overlays_through_the_hub(region: Region, tmp_path: Path) -> None:
    region.publish("content", sign(CONTENT, "content", "content", 1, pack_with_title("One")))
    region.publish("settings-KE-NBO", overlay(1, {"cafe": {"languages": ["en", "sw"]}}))
    config, _ = _config(region, tmp_path / "hub")
    config = replace(
        config, cafe=replace(config.cafe, hub="this", hub_listen=HostPort("127.0.0.1", 0))
    )
    dirs = mirrored_dirs(config)
    assert sorted(d.kind for d in dirs.values()) == ["content", "settings", "settings"]

    async def run() -> None:
        hub = HubComponent(ServiceContext(config))
        await hub.start()
        try:
            assert hub.address is not None
            url = f"http://127.0.0.1:{hub.address[1]}"
            for i in range(3):
                answer = await asyncio.to_thread(_check, region, tmp_path / f"k{i}", url)
                assert answer.via_hub, answer
                got = _results(answer)
                assert got["content"] == ("applied", 1) and got["settings"] == ("applied", 1)
                assert got["cafe_settings"][0] == "off"  # this café has no overlay of its own
            assert hub.mirror is not None
            # each file crossed "the uplink" once for the three kiosks
            assert sorted(hub.mirror.fetched) == ["content-1.signed", "settings-1.signed"]
            region.publish("content", sign(CONTENT, "content", "content", 2, pack_with_title("2")))
            hub.mirror.checked.clear()  # the mirrored manifest's freshness has passed
            answer = await asyncio.to_thread(_check, region, tmp_path / "k0", url)
            assert answer.via_hub and _results(answer)["content"] == ("applied", 2)
            assert hub.mirror.fetched.count("content-2.signed") == 1
        finally:
            await hub.stop()

    asyncio.run(run())


def test_a_rogue_hub_cannot_hand_a_pack(
    region: Region, tmp_path: Path, rogue: tuple[Path, str]
) -> None:
    root, url = rogue
    region.publish("content", sign(CONTENT, "content", "content", 1, pack_with_title("One")))
    other, _ = keypair()
    content_url = region.local["updates"]["content"]["url"]
    served = root / "hub" / "v1" / "feeds" / feed_key(content_url)
    signed_dir.publish(served, sign(other, "content", "content", 9, pack_with_title("Rogue")))
    answer = _check(region, tmp_path / "k", url)
    assert not answer.via_hub
    assert answer.hub_refusals == [("content", "untrusted_key")]
    assert _results(answer)["content"] == ("applied", 1)  # from the regional server
