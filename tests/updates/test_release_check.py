"""The updates check's release step over file:// directories: staged rollout, download,
verification (key, bytes, expiry, never older), unpacking beside the running release."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kiosk_agent.config import config_from_mapping
from kiosk_agent.contracts import release, signed, signed_dir
from kiosk_agent.filter.feed_check import FileFetcher
from kiosk_agent.installer import release as installed
from kiosk_agent.updates import release_state as rs
from kiosk_agent.updates.check import UpdatesCheck, fetcher_from, parse_answer
from tests.filter.feed_helpers import keypair
from tests.installer.fakes import fake_onefile

NOW = 1_800_000_000.0
KEY, PUB = keypair()
OTHER, _OTHER_PUB = keypair()


class Kiosk:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.feeds = tmp / "feeds" / "releases"
        self.program_dir = tmp / "opt"
        first = installed.install_release(
            fake_onefile(tmp / "first"), self.program_dir, "app-1.0.0-aaaa", "kiosk-agent"
        )
        installed.point_command_at(self.program_dir, first.name, "kiosk-agent")
        self.local: dict[str, Any] = {
            "state_dir": str(tmp / "state"),
            "cafe": {"name": "Sunrise", "region": "KE-NBO"},
            "updates": {
                "release": {
                    "url": self.feeds.as_uri(),
                    "trust": [PUB],
                    "program_dir": str(self.program_dir),
                    "service": "command",
                    "stop_command": ["true"],
                    "start_command": ["true"],
                }
            },
        }
        self.config = config_from_mapping(self.local)

    def publish(self, version: str, *, key: Any = KEY, expires: float = NOW + 86400,
                program: bytes | None = None, **kw: Any) -> None:  # fmt: skip
        body = program if program is not None else fake_onefile(self.tmp / version).read_bytes()
        data = release.encode_release(
            key=key, program=body, program_version=version, issuer="t",
            created=int(NOW) - 10, expires=int(expires),
        )  # fmt: skip
        signed_dir.publish(self.feeds, data, **kw)

    def check(self, *, link_room: bool = True, kiosk_id: str = "kiosk-1") -> tuple[Any, ...]:
        answer = UpdatesCheck(
            self.config, fetcher_from({"file": FileFetcher()}), lambda: NOW, self.local,
            kiosk_id, link_room=link_room, running_version="1.0.0",
        ).run()  # fmt: skip
        assert parse_answer(answer.to_json()) == answer
        r = next(r for r in answer.results if r.kind == "release")
        return r.result, r.reason, r.version

    def state(self) -> rs.ReleaseState:
        return rs.load(self.config.state_dir)


@pytest.fixture
def kiosk(tmp_path: Path) -> Kiosk:
    return Kiosk(tmp_path)


def test_a_newer_release_is_downloaded_verified_and_staged(kiosk: Kiosk) -> None:
    kiosk.publish("1.1.0")
    number = release.version_number("1.1.0")
    assert kiosk.check() == ("staged", None, number)
    state = kiosk.state()
    assert state.phase == "staged" and state.candidate is not None
    assert state.candidate.program_version == "1.1.0"
    assert state.previous == "app-1.0.0-aaaa"
    unpacked = kiosk.program_dir / state.candidate.release
    assert (unpacked / "kiosk-agent").is_file() and (unpacked / "_internal").is_dir()
    # The stable command is not touched by the worker: the switch helper moves it.
    assert installed.current_release(kiosk.program_dir, "kiosk-agent") == "app-1.0.0-aaaa"
    assert kiosk.check()[:2] == ("deferred", "switch_in_progress")
    assert not any((kiosk.config.state_dir / "release" / "download").glob("*.part"))


def test_nothing_newer_than_the_running_program(kiosk: Kiosk) -> None:
    kiosk.publish("1.0.0")
    assert kiosk.check()[0] == "up_to_date"
    assert kiosk.state().phase == "idle"


@pytest.mark.parametrize(
    ("publish", "code"),
    [
        ({"key": OTHER}, "untrusted_key"),
        ({"expires": NOW - 1}, "expired"),
    ],
)
def test_refusals_keep_the_running_release(
    kiosk: Kiosk, publish: dict[str, Any], code: str
) -> None:
    kiosk.publish("1.1.0", **publish)
    assert kiosk.check()[:2] == ("rejected", code)
    assert kiosk.state().phase == "idle"
    assert not any((kiosk.config.state_dir / "release" / "download").glob("*.part"))


def test_a_file_changed_on_the_server_is_refused(kiosk: Kiosk) -> None:
    kiosk.publish("1.1.0")
    path = kiosk.feeds / "release-1000001000000.signed"
    data = bytearray(path.read_bytes())
    data[-40] ^= 1
    path.write_bytes(bytes(data))
    assert kiosk.check()[:2] == ("rejected", "bad_signature")


def test_signed_but_not_a_program_is_bad_for_good(kiosk: Kiosk) -> None:
    kiosk.publish("1.1.0", program=b"#!/bin/sh\necho not a one-file program\n")
    assert kiosk.check()[:2] == ("rejected", "invalid")
    assert kiosk.check()[:2] == ("deferred", "bad_version")


def test_waits_for_the_link_the_operator_and_the_stage(kiosk: Kiosk) -> None:
    kiosk.publish("1.1.0")
    assert kiosk.check(link_room=False)[:2] == ("deferred", "link_busy")
    rs.postpone(kiosk.config.state_dir, __import__("time").time())
    assert kiosk.check()[:2] == ("deferred", "postponed")
    (kiosk.config.state_dir / "release" / "postponed.json").unlink()
    # 1.2.0 staged for another café only: this kiosk stays on 1.1.0 (which it takes).
    kiosk.publish("1.2.0", percent=0, cafes=["Other café"])
    manifest = json.loads((kiosk.feeds / "manifest.json").read_text())
    assert manifest["rollout"]["stable"] == release.version_number("1.1.0")
    assert kiosk.check() == ("staged", None, release.version_number("1.1.0"))


def test_off_without_trust_or_an_installed_release(tmp_path: Path) -> None:
    kiosk = Kiosk(tmp_path)
    kiosk.local["updates"]["release"]["trust"] = []
    kiosk.config = config_from_mapping(kiosk.local)
    assert kiosk.check()[0] == "off"
    kiosk.local["updates"]["release"]["trust"] = [PUB]
    kiosk.local["updates"]["release"]["program_dir"] = str(tmp_path / "nothing")
    kiosk.config = config_from_mapping(kiosk.local)
    assert kiosk.check()[0] == "off"


def test_release_refusals_are_counted_under_release() -> None:
    from kiosk_agent.reporting.counters import counter_name
    from kiosk_agent.reporting.events import ReleaseSwitched, SignedRejected

    assert (
        counter_name(SignedRejected("release", "bad_signature")) == "release.rejected.bad_signature"
    )
    assert counter_name(ReleaseSwitched("rolled_back")) == "updates.rolled_back"
    assert counter_name(ReleaseSwitched("applied")) == "updates.applied"
    assert signed.KINDS[-1] == "release"
