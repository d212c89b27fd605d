"""A parent server's dashboard (docs/national-view.md): 50 regions pushed by 5 child
servers (5 countries), a year of weekly published figures each (completeness included),
served by ``kiosk-server serve``; p50/p95 and server CPU of the page, CSV and JSON as an
admin.

    python -m benchmarks.national_bench [--db sqlite|postgresql|both] [--weeks 53]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import server_bench
from regional_server.db.engine import make_engine
from regional_server.db.migrate import upgrade
from regional_server.national.children import register_child
from regional_server.national.payload import COVERAGE, FAMILIES, Push
from regional_server.national.receive import apply_push
from regional_server.rollup import week_start
from regional_server.store.users import create_user

CATEGORIES = ("abuse_material", "grooming", "malware", "phishing", "gambling", "adult")


def load_parent(engine: Any, weeks: int, regions: int = 50, children: int = 5) -> dict[str, Any]:
    """Register the children and apply one push per region (``weeks`` weeks each)."""
    rng = random.Random(20)
    t0 = time.perf_counter()
    now = int(time.time())
    last = week_start(datetime.now(UTC).date())
    first = last - timedelta(weeks=weeks - 1)
    rows = 0
    with engine.begin() as conn:
        create_user(conn, "admin@example.org", "bench password 1", "admin", [], now, 2**12)
        create_user(conn, "coord@example.org", "bench password 1", "admin", [], now, 2**12)
        for c in range(children):
            country = f"C{chr(65 + c)}"
            key = "ed25519:" + f"{c:043d}" + "="
            child = register_child(conn, f"child-{c}", key, [], [country], now)
            for r in range(regions // children):
                by_week: dict[Any, dict[str, int | None]] = {}
                for k in range(weeks):
                    figures: dict[str, int | None] = {
                        f: rng.randint(0, 4000) if f == "sessions" else rng.randint(0, 300)
                        for f in FAMILIES
                    }
                    for cat in CATEGORIES:
                        figures[f"blocked.{cat}"] = rng.randint(0, 60)
                    expected = rng.randint(20, 400)
                    received = rng.randint(expected // 2, expected)
                    figures["kiosks_expected"] = expected
                    figures["reports_received"] = received
                    figures["reports_on_time"] = rng.randint(received // 2, received)
                    for name in figures:  # about one figure in ten hidden (<5)
                        if rng.random() < 0.1:
                            figures[name] = None
                    by_week[first + timedelta(weeks=k)] = figures
                    rows += len(figures)
                push = Push(
                    str(uuid.uuid4()),
                    now,
                    f"{country}-R{r:02d}",
                    f"Region {r} of {country}",
                    country,
                    first,
                    last,
                    by_week,
                    dict.fromkeys(COVERAGE, rng.randint(20, 400)),
                )
                apply_push(conn, child, push, now)
    return {"pushed_rows": rows, "load_seconds": round(time.perf_counter() - t0, 1)}


def bench(kind: str, weeks: int, n: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        server_bench.database(kind, Path(tmp)) as (settings, url),
    ):
        engine = make_engine(settings)
        upgrade(engine)
        out: dict[str, Any] = {"db": kind, **load_parent(engine, weeks)}
        admin = server_bench._session(engine, "admin@example.org")
        engine.dispose()
        year_ago = (datetime.now(UTC).date() - timedelta(weeks=weeks)).isoformat()
        server_bench._PG[0] = bool(url)
        with server_bench.server(settings, url, 1) as (port, pid):
            for label, path in (
                ("page, admin, 12 weeks, 50 pushed regions", "/"),
                ("page, admin, 1 year, 50 pushed regions", f"/?from={year_ago}"),
                ("CSV, admin, 1 year", f"/export.csv?from={year_ago}"),
                ("JSON, admin, 12 weeks", "/api/v1/indicators"),
            ):
                out[label] = server_bench._latency(port, pid, path, admin, n)
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--weeks", type=int, default=53)
    parser.add_argument("--requests", type=int, default=40, help="requests per latency figure")
    args = parser.parse_args(argv)
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    for kind in kinds:
        print(json.dumps(bench(kind, args.weeks, args.requests), indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
