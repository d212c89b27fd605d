"""The fast ingest path: batch aggregation against one-by-one storage, the writers'
file lock, concurrent batches on shared rows, and the upload answer's headers."""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select

from kiosk_agent.contracts.report import Report, encode_body
from regional_server.db.models import kiosk_feeds, kiosks, reports, rollup_weekly
from regional_server.ingest_queue import IngestQueue, _FileLock, writer_lock_path
from regional_server.perturb import KEY_RANGE
from regional_server.rollup import week_start
from regional_server.store.ingest import Pending, ReportConflict, store_batch, store_report
from tests.regional_server.helpers import (
    Clock,
    Kiosk,
    World,
    enroll,
    make_report,
    new_code,
    signed_headers,
    upload,
)

MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
COUNTERS = ["sessions.login", "notices.acknowledged", "blocked.csam", "p2p.bittorrent"]


def _kiosks(client: TestClient, engine: Engine, world: World, clock: Clock) -> list[Kiosk]:
    code_a = new_code(engine, world.region_a, clock, uses=3)
    code_b = new_code(engine, world.region_b, clock, uses=2)
    return [enroll(client, code_a) for _ in range(3)] + [enroll(client, code_b) for _ in range(2)]


def _snapshot(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {
            "reports": sorted(
                conn.execute(select(reports.c.report_id, reports.c.kiosk_id, reports.c.counts))
            ),
            "rollup": sorted(
                (r.region_id, r.week_start, r.counter, r.country, r.total)
                for r in conn.execute(select(rollup_weekly))
            ),
            "kiosks": sorted(
                conn.execute(select(kiosks.c.id, kiosks.c.last_report_at, kiosks.c.agent_version))
            ),
            "feeds": sorted(conn.execute(select(kiosk_feeds))),
        }


def _clear(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(reports))
        conn.execute(delete(rollup_weekly))
        conn.execute(delete(kiosk_feeds))
        conn.execute(kiosks.update().values(last_report_at=None, agent_version=""))


_report_plan = st.lists(
    st.tuples(
        st.integers(0, 4),  # kiosk
        st.integers(0, 20),  # days after MONDAY (three ISO weeks)
        st.dictionaries(st.sampled_from(COUNTERS), st.integers(0, 50), max_size=4),
        st.sampled_from(["0.1.0", "0.2.0"]),
        st.integers(1, 3),  # feed version
        st.integers(0, 3),  # 0: repeat an earlier report id (a retry)
    ),
    min_size=1,
    max_size=40,
)


def test_batches_store_what_one_by_one_stores(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    fleet = _kiosks(client, engine, world, clock)

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(plan=_report_plan, cuts=st.lists(st.integers(1, 40), max_size=6))
    def check(plan: list[tuple[int, int, dict[str, int], str, int, int]], cuts: list[int]) -> None:
        _check_batches(engine, world, clock, fleet, plan, cuts)

    check()


def _check_batches(
    engine: Engine,
    world: World,
    clock: Clock,
    fleet: list[Kiosk],
    plan: list[tuple[int, int, dict[str, int], str, int, int]],
    cuts: list[int],
) -> None:
    region = [world.region_a] * 3 + [world.region_b] * 2
    country = ["KE"] * 3 + ["SN"] * 2
    items: list[Pending] = []
    for k, day, counts, version, feed, again in plan:
        if again == 0 and items and items[-1].report.kiosk_id == fleet[k].kiosk_id:
            items.append(items[-1])
            continue
        report = Report(
            str(uuid.uuid4()),
            fleet[k].kiosk_id,
            MONDAY + timedelta(days=day),
            1,
            counts,
            version,
            {"hotline": feed},
        )
        items.append(Pending(report, region[k], country[k]))
    now = int(clock())

    _clear(engine)
    one_by_one = []
    for item in items:
        with engine.begin() as conn:
            one_by_one.append(store_report(conn, item.report, item.region_id, item.country, now))
    expected = _snapshot(engine)

    _clear(engine)
    batched: list[bool | ReportConflict] = []
    bounds = sorted({0, len(items), *(c for c in cuts if c < len(items))})
    for lo, hi in itertools.pairwise(bounds):
        with engine.begin() as conn:
            batched += store_batch(conn, items[lo:hi], now)
    assert batched == one_by_one
    assert _snapshot(engine) == expected
    # Each cell's key is the sum of its stored reports' record keys (cell key method).
    by_id = {i.report.report_id: i for i in reversed(items)}  # the first of each id
    keys: dict[tuple[int, date, str], int] = defaultdict(int)
    with engine.connect() as conn:
        for rid, record_key in conn.execute(select(reports.c.report_id, reports.c.record_key)):
            item = by_id[rid]
            assert record_key == item.record_key
            for name, value in item.report.counts.items():
                if value:
                    week = week_start(item.report.period_start.date())
                    keys[(item.region_id, week, name)] += record_key
        cells = {
            (r.region_id, r.week_start, r.counter): r.cell_key
            for r in conn.execute(select(rollup_weekly))
        }
    assert cells == {k: v % KEY_RANGE for k, v in keys.items()}

    # And both equal the sums computed here: each report id counted once.
    totals: dict[tuple[int, date, str], int] = defaultdict(int)
    for item in {i.report.report_id: i for i in items}.values():
        for name, value in item.report.counts.items():
            if value:
                totals[(item.region_id, week_start(item.report.period_start.date()), name)] += value
    assert {(r, w, c): t for r, w, c, _cc, t in expected["rollup"]} == dict(totals)


def test_writer_lock_path(engine: Engine, db_kind: str) -> None:
    path = writer_lock_path(engine)
    if db_kind == "sqlite":
        assert path is not None and path.name == "server.db-ingest.lock"
    else:
        assert path is None


def test_file_lock_excludes_another_holder(tmp_path: Path) -> None:
    # Two opens of one path are two lock owners, like two server processes.
    a, b = _FileLock(tmp_path / "x.lock"), _FileLock(tmp_path / "x.lock")
    order: list[str] = []

    def take_b() -> None:
        with b.held():
            order.append("b")

    with a.held():
        t = threading.Thread(target=take_b)
        t.start()
        time.sleep(0.3)
        order.append("a done")
    t.join(timeout=10)
    assert order == ["a done", "b"]
    a.close()
    b.close()


def test_concurrent_batches_on_shared_rows_do_not_deadlock(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    """Two writers (two server processes) with the same kiosks and rollup cells in
    opposite orders: every report stored once, no deadlock."""
    fleet = _kiosks(client, engine, world, clock)[:3]
    rng = random.Random(7)
    batches = []
    for _ in range(2):
        for _ in range(10):
            items = [
                Pending(
                    make_report(k, {c: 1 for c in COUNTERS}, day=MONDAY, feed_versions={"h": 1}),
                    world.region_a,
                    "KE",
                )
                for k in fleet * 4
            ]
            rng.shuffle(items)
            batches.append(items)
    errors: list[BaseException] = []

    def write(mine: list[list[Pending]]) -> None:
        try:
            for items in mine:
                with engine.begin() as conn:
                    assert all(r is True for r in store_batch(conn, items, int(clock())))
        except BaseException as e:  # reported by the assertion below
            errors.append(e)

    threads = [
        threading.Thread(target=write, args=(batches[:10],)),
        threading.Thread(target=write, args=(list(reversed(batches[10:])),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    with engine.connect() as conn:
        totals = {r.counter: r.total for r in conn.execute(select(rollup_weekly))}
    assert totals == {c: 20 * 12 for c in COUNTERS}


def test_upload_answer_has_the_headers_of_every_api_answer(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = enroll(client, new_code(engine, world.region_a, clock))
    stored = upload(client, kiosk, make_report(kiosk, {"sessions.login": 1}), clock)
    other = client.get("/api/v1/indicators")  # through FastAPI and its middleware
    assert stored.status_code == 201 and stored.json() == {"status": "stored"}
    skip = {"content-length", "content-type", "date", "set-cookie", "vary"}
    assert {k: v for k, v in stored.headers.items() if k not in skip} == {
        k: v for k, v in other.headers.items() if k not in skip
    }
    assert stored.headers["content-type"] == "application/json"
    assert stored.headers["date"].endswith(" GMT")
    assert int(stored.headers["content-length"]) == len(stored.content)


@pytest.mark.parametrize("status", [401, 400])
def test_upload_errors_are_json_with_headers(
    client: TestClient, engine: Engine, world: World, clock: Clock, status: int
) -> None:
    kiosk = enroll(client, new_code(engine, world.region_a, clock))
    if status == 401:
        r = client.post("/api/v1/reports", content=b"{}")
    else:
        report = make_report(kiosk, {"sessions.login": 1})
        bad = Report(**{**report.__dict__, "kiosk_id": "k-someone-else"})
        body = encode_body(bad)
        r = client.post(
            "/api/v1/reports", content=body, headers=signed_headers(kiosk, body, int(clock()))
        )
    assert r.status_code == status
    assert set(r.json()) == {"error", "message"}
    assert r.headers["cache-control"] == "no-store" and "date" in r.headers


def test_queue_store_from_an_event_loop(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    """``store`` (asyncio waiters, settled per batch) and ``submit`` (thread futures)
    side by side: each waiter gets its own answer."""
    a, b = _kiosks(client, engine, world, clock)[:2]
    mine = [make_report(a, {"sessions.login": 1}, day=MONDAY) for _ in range(50)]
    stolen = make_report(b, {"sessions.login": 9}, day=MONDAY, report_id=mine[0].report_id)
    queue = IngestQueue(engine, clock)

    async def main() -> tuple[list[bool | BaseException], bool]:
        side = queue.submit(Pending(mine[1], world.region_a, "KE"))  # sent twice
        waits = [queue.store(Pending(r, world.region_a, "KE")) for r in mine]
        waits.append(queue.store(Pending(stolen, world.region_b, "SN")))
        results = await asyncio.gather(*waits, return_exceptions=True)
        return results, side.result(timeout=30)

    results, side = asyncio.run(main())
    queue.close()
    assert results[0] is True and isinstance(results[-1], ReportConflict)
    assert results[2:-1] == [True] * 48
    assert {side, results[1]} == {True, False}  # stored once, the other a retry
    with engine.connect() as conn:
        assert conn.execute(select(rollup_weekly.c.total)).scalar_one() == 50


def test_file_lock_that_cannot_be_created_lets_writers_go_on(tmp_path: Path) -> None:
    lock = _FileLock(tmp_path / "missing-folder" / "x.lock")
    with lock.held():  # no lock file: the writer still writes (SQLite's busy handler)
        pass
    lock.close()


def test_a_cancelled_waiter_does_not_stop_the_writer(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    (kiosk,) = _kiosks(client, engine, world, clock)[:1]
    queue = IngestQueue(engine, clock)
    lock = _FileLock(writer_lock_path(engine))
    with lock.held():  # on SQLite the writer waits here, so the cancel comes first
        gone = queue.submit(
            Pending(make_report(kiosk, {"p2p.x": 1}, day=MONDAY), world.region_a, "KE")
        )
        gone.cancel()
    kept = queue.submit(Pending(make_report(kiosk, {"p2p.x": 1}, day=MONDAY), world.region_a, "KE"))
    assert kept.result(timeout=30) is True
    queue.close()
    lock.close()
