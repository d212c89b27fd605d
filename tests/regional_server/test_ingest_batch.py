"""store_batch and the group-commit queue: one transaction for many reports."""

from __future__ import annotations

import time
from concurrent.futures import Future

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from regional_server.db.models import rollup_weekly
from regional_server.ingest_queue import IngestQueue
from regional_server.store.ingest import Pending, ReportConflict, store_batch
from tests.regional_server.helpers import Clock, World, enroll, make_report, new_code


def test_batch_with_retries_and_a_conflict(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    code = new_code(engine, world.region_a, clock, uses=2)
    a, b = enroll(client, code), enroll(client, code)
    r1 = make_report(a, {"sessions.login": 5})
    r2 = make_report(a, {"sessions.login": 7})
    stolen = make_report(b, {"sessions.login": 100}, report_id=r1.report_id)
    items = [Pending(r, world.region_a, "KE") for r in (r1, r2, r1, stolen)]
    with engine.begin() as conn:
        results = store_batch(conn, items, int(clock()))
    assert results[:3] == [True, True, False]
    assert isinstance(results[3], ReportConflict)
    with engine.begin() as conn:
        again = store_batch(conn, items[:2], int(clock()))
        total = conn.execute(select(rollup_weekly.c.total)).scalar_one()
    assert again == [False, False]
    assert total == 12


def test_queue_commits_and_resolves_every_future(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = enroll(client, new_code(engine, world.region_a, clock))
    queue = IngestQueue(engine, clock)
    reports = [make_report(kiosk, {"sessions.login": 1}) for _ in range(300)]
    futures: list[Future[bool]] = [queue.submit(Pending(r, world.region_a, "KE")) for r in reports]
    futures.append(queue.submit(Pending(reports[0], world.region_a, "KE")))
    deadline = time.monotonic() + 60
    results = [f.result(timeout=max(1.0, deadline - time.monotonic())) for f in futures]
    queue.close()
    assert results.count(True) == 300 and results[-1] is False
    with engine.connect() as conn:
        assert conn.execute(select(rollup_weekly.c.total)).scalar_one() == 300


def test_storage_failure_fails_only_the_futures_concerned(
    engine: Engine, world: World, clock: Clock
) -> None:
    from kiosk_agent.contracts.report import Report
    from tests.regional_server.helpers import Kiosk

    ghost = Kiosk(key=None, kiosk_id="k-not-enrolled")  # type: ignore[arg-type]
    bad: Report = make_report(ghost, {"sessions.login": 1})
    queue = IngestQueue(engine, clock)
    future = queue.submit(Pending(bad, world.region_a, "KE"))
    with pytest.raises(RuntimeError):
        future.result(timeout=30)
    queue.close()
