"""Reporting completeness read two ways, side by side: joining ``kiosk_weeks`` to the
kiosks (the first version) and from ``completeness_weekly`` (the branch's).

10,000 kiosks in 50 regions, 53 weeks each, in a temporary SQLite database; each
figure is 9 calls (min and median)::

    python -m benchmarks.completeness_bench
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, case, func, or_, select

from regional_server.completeness import week_end
from regional_server.db.engine import make_engine
from regional_server.db.migrate import upgrade
from regional_server.db.models import kiosk_weeks, kiosks
from regional_server.rollup import week_start
from regional_server.settings import Settings
from regional_server.store.completeness import completeness_cells

KIOSKS, REGIONS, WEEKS = 10_000, 50, 53


def joined(conn: Connection, ids: frozenset[int], weeks: Sequence[date], timely: int) -> Any:
    """The first version: kiosk weeks joined to kiosks, grouped by region and week."""
    kw = kiosk_weeks.c
    on_time = kw.first_received_at <= kw.week_end_at + timely * 86400
    key = kiosks.c.record_key
    return conn.execute(
        select(
            kw.region_id,
            kw.week_start,
            func.count(),
            func.sum(key),
            func.sum(case((on_time, 1), else_=0)),
            func.sum(case((on_time, key), else_=0)),
        )
        .select_from(kiosk_weeks.join(kiosks, kiosks.c.id == kw.kiosk_id))
        .where(
            kw.region_id.in_(sorted(ids)),
            kw.week_start >= weeks[0],
            kw.week_start <= weeks[-1],
            kiosks.c.enrolled_at < kw.week_end_at,
            or_(kiosks.c.retired_at.is_(None), kiosks.c.retired_at >= kw.week_end_at),
        )
        .group_by(kw.region_id, kw.week_start)
    ).all()


def main() -> int:
    engine = make_engine(Settings(data_dir=Path(tempfile.mkdtemp())))
    upgrade(engine)
    rng = random.Random(1)
    now = 1_796_000_000
    last = week_start(date(2026, 11, 30))
    weeks = [last - timedelta(weeks=i) for i in range(WEEKS)][::-1]
    raw: Any = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.executemany(
            "INSERT INTO regions VALUES (?,?,?,?,0)",
            [(r + 1, f"KE-R{r:02d}", f"R{r}", "KE") for r in range(REGIONS)],
        )
        enrolled = now - 400 * 86400
        rows = [
            (
                f"k-{k:016x}",
                k % REGIONS + 1,
                f"ed{k}",
                "c",
                "0.1",
                enrolled,
                now,
                rng.getrandbits(32),
            )
            for k in range(KIOSKS)
        ]
        cur.executemany(
            "INSERT INTO kiosks (id, region_id, public_key, cafe_name, agent_version, "
            "enrolled_at, last_report_at, record_key) VALUES (?,?,?,?,?,?,?,?)",
            rows,
        )
        week_rows = []
        rolled: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
        for k in rows:
            for w in weeks:
                key = rng.getrandbits(32)
                end = week_end(w)
                week_rows.append((k[0], w.isoformat(), k[1], end, end - 5 * 86400, key))
                cell = rolled[(k[1], w.isoformat())]
                cell[0] += 1
                cell[1] = (cell[1] + key) % 2**32
        cur.executemany("INSERT INTO kiosk_weeks VALUES (?,?,?,?,?,?)", week_rows)
        # The first version's index.
        cur.execute("CREATE INDEX ix_kw_region_week ON kiosk_weeks (region_id, week_start)")
        cur.executemany(
            "INSERT INTO completeness_weekly VALUES (?,?,0,?,?)",
            [(r, w, n, key) for (r, w), (n, key) in rolled.items()],
        )
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    ways: dict[str, Callable[..., Any]] = {"join": joined, "rollup": completeness_cells}
    for n, ids in (
        (12, frozenset(range(1, REGIONS + 1))),
        (WEEKS, frozenset(range(1, REGIONS + 1))),
        (12, frozenset({1})),
    ):
        chosen = weeks[-n:]
        with engine.connect() as conn:
            out = {}
            for name, way in ways.items():
                times = []
                for _ in range(9):
                    t = time.perf_counter()
                    way(conn, ids, chosen, 3)
                    times.append(time.perf_counter() - t)
                out[name] = f"{min(times) * 1000:.1f} / {statistics.median(times) * 1000:.1f}"
        print(f"{n} weeks, {len(ids)} regions: join {out['join']} ms; rollup {out['rollup']} ms")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
