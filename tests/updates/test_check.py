"""One updates check over file:// directories: announcements, then packs and overlays."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kiosk_agent import config_overlay
from kiosk_agent.config import config_from_mapping
from kiosk_agent.content import active, pack
from kiosk_agent.contracts import keys, signed, signed_dir
from kiosk_agent.filter.feed_check import FileFetcher
from kiosk_agent.reporting.counters import counter_name
from kiosk_agent.reporting.events import EventBus
from kiosk_agent.service.context import ServiceContext
from kiosk_agent.updates.check import (
    CheckAnswer,
    UpdatesCheck,
    fetcher_from,
    parse_answer,
    shipped_glyphs,
)
from kiosk_agent.updates.component import UpdatesComponent
from tests.filter.feed_helpers import keypair

NOW = 1_800_000_000.0
CONTENT, CONTENT_PUB = keypair()
SETTINGS, SETTINGS_PUB = keypair()
NEW, NEW_PUB = keypair()
ROOT, ROOT_PUB = keypair()


def sign(key: Any, kind: str, subject: str, version: int, body: bytes) -> bytes:
    return signed.encode_signed(
        key=key, kind=kind, issuer="region", subject=subject, version=version,
        created=int(NOW) - 10, expires=int(NOW) + 86400, body=body,
    )  # fmt: skip


def pack_with_title(title: str) -> bytes:
    files = pack.collect(active.BUILTIN_DIR)
    loc = dict(files.locales)
    loc["en"] = loc["en"].replace("Hello! Have fun and stay safe online", title)
    return pack.encode_body(pack.PackFiles(loc, files.countries))


class Region:
    """A regional server's /feeds folder on disk, and a kiosk pointed at it."""

    def __init__(self, tmp: Path) -> None:
        self.feeds = tmp / "feeds"
        self.state = tmp / "state"
        self.local: dict[str, Any] = {
            "state_dir": str(self.state),
            "cafe": {"name": "Sunrise", "region": "KE-NBO", "languages": ["en"]},
            "reporting": {"offpeak": "22:00-06:00"},
            "updates": {
                "content": {"url": (self.feeds / "content").as_uri(), "trust": [CONTENT_PUB]},
                "settings": {
                    "url": (self.feeds / "settings-KE-NBO").as_uri(),
                    "trust": [SETTINGS_PUB],
                },
                "keys": {"url": (self.feeds / "keys").as_uri(), "roots": [ROOT_PUB]},
            },
        }

    def publish(self, name: str, data: bytes, **kw: Any) -> None:
        signed_dir.publish(self.feeds / name, data, **kw)

    def check(self, kiosk_id: str = "kiosk-1") -> dict[str, Any]:
        config = config_from_mapping(self.local)
        answer = UpdatesCheck(
            config, fetcher_from({"file": FileFetcher()}), lambda: NOW, self.local, kiosk_id
        ).run()
        out = parse_answer(answer.to_json())
        assert out == answer
        return {r.kind: (r.result, r.reason, r.version) for r in out.results} | {
            "changes": out.key_changes
        }


@pytest.fixture
def region(tmp_path: Path) -> Iterator[Region]:
    yield Region(tmp_path)
    active.use_state_dir(None)


def test_nothing_published_is_unreachable_not_refused(region: Region) -> None:
    got = region.check()
    assert got["content"][0] == got["keys"][0] == "unreachable"


def test_content_pack_applied_then_bad_one_refused(region: Region) -> None:
    region.publish("content", sign(CONTENT, "content", "content", 1, pack_with_title("One")))
    assert region.check()["content"] == ("applied", None, 1)
    active.use_state_dir(region.state)
    from kiosk_agent.content.locales import load_locale

    assert load_locale("en").text("notice.title") == "One"
    assert region.check()["content"] == ("up_to_date", None, 1)
    files = pack.collect(active.BUILTIN_DIR)
    broken = {k: v for k, v in files.locales.items() if k != "sw"}
    bad = sign(CONTENT, "content", "content", 2, pack.encode_body(pack.PackFiles(broken, "")))
    region.publish("content", bad)
    assert region.check()["content"] == ("rejected", "invalid", None)
    assert load_locale("en").text("notice.title") == "One"


def test_pack_the_fonts_cannot_draw_is_refused_and_counted(region: Region) -> None:
    region.publish("content", sign(CONTENT, "content", "content", 1, pack_with_title("One")))
    assert region.check()["content"] == ("applied", None, 1)
    # Good signature, every text rule passes, but Han characters: no shipped font has them.
    boxes = sign(CONTENT, "content", "content", 2, pack_with_title("Welcome 漢字"))
    with pytest.raises(signed.NoGlyphs, match=r"en: fonts: no glyph for U\+5B57 U\+6F22"):
        pack.verify_pack(boxes, [CONTENT_PUB], applied=1, now=NOW, glyphs=shipped_glyphs)
    pack.verify_pack(boxes, [CONTENT_PUB], applied=1, now=NOW)  # the text rules alone pass
    region.publish("content", boxes)
    assert region.check()["content"] == ("rejected", "fonts", None)
    assert pack.applied_version(region.state) == 1  # the last good pack stays
    bus = EventBus()
    seen: list[str | None] = []
    bus.subscribe(lambda e: seen.append(counter_name(e)))
    config = config_from_mapping(region.local)
    comp = UpdatesComponent(
        ServiceContext(config, bus),
        run_check=lambda: UpdatesCheck(
            config, fetcher_from({"file": FileFetcher()}), lambda: NOW, region.local
        ).run(),
    )
    import asyncio

    asyncio.run(comp.check_once())
    assert "content.rejected.fonts" in seen


def test_staged_pack_reaches_only_the_stage(region: Region) -> None:
    region.publish("content", sign(CONTENT, "content", "content", 1, pack_with_title("One")))
    region.check("a")
    region.check("b")
    region.publish(
        "content", sign(CONTENT, "content", "content", 2, pack_with_title("Two")), cafes=["Other"]
    )
    assert region.check("a")["content"] == ("up_to_date", None, 1)
    region.local["cafe"]["name"] = "Other"
    assert region.check("a")["content"] == ("applied", None, 2)


def test_rotation_then_content_signed_by_the_new_key(region: Region) -> None:
    region.publish("content", sign(NEW, "content", "content", 1, pack_with_title("New key")))
    assert region.check()["content"][1] == "untrusted_key"
    rotation = keys.encode_announcement(
        keys.Announcement("replace", CONTENT_PUB, NEW_PUB, int(NOW) + 100),
        key=CONTENT, issuer="hotline", version=1, created=int(NOW) - 5, expires=int(NOW) + 999,
    )  # fmt: skip
    region.publish("keys", rotation)
    got = region.check()
    assert got["keys"] == ("applied", None, 1) and got["changes"] == ["rotation"]
    assert got["content"] == ("applied", None, 1)


def test_forged_announcement_refused_and_recovery_through_root(region: Region) -> None:
    thief, thief_pub = keypair()
    forged = keys.encode_announcement(
        keys.Announcement("replace", CONTENT_PUB, thief_pub, int(NOW)),
        key=thief, issuer="x", version=1, created=int(NOW) - 5, expires=int(NOW) + 999,
    )  # fmt: skip
    region.publish("keys", forged)
    got = region.check()
    assert got["keys"] == ("rejected", "bad_chain", None) and got["changes"] == []
    shutil.rmtree(region.feeds / "keys")
    recovery = keys.encode_announcement(
        keys.Announcement("replace", CONTENT_PUB, NEW_PUB, int(NOW)),
        key=ROOT, issuer="region root", version=1, created=int(NOW) - 5, expires=int(NOW) + 999,
    )  # fmt: skip
    region.publish("keys", recovery)
    region.publish("content", sign(CONTENT, "content", "content", 1, pack_with_title("Old")))
    got = region.check()
    assert got["changes"] == ["recovery"]
    assert got["content"][1] == "untrusted_key"  # the old key is refused from now on


def overlay(version: int, settings: dict[str, Any], key: Any = SETTINGS) -> bytes:
    return sign(key, "settings", "settings-KE-NBO", version, yaml.safe_dump(settings).encode())


def test_overlay_changes_upload_window_and_languages(region: Region) -> None:
    region.publish(
        "settings-KE-NBO",
        overlay(1, {"cafe": {"languages": ["sw", "en"]}, "reporting": {"offpeak": "01:00-05:00"}}),
    )
    assert region.check()["settings"] == ("applied", None, 1)
    path = region.state.parent / "agent.yaml"
    path.write_text(yaml.safe_dump(region.local))
    effective = config_overlay.load_effective(path)
    assert effective.cafe.languages == ("sw", "en")
    assert effective.reporting.offpeak == ("01:00", "05:00")
    assert effective.cafe.name == "Sunrise"  # not in the overlay: stays local
    applied = config_overlay.read_overlay(region.state)
    rows = {p: (v, o) for p, v, o in config_overlay.origins(region.local, applied)}
    assert rows["cafe.languages"] == (["sw", "en"], "overlay settings-KE-NBO v1")
    assert rows["cafe.name"] == ("Sunrise", "agent.yaml")
    assert rows["filter.block_ttl"] == (60, "default")


@pytest.mark.parametrize(
    "settings",
    [
        {"state_dir": "/tmp/elsewhere"},
        {"control": {"listen": "127.0.0.1:9999"}},
        {"operator": {"pin_scrypt": "scrypt$x"}},
        {"reporting": {"server": "https://evil.example"}},
        {"updates": {"content": {"trust": []}}},
        {"reporting": {"offpeak": "noon"}},
        {"nonsense": 1},
    ],
)
def test_bad_overlay_refused_last_good_kept(region: Region, settings: dict[str, Any]) -> None:
    region.publish("settings-KE-NBO", overlay(1, {"reporting": {"offpeak": "01:00-05:00"}}))
    region.check()
    region.publish("settings-KE-NBO", overlay(2, settings))
    assert region.check()["settings"] == ("rejected", "invalid", None)
    kept = config_overlay.read_overlay(region.state)
    assert kept is not None and kept.version == 1


def test_component_counts_refusals_and_key_changes(region: Region) -> None:
    region.publish("content", sign(NEW, "content", "content", 1, pack_with_title("x")))
    bus = EventBus()
    seen: list[str | None] = []
    bus.subscribe(lambda e: seen.append(counter_name(e)))
    ctx = ServiceContext(config_from_mapping(region.local), bus)
    config = ctx.config
    comp = UpdatesComponent(
        ctx,
        run_check=lambda: UpdatesCheck(
            config, fetcher_from({"file": FileFetcher()}), lambda: NOW, region.local
        ).run(),
    )
    import asyncio

    asyncio.run(comp.check_once())
    assert "content.rejected.untrusted_key" in seen
    assert comp.status()["last"]["content"]["reason"] == "untrusted_key"  # type: ignore[index]


def test_cafe_overlay_is_laid_over_the_region(region: Region) -> None:
    region.publish(
        "settings-KE-NBO",
        overlay(1, {"cafe": {"languages": ["sw", "en"]}, "reporting": {"offpeak": "01:00-05:00"}}),
    )
    subject = signed_dir.cafe_settings_subject("KE-NBO", "Sunrise")
    assert subject == "settings-KE-NBO--sunrise"
    cafe = sign(
        SETTINGS, "settings", subject, 1, yaml.safe_dump({"cafe": {"languages": ["fr"]}}).encode()
    )
    region.publish(subject, cafe)
    got = region.check()
    assert got["settings"] == ("applied", None, 1) and got["cafe_settings"] == ("applied", None, 1)
    path = region.state.parent / "agent.yaml"
    path.write_text(yaml.safe_dump(region.local))
    effective = config_overlay.load_effective(path)
    assert effective.cafe.languages == ("fr",)  # the café's, over the region's
    assert effective.reporting.offpeak == ("01:00", "05:00")  # the region's
    rows = {
        p: o
        for p, _, o in config_overlay.origins(
            region.local, config_overlay.read_overlays(region.state)
        )
    }
    assert rows["cafe.languages"] == f"overlay {subject} v1"
    assert rows["reporting.offpeak"] == "overlay settings-KE-NBO v1"
    # Another café's overlay is not for this kiosk.
    other = signed_dir.cafe_settings_subject("KE-NBO", "Other")
    region.publish(other, sign(SETTINGS, "settings", other, 2, b"cafe: {languages: [en]}\n"))
    assert region.check()["cafe_settings"] == ("up_to_date", None, 1)


def test_update_now_adds_a_check_at_most_every_few_minutes() -> None:
    """Each check is a TLS connection over the café's metered link: an operator pressing
    "update now" again and again (or the café box test) does not make one per press."""
    import asyncio

    from kiosk_agent.updates.component import MIN_REQUEST_GAP

    runs: list[float] = []

    def check() -> CheckAnswer:
        runs.append(1.0)
        return CheckAnswer()

    ctx = ServiceContext(config_from_mapping({}), EventBus())
    comp = UpdatesComponent(ctx, run_check=check)
    assert comp.may_check_on_request(0.0)  # no check yet: a press checks at once

    async def scenario() -> None:
        await comp.start()
        for _ in range(20):  # the first check comes by itself, 1-10 s after start ...
            comp.request_update()  # ... or at the first press; the others are folded in
            await asyncio.sleep(0.02)
        await comp.stop()

    asyncio.run(scenario())
    assert len(runs) == 1
    assert comp._last_check is not None
    assert not comp.may_check_on_request(comp._last_check + MIN_REQUEST_GAP - 1)
    assert comp.may_check_on_request(comp._last_check + MIN_REQUEST_GAP)


class Listener:
    name = "listener"

    def __init__(self) -> None:
        self.got: list[Any] = []

    def reconfigure(self, config: Any) -> None:
        self.got.append(config)


def test_component_takes_an_overlays_live_keys_without_a_restart(region: Region) -> None:
    path = region.state.parent / "agent.yaml"
    path.write_text(yaml.safe_dump(region.local))
    ctx = ServiceContext(config_overlay.load_effective(path), EventBus())
    listener = Listener()
    ctx.components["listener"] = listener  # type: ignore[assignment]
    from kiosk_agent.filter.blockpage import BlockPageServer

    page = BlockPageServer(ctx)
    assert page.order == ("en",) and set(page.texts) == {"en"}
    region.publish(
        "settings-KE-NBO",
        overlay(
            1,
            {
                "cafe": {"languages": ["sw", "en"]},
                "reporting": {"offpeak": "01:00-05:00"},
                "filter": {"p2p": {"policy": "block"}},
            },
        ),
    )
    config = ctx.config
    comp = UpdatesComponent(
        ctx,
        run_check=lambda: UpdatesCheck(
            config, fetcher_from({"file": FileFetcher()}), lambda: NOW, region.local
        ).run(),
    )
    import asyncio

    asyncio.run(comp.check_once())
    assert ctx.config.cafe.languages == ("sw", "en")
    assert ctx.config.reporting.offpeak == ("01:00", "05:00")
    assert ctx.config.filter.p2p.policy == "count"  # waits for the next start
    assert listener.got == [ctx.config]
    status = comp.status()
    assert status["settings_live_keys"] == ["cafe.languages", "reporting.offpeak"]
    assert status["settings_restart_keys"] == ["filter.p2p.policy"]
    assert status["settings_overlay_pending_restart"] is True
    assert set(page.texts) == {"sw", "en"} and tuple(page.order) == ("sw", "en")
