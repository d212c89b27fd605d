"""The national view in one process: the push body's reader, a parent's sums of
published figures (a hidden figure is never reconstructed), and a parent's checks."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from kiosk_agent.contracts.report import EnrollRequest, Report, signing_string
from kiosk_agent.contracts.signed import public_key_string
from regional_server.admin.dhis2 import MAPPING as MAPPING_DOCUMENT
from regional_server.auth.sessions import CurrentUser
from regional_server.completeness import WeekCells
from regional_server.dashboard.filters import Filters
from regional_server.dashboard.view import DashboardData, build_dashboard
from regional_server.db.models import pushed_weekly
from regional_server.indicators import Table, Value
from regional_server.national.children import ChildError, get_child, register_child
from regional_server.national.collect import week_figures
from regional_server.national.payload import (
    COMPLETENESS,
    COVERAGE,
    FAMILIES,
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    PUSH_PATH,
    Push,
    PushError,
    encode_push,
    parse_push,
)
from regional_server.national.push import EX_TEMPFAIL, push_parent
from regional_server.national.read import (
    FAMILY_COUNTER,
    as_cell,
    pushed_by_region,
    pushed_by_week,
    pushed_completeness,
    pushed_completeness_by_week,
)
from regional_server.national.receive import PushRefused, apply_push
from regional_server.perturb import Cell, noise_table, published_cell
from regional_server.settings import Settings, SettingsError, settings_from_mapping
from regional_server.store.codes import create_code
from regional_server.store.documents import save_document
from regional_server.store.ingest import store_report
from regional_server.store.kiosks import enroll
from regional_server.store.regions import create_region, list_regions
from tests.regional_server.helpers import Clock, World, csrf_of, login

KEY_A = "ed25519:" + "A" * 43 + "="
KEY_B = "ed25519:" + "B" * 42 + "A="
MONDAY = date(2026, 11, 2)


def _push(
    code: str,
    weeks: dict[date, dict[str, int | None]],
    *,
    country: str = "KE",
    generated_at: int = 1_000,
    coverage: dict[str, int | None] | None = None,
) -> Push:
    return Push(
        str(uuid.uuid4()),
        generated_at,
        code,
        f"Region {code}",
        country,
        MONDAY - timedelta(weeks=3),
        MONDAY,
        weeks,
        coverage or dict.fromkeys(COVERAGE, 10),
    )


def _figures(sessions: int | None, **more: int | None) -> dict[str, int | None]:
    out: dict[str, int | None] = dict.fromkeys(FAMILIES, 0)
    out["sessions"] = sessions
    out.update(more)
    return out


# --- the push body ------------------------------------------------------------------


def test_encode_parse_round_trip() -> None:
    push = _push("KE-NBO", {MONDAY: _figures(40, **{"blocked.malware": None, "tamper": 7})})
    assert parse_push(encode_push(push)) == push


@given(st.binary(max_size=300))
def test_parse_push_refuses_any_bytes_cleanly(data: bytes) -> None:
    with contextlib.suppress(PushError):
        parse_push(data)


_scalar = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
_json = _scalar | st.lists(_scalar, max_size=3) | st.dictionaries(st.text(max_size=12), _scalar)


@given(
    st.sampled_from(
        [
            "schema",
            "push_id",
            "generated_at",
            "region",
            "first_week",
            "last_week",
            "weeks",
            "coverage",
        ]
    ),
    _json,
    st.booleans(),
)
def test_parse_push_refuses_any_changed_field_cleanly(key: str, value: object, nest: bool) -> None:
    """A valid body with one field (or one figure) replaced by anything: a push or a
    PushError, never another exception."""
    body = json.loads(encode_push(_push("KE-NBO", {MONDAY: _figures(40)})))
    if nest:
        body["weeks"]["2026-11-02"][key] = value
    else:
        body[key] = value
    with contextlib.suppress(PushError):
        parse_push(json.dumps(body).encode())


@given(
    st.dictionaries(
        st.sampled_from(
            ["sessions", "tamper", "p2p", "blocked.malware", "blocked.x_y", "reports_on_time"]
        ),
        st.none() | st.integers(min_value=0, max_value=2**40),
    ),
    st.integers(min_value=0, max_value=3),
)
def test_any_valid_push_reads_back(figures: dict[str, int | None], week: int) -> None:
    push = _push("KE-NBO", {MONDAY - timedelta(weeks=week): figures})
    assert parse_push(encode_push(push)) == push


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": 2}, "schema"),
        ({"push_id": "not-a-uuid"}, "push_id"),
        ({"first_week": "2026-11-03"}, "Monday"),
        ({"last_week": "2025-01-06"}, "at most"),
        ({"weeks": {"2026-11-09": {}}}, "outside"),
        ({"weeks": {"2026-11-02": {"kiosk.k-1": 3}}}, "unknown figure"),
        ({"weeks": {"2026-11-02": {"sessions": -1}}}, "count or null"),
        ({"weeks": {"2026-11-02": {"sessions": 2.5}}}, "count or null"),
        ({"weeks": {"2026-11-02": {"sessions": True}}}, "count or null"),
        ({"coverage": {"kiosks_enrolled": 3}}, "coverage"),
        ({"region": {"code": "ke nbo", "name": "x", "country": "KE"}}, "region.code"),
    ],
)
def test_parse_push_refusals(change: dict[str, object], message: str) -> None:
    body = json.loads(encode_push(_push("KE-NBO", {MONDAY: _figures(40)})))
    body.update(change)
    with pytest.raises(PushError, match=message):
        parse_push(json.dumps(body).encode())


def test_week_figures_are_the_published_ones() -> None:
    """The child publishes each family and category through the cell key method:
    nothing but a published figure (or null) leaves it."""
    noise = noise_table()
    counts = {
        "sessions.login": Cell(30, 11),
        "sessions.guest": Cell(12, 99),
        "blocked.malware": Cell(2, 5),
        "notices.acknowledged": Cell(0, 0),
    }
    out = week_figures(counts, noise, 5)
    assert set(out) == {*FAMILIES, "blocked.malware"}
    sessions = published_cell(Cell(42, 110), noise, 5)
    assert out["sessions"] == sessions.value
    assert out["blocked.malware"] is None  # 2 is below the threshold whatever its noise
    assert out["notices_acknowledged"] == 0 and out["p2p"] == 0


# --- the parent ---------------------------------------------------------------------


def _admin(engine: Engine) -> CurrentUser:
    with engine.connect() as conn:
        ids = frozenset(r.id for r in list_regions(conn))
    return CurrentUser(1, "admin@example.org", "admin", "x", ids)


def _dashboard(engine: Engine, clock: Clock, regions: tuple[str, ...] = ()) -> DashboardData:
    filters = Filters(regions, None, MONDAY - timedelta(weeks=3), MONDAY + timedelta(days=6))
    with engine.connect() as conn:
        return build_dashboard(conn, _admin(engine), filters, int(clock()), 5)


def _rows(table: Table) -> dict[str, dict[str, Value]]:
    return {r.key: r.values for r in [*table.rows, *table.footer()]}


def test_hidden_figures_stay_hidden_in_every_sum(engine: Engine, clock: Clock) -> None:
    """KE-A's sessions were hidden by the child; the parent never had the value, so no
    sum holds it: the country and the total are KE-B's figure alone, and a week or a
    country whose every part is hidden is hidden (never 0, never a number)."""
    now = int(clock())
    with engine.begin() as conn:
        child = register_child(conn, "kenya", KEY_A, [], ["KE", "UG"], now)
        week2 = MONDAY - timedelta(weeks=1)
        assert (
            apply_push(
                conn,
                child,
                _push("KE-A", {MONDAY: _figures(None), week2: _figures(None)}),
                now,
            )
            == "stored"
        )
        apply_push(conn, child, _push("KE-B", {MONDAY: _figures(40)}), now)
        apply_push(conn, child, _push("UG-C", {MONDAY: _figures(None)}, country="UG"), now)
        stored = {
            (r.name, r.value)
            for r in conn.execute(select(pushed_weekly.c.name, pushed_weekly.c.value))
        }
    assert ("sessions", None) in stored and ("sessions", 40) in stored
    data = _dashboard(engine, clock)
    regions = _rows(data.indicators.regions)
    assert regions["KE-A"]["sessions"] is None
    assert regions["KE-B"]["sessions"] == 40
    assert regions["UG-C"]["sessions"] is None
    assert regions["total"]["sessions"] == 40
    assert data.country_table is not None
    countries = _rows(data.country_table)
    assert countries["KE"]["sessions"] == 40  # KE-B's 40 and nothing of KE-A
    assert countries["KE"]["sessions"] == regions["KE-B"]["sessions"]
    assert countries["UG"]["sessions"] is None  # hidden, not 0
    weekly = _rows(data.indicators.weekly)
    assert weekly["2026-W45"]["sessions"] == 40
    assert weekly["2026-W44"]["sessions"] is None  # only KE-A's hidden figure that week
    assert weekly["2026-W43"]["sessions"] == "no_data"
    assert data.pushed == {"KE-A": "kenya", "KE-B": "kenya", "UG-C": "kenya"}
    assert data.headline is not None and data.headline.figures[0].current == 40


def test_re_push_replaces_and_never_double_counts(engine: Engine, clock: Clock) -> None:
    now = int(clock())
    with engine.begin() as conn:
        child = register_child(conn, "kenya", KEY_A, ["KE-B"], [], now)
        first = _push("KE-B", {MONDAY: _figures(40), MONDAY - timedelta(weeks=1): _figures(9)})
        assert apply_push(conn, child, first, now) == "stored"
        assert apply_push(conn, child, first, now) == "duplicate"
        again = _push("KE-B", {MONDAY: _figures(40)}, generated_at=2_000)
        assert apply_push(conn, child, again, now) == "stored"
        older = _push("KE-B", {MONDAY: _figures(99)}, generated_at=1_500)
        assert apply_push(conn, child, older, now) == "stale"
    regions = _rows(_dashboard(engine, clock).indicators.regions)
    # The second push replaced the weeks: 40, not 80 or 89, and the dropped week is gone.
    assert regions["KE-B"]["sessions"] == 40


_FIGURE = st.none() | st.integers(min_value=0, max_value=2**40)
_WEEK_FIGURES = st.dictionaries(
    st.sampled_from(
        ["sessions", "tamper", "p2p", "blocked.malware", "blocked.phishing", *COMPLETENESS]
    ),
    _FIGURE,
)


def test_database_sums_are_the_sums_of_each_published_figure(engine: Engine, clock: Clock) -> None:
    """The dashboard's sums and completeness (grouped in the database) equal what each
    stored figure gives through ``as_cell``, added up here: a hidden figure adds nothing
    and counts as one hidden part; completeness figures are not counters."""
    now = int(clock())
    with engine.begin() as conn:
        child = register_child(conn, "kenya", KEY_A, [], ["KE"], now)
    generated = iter(range(1_000, 10**9))
    weeks = [MONDAY - timedelta(weeks=k) for k in range(4)]

    @hyp_settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.dictionaries(st.sampled_from(weeks), _WEEK_FIGURES), min_size=3, max_size=3))
    def run(pushes: list[dict[date, dict[str, int | None]]]) -> None:
        with engine.begin() as conn:
            for i, by_week in enumerate(pushes):
                push = _push(f"KE-{i}", by_week, generated_at=next(generated))
                assert apply_push(conn, child, push, now) == "stored"
            ids = frozenset(r.id for r in list_regions(conn))
            first, last = weeks[-1], weeks[1]  # a range that leaves a week out
            stored = conn.execute(
                select(
                    pushed_weekly.c.region_id,
                    pushed_weekly.c.week_start,
                    pushed_weekly.c.name,
                    pushed_weekly.c.value,
                ).where(pushed_weekly.c.week_start.between(first, last))
            ).all()
            want_week: dict[date, dict[str, Cell]] = {}
            want_region: dict[int, dict[str, Cell]] = {}
            want_done: dict[tuple[int, date], dict[str, Cell]] = {}
            for rid, week, name, value in stored:
                cell = as_cell(value)
                if name in COMPLETENESS:
                    want_done.setdefault((rid, week), {})[name] = cell
                    continue
                counter = FAMILY_COUNTER.get(name, name)
                of_week = want_week.setdefault(week, {})
                of_week[counter] = of_week.get(counter, Cell()) + cell
                of_region = want_region.setdefault(rid, {})
                of_region[counter] = of_region.get(counter, Cell()) + cell
            assert pushed_by_week(conn, ids, first, last) == want_week
            assert pushed_by_region(conn, ids, first, last) == want_region
            done = pushed_completeness(conn, ids, first, last)
            assert set(done) == set(want_done)
            want_done_week: dict[date, WeekCells] = {}
            for (_rid, week), cells in want_done.items():
                region_week = WeekCells(*(cells.get(name, Cell()) for name in COMPLETENESS))
                assert done[(_rid, week)] == region_week
                want_done_week[week] = want_done_week.get(week, WeekCells()) + region_week
            assert pushed_completeness_by_week(conn, ids, first, last) == want_done_week

    run()


def test_pushed_completeness(engine: Engine, clock: Clock) -> None:
    """Completeness pushed per week is shown as published and summed like the other
    figures (a hidden part adds nothing); it never makes a week "have data" in the
    indicator tables."""
    now = int(clock())
    week2 = MONDAY - timedelta(weeks=1)
    done = {"kiosks_expected": 20, "reports_received": 18, "reports_on_time": None}
    with engine.begin() as conn:
        child = register_child(conn, "kenya", KEY_A, [], ["KE"], now)
        only_done: dict[str, int | None] = {
            "kiosks_expected": 20,
            "reports_received": 0,
            "reports_on_time": 0,
        }
        a = _push("KE-A", {MONDAY: _figures(40) | done, week2: only_done})
        apply_push(conn, child, a, now)
        hidden = dict.fromkeys(done)
        apply_push(conn, child, _push("KE-B", {MONDAY: _figures(9) | hidden}), now)
    data = _dashboard(engine, clock)
    assert data.completeness is not None
    rows = _rows(data.completeness)
    assert rows["2026-W45"] == {
        "kiosks_expected": 20,  # KE-A's 20 and nothing of KE-B's hidden figure
        "reports_received": 18,
        "reports_on_time": None,  # only hidden parts: hidden, not 0
        "completeness_rate": 90.0,
        "timeliness_rate": None,
    }
    assert rows["2026-W44"]["kiosks_expected"] == 20
    assert rows["2026-W44"]["reports_received"] == 0 and rows["2026-W44"]["completeness_rate"] == 0
    assert rows["2026-W43"]["kiosks_expected"] == 0  # nothing pushed: nothing expected
    assert rows["total"]["kiosks_expected"] == 40 and rows["total"]["reports_received"] == 18
    weekly = _rows(data.indicators.weekly)
    assert weekly["2026-W44"]["sessions"] == "no_data"  # completeness alone is not data
    assert weekly["2026-W45"]["sessions"] == 49
    filters = Filters((), None, MONDAY - timedelta(weeks=3), MONDAY + timedelta(days=6))
    with engine.connect() as conn:  # the exports' view: per region too, same weeks
        export = build_dashboard(conn, _admin(engine), filters, now, 5, region_completeness=True)
    assert export.completeness is not None and _rows(export.completeness) == rows
    by_region = {t.key: _rows(t) for t in export.completeness_regions}
    assert by_region["completeness:KE-A"]["2026-W45"]["reports_received"] == 18
    assert by_region["completeness:KE-B"]["2026-W45"]["kiosks_expected"] is None
    only_b = _dashboard(engine, clock, ("KE-B",))
    assert only_b.completeness is not None
    assert _rows(only_b.completeness)["2026-W45"]["kiosks_expected"] is None


def test_a_child_speaks_only_for_its_regions(engine: Engine, clock: Clock) -> None:
    now = int(clock())
    with engine.begin() as conn:
        create_region(conn, "KE-OWN", "Own kiosks", "KE", now)
        a = register_child(conn, "kenya", KEY_A, ["KE-B"], ["UG"], now)
        b = register_child(conn, "other", KEY_B, [], ["KE"], now)
        for child, push, code in (
            (a, _push("KE-X", {}), 403),  # neither the region nor its country
            (a, _push("TZ-B", {}, country="TZ"), 403),
            (b, _push("KE-OWN", {}), 409),  # the parent's own region
        ):
            with pytest.raises(PushRefused) as e:
                apply_push(conn, child, push, now)
            assert e.value.status == code
        apply_push(conn, a, _push("KE-B", {}), now)
        with pytest.raises(PushRefused) as e:
            apply_push(conn, b, _push("KE-B", {}), now)  # kenya's region
        assert e.value.code == "region_conflict"
        with pytest.raises(ChildError, match="already registered"):
            register_child(conn, "third", KEY_A, ["KE-C"], [], now)


def test_signed_random_bodies_get_4xx(client: TestClient, engine: Engine, clock: Clock) -> None:
    """Anything a registered child signs is stored or refused with a 4xx: never a 500."""
    key = Ed25519PrivateKey.generate()
    public = public_key_string(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    with engine.begin() as conn:
        register_child(conn, "kenya", public, [], ["KE"], int(clock()))
    valid = json.loads(encode_push(_push("KE-NBO", {MONDAY: _figures(40)})))

    def post(body: bytes) -> int:
        ts = int(clock())
        signature = key.sign(signing_string("POST", PUSH_PATH, ts, body))
        r = client.post(
            PUSH_PATH,
            content=body,
            headers={
                HEADER_KEY: public,
                HEADER_TIMESTAMP: str(ts),
                HEADER_SIGNATURE: base64.b64encode(signature).decode(),
            },
        )
        assert r.status_code < 500, r.text
        return r.status_code

    assert post(json.dumps(valid).encode()) == 200

    @hyp_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(sorted(valid)), _json, st.binary(max_size=60))
    def run(field: str, value: object, raw: bytes) -> None:
        changed = {**valid, field: value, "push_id": str(uuid.uuid4())}
        assert post(json.dumps(changed).encode()) in (200, 403, 409, 422)
        assert post(raw) == 422

    run()


def test_admin_page_registers_children(client: TestClient, engine: Engine, world: World) -> None:
    assert login(client, world.coord_a).status_code == 303
    assert client.get("/admin/children").status_code == 404  # coordinators: no such page
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/").text)})
    assert login(client, world.admin).status_code == 303
    page = client.get("/admin/children")
    assert page.status_code == 200 and "kiosk-server server-key" in page.text
    csrf = csrf_of(page.text)
    form = {"name": "kenya-1", "key": KEY_A, "regions": "ke-nbo, KE-MSA", "csrf_token": csrf}
    assert client.post("/admin/children", data={**form, "key": "nope"}).status_code == 400
    assert client.post("/admin/children", data={**form, "csrf_token": "x"}).status_code == 403
    r = client.post("/admin/children", data=form)
    assert r.status_code == 201 and KEY_A in r.text and "KE-MSA KE-NBO" in r.text
    with engine.connect() as conn:
        child = get_child(conn, "kenya-1")
    assert child is not None and child.active and child.regions == {"KE-NBO", "KE-MSA"}
    r = client.post(f"/admin/children/{child.id}", data={"csrf_token": csrf})  # unchecked
    assert r.status_code == 200
    with engine.connect() as conn:
        again = get_child(conn, "kenya-1")
    assert again is not None and not again.active
    assert client.post("/admin/children/999", data={"csrf_token": csrf}).status_code == 404


def test_a_view_mixing_own_and_pushed_regions(engine: Engine, clock: Clock) -> None:
    """A parent with kiosks of its own: its region's figures in a mixed view are the
    ones its own view publishes, summed with the pushed ones."""
    now = int(clock())
    with engine.begin() as conn:
        own = create_region(conn, "KE-OWN", "Own kiosks", "KE", now)
        child = register_child(conn, "kenya", KEY_A, [], ["KE"], now)
        apply_push(conn, child, _push("KE-B", {MONDAY: _figures(40)}), now)
    seed_region = {"sessions.login": 30, "sessions.guest": 12, "blocked.malware": 2}
    _store(engine, own.id, seed_region, MONDAY, now)
    alone = _rows(_dashboard(engine, clock, ("KE-OWN",)).indicators.regions)["KE-OWN"]
    mixed = _dashboard(engine, clock)
    regions = _rows(mixed.indicators.regions)
    own_sessions = alone["sessions"]  # 42 with its noise (the cell key method's)
    assert isinstance(own_sessions, int) and abs(own_sessions - 42) <= 3
    assert regions["KE-OWN"]["sessions"] == own_sessions
    assert regions["KE-OWN"]["blocked"] is None  # 2: hidden on its own, hidden here
    assert regions["total"]["sessions"] == own_sessions + 40
    assert mixed.country_table is not None
    assert _rows(mixed.country_table)["KE"]["sessions"] == own_sessions + 40
    assert mixed.pushed == {"KE-B": "kenya"}


def _store(engine: Engine, region_id: int, counts: dict[str, int], day: date, now: int) -> None:
    key = "ed25519:" + base64.b64encode(bytes(range(32))).decode()
    with engine.begin() as conn:
        code = create_code(conn, region_id, 1, now + 86400, now, None)
        kiosk = enroll(conn, EnrollRequest(code, key, "Café", "0.1.0"), now)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        report = Report(str(uuid.uuid4()), kiosk.kiosk_id, start, 1, counts, "0.1.0", {})
        store_report(conn, report, region_id, "KE", now)


class _Answer:
    def __init__(self, status: int, body: dict[str, str]) -> None:
        self.status_code = status
        self._body = body
        self.text = json.dumps(body)

    def json(self) -> dict[str, str]:
        return self._body


class _FlakyParent:
    """Answers 503 (or drops the connection) before it stores: the same bytes each time."""

    def __init__(self, failures: list[int | None]) -> None:
        self.failures = failures
        self.bodies: list[bytes] = []

    def post(self, url: str, data: bytes, headers: dict[str, str], timeout: float) -> _Answer:
        self.bodies.append(data)
        if self.failures:
            status = self.failures.pop(0)
            if status is None:
                raise requests.ConnectionError("refused")
            return _Answer(status, {"error": "x"})
        return _Answer(200, {"status": "stored"})


def test_push_parent_retries_the_same_push(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    now = int(clock())
    with engine.begin() as conn:
        create_region(conn, "KE-NBO", "Nairobi", "KE", now)
    s = replace(settings, parent_url="https://parent.example")
    waits: list[float] = []
    flaky = _FlakyParent([None, 503])
    out = push_parent(s, engine, clock, waits.append, flaky)  # type: ignore[arg-type]
    assert out.exit_code == 0 and out.lines == ["KE-NBO: stored"]
    assert len(flaky.bodies) == 3 and len(set(flaky.bodies)) == 1  # one push id
    assert waits == [2.0, 10.0]
    down = _FlakyParent([None, None, None])
    out = push_parent(s, engine, clock, waits.append, down)  # type: ignore[arg-type]
    assert out.exit_code == EX_TEMPFAIL and "the next run retries" in out.lines[0]
    refused = _FlakyParent([403])
    out = push_parent(s, engine, clock, waits.append, refused)  # type: ignore[arg-type]
    assert out.exit_code == 1 and len(refused.bodies) == 1  # a 4xx is not retried


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://national.example.org", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080", True),
        ("http://national.example.org", False),  # never in clear over a network
        ("http://192.0.2.10", False),
        ("ftp://national.example.org", False),
        ("national.example.org", False),
    ],
)
def test_parent_url_is_https(url: str, ok: bool) -> None:
    if ok:
        assert settings_from_mapping({"parent_url": url}).parent_url == url
    else:
        with pytest.raises(SettingsError, match="parent_url"):
            settings_from_mapping({"parent_url": url})


def test_dhis2_exports_pushed_regions_as_published(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    """A pushed region's week goes to DHIS2 as the child published it; a hidden figure
    is left out, as for the server's own regions."""
    now = int(clock())
    with engine.begin() as conn:
        child = register_child(conn, "kenya", KEY_A, ["KE-MSA"], [], now)
        figures = _figures(40, **{"tamper": None, "blocked.malware": 7})
        figures |= {"kiosks_expected": 12, "reports_received": 11, "reports_on_time": None}
        apply_push(conn, child, _push("KE-MSA", {MONDAY: figures}), now)
        mapping = {
            "dataSet": "pBOMPrpg1QX",
            "dataElements": {"sessions": "fbfJHSPpUQD", "tamper": "cYeuwXTCPkU"}
            | {"blocked": "Jtf34kNZhzP", "p2p": "kB4BbPyXKf1"}
            | {"kiosks_expected": "Ex7ectedK1o", "reports_on_time": "OnT1meRepor"}
            | {"reports_received": "Rece1vedRep"},
            "orgUnits": {"KE-MSA": "DiszpKrYNg8"},
        }
        save_document(conn, MAPPING_DOCUMENT, json.dumps(mapping), now)
    login(client, world.admin)
    period = {"from": MONDAY.isoformat(), "to": (MONDAY + timedelta(days=6)).isoformat()}
    dvs = client.get("/api/v1/dhis2/dataValueSets", params=period).json()
    assert {
        (v["dataElement"], v["orgUnit"], v["period"], v["value"]) for v in dvs["dataValues"]
    } == {
        ("fbfJHSPpUQD", "DiszpKrYNg8", "2026W45", "40"),
        ("Jtf34kNZhzP", "DiszpKrYNg8", "2026W45", "7"),  # blocked: its categories summed
        ("kB4BbPyXKf1", "DiszpKrYNg8", "2026W45", "0"),
        ("Ex7ectedK1o", "DiszpKrYNg8", "2026W45", "12"),  # completeness, as pushed
        ("Rece1vedRep", "DiszpKrYNg8", "2026W45", "11"),
    }
