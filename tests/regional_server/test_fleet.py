"""The fleet view: reports carry the content pack and overlay held; the server counts
kiosks per program, content and settings version per region (page and JSON)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from kiosk_agent.contracts import signed_dir
from kiosk_agent.contracts.report import Report, ReportError, encode_body, parse_report
from regional_server.db.models import kiosks
from regional_server.settings import Settings
from regional_server.store.fleet import fleet
from tests.regional_server.helpers import (
    Clock,
    Kiosk,
    World,
    enroll,
    login,
    make_report,
    new_code,
    upload,
)

DAY = datetime(2026, 11, 25, tzinfo=UTC)
_VERSION = st.none() | st.integers(min_value=0, max_value=2**63 - 1)


@given(content=_VERSION, settings=_VERSION)
def test_held_versions_round_trip(content: int | None, settings: int | None) -> None:
    report = Report(
        report_id="0b5c3f6e-7c1a-4e47-9a55-0d9f1d2a0c11",
        kiosk_id="k-1",
        period_start=DAY,
        period_days=1.0,
        counts={"sessions.login": 3},
        agent_version="0.9.0",
        content_version=content,
        settings_version=settings,
    )
    assert parse_report(encode_body(report)) == report
    data = report.to_json()
    assert ("content" in data) == (content is not None)  # old kiosks' shape when absent
    assert ("settings" in data) == (settings is not None)


@pytest.mark.parametrize("bad", [-1, True, 1.5, "7", 2**63, [1]])
def test_bad_held_versions_are_refused(bad: object) -> None:
    data = make_report(Kiosk.__new__(Kiosk), {}, day=DAY).to_json()
    data["kiosk_id"] = "k-1"
    for key in ("content", "settings"):
        with pytest.raises(ReportError, match=key):
            parse_report(json.dumps({**data, key: bad}).encode())


def test_held_versions_cost_a_few_bytes() -> None:
    base = make_report(Kiosk.__new__(Kiosk), {"sessions.login": 40}, day=DAY)
    base = dataclasses.replace(base, kiosk_id="k-0123456789abcdef")
    held = dataclasses.replace(base, content_version=12, settings_version=3)
    assert len(held.to_bytes()) - len(base.to_bytes()) == len(',"content":12,"settings":3')
    assert len(encode_body(held)) - len(encode_body(base)) <= 24


def _report(kiosk: Kiosk, version: str, content: int | None, settings: int | None) -> Report:
    report = make_report(kiosk, {"sessions.login": 1}, day=DAY)
    return dataclasses.replace(
        report, agent_version=version, content_version=content, settings_version=settings
    )


def _kiosks(client: TestClient, engine: Engine, region: int, clock: Clock, n: int) -> list[Kiosk]:
    return [enroll(client, new_code(engine, region, clock)) for _ in range(n)]


def test_reports_set_what_each_kiosk_holds_and_the_fleet_counts_it(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    a = _kiosks(client, engine, world.region_a, clock, 5)
    b = _kiosks(client, engine, world.region_b, clock, 1)
    held = [("0.9.0", 7, 3), ("0.9.0", 7, 3), ("0.10.0", 6, None), ("0.10.0", None, 3)]
    for kiosk, (version, content, settings) in zip(a, held, strict=False):
        assert upload(client, kiosk, _report(kiosk, version, content, settings), clock).is_success
    # An old kiosk: no content/settings keys at all.
    assert upload(client, b[0], make_report(b[0], {}, day=DAY), clock).is_success
    # A later report replaces what an earlier one said.
    later = _report(a[3], "0.10.0", 8, 4)
    assert upload(client, a[3], dataclasses.replace(later, period_start=DAY + timedelta(1)), clock)
    with engine.connect() as conn:
        row = conn.execute(
            select(kiosks.c.content_version, kiosks.c.settings_version).where(
                kiosks.c.id == a[3].kiosk_id
            )
        ).one()
        assert tuple(row) == (8, 4)
        # Ten days later only reports newer than 7 days count as active: none.
        regions = fleet(conn, frozenset({world.region_a, world.region_b}), int(clock()))
        stale = fleet(conn, frozenset({world.region_a}), int(clock()) + 10 * 86400)
    nbo, dkr = (
        (r for r in regions if r.region == "KE-NBO"),
        (r for r in regions if r.region != "KE-NBO"),
    )
    ke, sn = next(nbo), next(dkr)
    assert (ke.kiosks, ke.not_reported) == (5, 1)
    assert [(c.version, c.kiosks, c.active) for c in ke.program] == [
        ("0.10.0", 2, 2),
        ("0.9.0", 2, 2),
    ]
    assert [(c.version, c.kiosks) for c in ke.content] == [(8, 1), (7, 2), (6, 1)]
    assert [(c.version, c.kiosks) for c in ke.settings] == [(4, 1), (3, 2), (None, 1)]
    assert [(c.version, c.kiosks) for c in sn.content] == [(None, 1)]
    assert [c.active for c in stale[0].program] == [0, 0]


def _publish(feeds: Path, kind: str, subject: str, versions: list[int], percent: int) -> None:
    manifest = signed_dir.Manifest(
        kind,
        subject,
        versions[-1],
        {v: signed_dir.file_name(kind, v) for v in versions},
        signed_dir.Rollout(versions[0], percent) if percent else None,
    )
    folder = feeds / subject
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_bytes(signed_dir.manifest_bytes(manifest))


def test_page_and_json_show_a_coordinator_only_their_regions(
    client: TestClient, engine: Engine, world: World, clock: Clock, settings: Settings
) -> None:
    a = _kiosks(client, engine, world.region_a, clock, 1)[0]
    b = _kiosks(client, engine, world.region_b, clock, 1)[0]
    assert upload(client, a, _report(a, "0.9.0", 7, 3), clock).is_success
    assert upload(client, b, _report(b, "0.8.1", 5, None), clock).is_success
    _publish(settings.feeds_path, "content", "content", [6, 7], 10)
    _publish(settings.feeds_path, "settings", "settings-KE-NBO", [3], 0)

    assert client.get("/api/v1/fleet").status_code == 401
    login(client, world.coord_a)
    data = client.get("/api/v1/fleet").json()
    assert [r["region"] for r in data["regions"]] == ["KE-NBO"]
    (ke,) = data["regions"]
    assert ke["program"] == [{"version": "0.9.0", "kiosks": 1, "active": 1}]
    assert ke["content"] == [{"version": 7, "kiosks": 1, "active": 1}]
    assert ke["published"]["content"] == {"latest": 7, "stable": 6, "percent": 10, "cafes": 0}
    assert ke["published"]["settings"]["latest"] == 3
    for lang, words in (
        ("en", "Content pack"),
        ("fr", "Pack de contenu"),
        ("ar", "حزمة المحتوى"),
        ("pt", "Pacote de conteúdo"),
    ):
        page = client.get(f"/admin/fleet?lang={lang}")
        assert page.status_code == 200
        assert words in page.text and "KE-NBO" in page.text and "SN-DKR" not in page.text
    fr = client.get("/admin/fleet?lang=fr").text
    assert "déployée pour 10 % des postes" in fr and "0.8.1" not in fr

    client.cookies.clear()
    login(client, world.admin)
    assert [r["region"] for r in client.get("/api/v1/fleet").json()["regions"]] == [
        "KE-NBO",
        "SN-DKR",
    ]
