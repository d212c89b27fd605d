"""Regional server benchmarks, on SQLite and PostgreSQL (loopback only).

1. Ingest: ``kiosk-server serve --workers W`` in a subprocess; a single-process asyncio
   client sends pre-signed gzip reports from enrolled kiosks over keep-alive
   connections and counts stored reports per second.
2. Dashboard: 10,000 kiosks x 365 daily reports loaded directly with SQL (3.65M
   reports, their rollups, kiosk coverage); then p50/p95 of the dashboard page, the CSV
   and the JSON, as an admin (50 regions) and as a coordinator (1 region).

3. One day of a region (``--region-day 100000``): that many kiosks, one signed report
   each through the HTTP API to ``kiosk-server serve`` on PostgreSQL with its default
   worker count, timed until every report is stored and rolled up.

    python -m benchmarks.server_bench [--db sqlite|postgresql|both] [--kiosks 10000]
    python -m benchmarks.server_bench --region-day 100000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, create_engine, text

from kiosk_agent.contracts.report import Report, encode_body, signing_string
from kiosk_agent.net.ports import free_port
from regional_server.auth.sessions import create_session
from regional_server.db.engine import make_engine
from regional_server.db.migrate import upgrade
from regional_server.rollup import week_start
from regional_server.settings import Settings
from regional_server.store.codes import create_code
from regional_server.store.kiosks import enroll
from regional_server.store.regions import create_region
from regional_server.store.users import create_user

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get(
    "KIOSK_TEST_PG_URL", "postgresql+psycopg://kiosk_test:kiosk_test@127.0.0.1:5432/kiosk_test"
)
DAY = 86400
_PG = [False]  # whether the dashboard bench runs on PostgreSQL (its CPU is counted)


@contextmanager
def database(kind: str, folder: Path) -> Iterator[tuple[Settings, str]]:
    """Fresh settings for ``kind``: a SQLite file, or a new schema in PostgreSQL."""
    if kind == "sqlite":
        yield Settings(data_dir=folder, password_scrypt_n=2**12), ""
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        yield Settings(data_dir=folder, database_url=url, password_scrypt_n=2**12), url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (the uvicorn workers)."""
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def postgres_cpu_seconds() -> float:
    """CPU seconds of every running PostgreSQL process (the cluster serves this bench)."""
    import psutil

    total = 0.0
    for p in psutil.process_iter(["name"]):
        if p.info["name"] == "postgres":
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
    return total


@contextmanager
def server(settings: Settings, url: str, workers: int) -> Iterator[tuple[int, int]]:
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env["KIOSK_SERVER_DATA"] = str(settings.data_dir)
    if url:
        env["KIOSK_SERVER_DB"] = url
    else:
        env.pop("KIOSK_SERVER_DB", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "regional_server",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.2)
        time.sleep(1.0 if workers > 1 else 0.2)  # let every worker start
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ---------------------------------------------------------------- ingest


def enroll_kiosks(engine: Engine, n: int) -> list[tuple[str, Ed25519PrivateKey]]:
    now = int(time.time())
    out = []
    with engine.begin() as conn:
        region = create_region(conn, "KE-NBO", "Nairobi", "KE", now)
        code = create_code(conn, region.id, n, now + DAY, now, None)
        for _ in range(n):
            key = Ed25519PrivateKey.generate()
            raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            from kiosk_agent.contracts.report import EnrollRequest

            r = enroll(conn, EnrollRequest(code, "ed25519:" + base64.b64encode(raw).decode()), now)
            out.append((r.kiosk_id, key))
    return out


def signed_requests(kiosks: list[tuple[str, Ed25519PrivateKey]], n: int) -> list[bytes]:
    rng = random.Random(1)
    ts = int(time.time())
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for i in range(n):
        kiosk_id, key = kiosks[i % len(kiosks)]
        report = Report(
            str(uuid.uuid4()),
            kiosk_id,
            start - timedelta(days=1 + i // len(kiosks)),
            1,
            {
                "sessions.login": rng.randint(10, 80),
                "notices.shown.en": rng.randint(10, 80),
                "notices.acknowledged": rng.randint(5, 60),
                "blocked.csam": rng.randint(0, 5),
                "blocked.malware": rng.randint(0, 9),
                "tamper.dns_changed": rng.randint(0, 1),
                "p2p.bittorrent": rng.randint(0, 3),
            },
            "0.1.0",
            {"hotline": 40},
        )
        body = encode_body(report)
        sig = base64.b64encode(key.sign(signing_string("POST", "/api/v1/reports", ts, body)))
        head = (
            "POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
            f"X-Kiosk-Id: {kiosk_id}\r\nX-Kiosk-Timestamp: {ts}\r\n"
            f"X-Kiosk-Signature: {sig.decode()}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def _send_all(port: int, requests: list[bytes], concurrency: int) -> dict[int, int]:
    statuses: dict[int, int] = defaultdict(int)
    queue = iter(requests)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for req in queue:
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                statuses[status] += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return dict(statuses)


def bench_ingest(
    kind: str, n: int, workers: int, concurrency: int, fleet: int = 500
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as (settings, url):
        engine = make_engine(settings)
        upgrade(engine)
        kiosks = enroll_kiosks(engine, fleet)
        engine.dispose()
        requests = signed_requests(kiosks, n)
        with server(settings, url, workers) as (port, pid):
            asyncio.run(_send_all(port, requests[:200], concurrency))  # warm up
            cpu0, client0 = tree_cpu_seconds(pid), time.process_time()
            pg0 = postgres_cpu_seconds() if url else 0.0
            load0 = os.getloadavg()[0]
            started = datetime.now(UTC).strftime("%H:%M:%S")
            t0 = time.perf_counter()
            statuses = asyncio.run(_send_all(port, requests[200:], concurrency))
            elapsed = time.perf_counter() - t0
            load1 = os.getloadavg()[0]
            server_cpu = tree_cpu_seconds(pid) - cpu0
            client_cpu = time.process_time() - client0
            db_cpu = postgres_cpu_seconds() - pg0 if url else 0.0
        stored = statuses.get(201, 0)
        return {
            "db": kind,
            "utc": started,
            # 1-minute load average before / after the measured run (the neighbours).
            "load": [round(load0, 2), round(load1, 2)],
            "workers": workers,
            "concurrency": concurrency,
            "kiosks": fleet,
            "reports": n - 200,
            "statuses": statuses,
            "seconds": round(elapsed, 2),
            "reports_per_s": round(stored / elapsed),
            "server_cpu_ms_per_report": round(server_cpu * 1000 / max(stored, 1), 2),
            "client_cpu_ms_per_report": round(client_cpu * 1000 / max(stored, 1), 2),
            "postgres_cpu_ms_per_report": round(db_cpu * 1000 / max(stored, 1), 2),
            # What 2 cores would ingest if the server had them to itself (PostgreSQL's
            # processes counted): a projection, not a measurement.
            "projected_reports_per_s_2_cores": round(2 * stored / max(server_cpu + db_cpu, 1e-9)),
        }


# ---------------------------------------------------------------- one day of a region


def _insert_fleet(engine: Engine, n: int) -> list[tuple[str, Ed25519PrivateKey]]:
    """``n`` kiosks of one region, written straight into the tables (enrolling 100,000
    through the API would measure enrolment, not the day's reports)."""
    rng = random.Random(3)
    now = int(time.time())
    with engine.begin() as conn:
        region = create_region(conn, "KE-NBO", "Nairobi", "KE", now)
    fleet = []
    rows = []
    for k in range(n):
        key = Ed25519PrivateKey.generate()
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        kiosk_id = f"k-{k:016x}"
        fleet.append((kiosk_id, key))
        public = "ed25519:" + base64.b64encode(raw).decode()
        rows.append((kiosk_id, region.id, public, f"Café {k}", "0.1.0", now - DAY, None))
    raw_conn: Any = engine.raw_connection()
    try:
        cur: Any = raw_conn.cursor()
        with cur.copy(
            "COPY kiosks (id, region_id, public_key, cafe_name, agent_version, enrolled_at, "
            "last_report_at, record_key) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row((*row, rng.getrandbits(32)))
        raw_conn.commit()
    finally:
        raw_conn.close()
    return fleet


def bench_region_day(kiosks: int, workers: int, concurrency: int) -> dict[str, Any]:
    """One day of a region on PostgreSQL: one signed report per kiosk through the HTTP
    API, timed from the first upload until every report is stored and rolled up."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        database("postgresql", Path(tmp)) as (
            settings,
            url,
        ),
    ):
        engine = make_engine(settings)
        upgrade(engine)
        t0 = time.perf_counter()
        fleet = _insert_fleet(engine, kiosks)
        enrolled_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        requests = signed_requests(fleet, kiosks)  # yesterday's report of every kiosk
        signing_s = time.perf_counter() - t0
        sessions_sent = sum(
            json.loads(gzip.decompress(r.split(b"\r\n\r\n", 1)[1]))["counts"]["sessions.login"]
            for r in requests
        )
        with server(settings, url, workers) as (port, _pid):
            load0 = os.getloadavg()[0]
            started = datetime.now(UTC).strftime("%H:%M:%S")
            t0 = time.perf_counter()
            statuses = asyncio.run(_send_all(port, requests, concurrency))
            uploaded_s = time.perf_counter() - t0
            with engine.connect() as conn:
                stored = conn.execute(text("SELECT count(*) FROM reports")).scalar_one()
                rolled = conn.execute(
                    text("SELECT sum(total) FROM rollup_weekly WHERE counter = 'sessions.login'")
                ).scalar_one()
            done_s = time.perf_counter() - t0
            load1 = os.getloadavg()[0]
        engine.dispose()
    return {
        "benchmark": "one day of a region (PostgreSQL, HTTP API)",
        "utc": started,
        "load": [round(load0, 2), round(load1, 2)],
        "kiosks": kiosks,
        "workers": workers,
        "concurrency": concurrency,
        "statuses": statuses,
        "stored": int(stored),
        "rolled_up_sessions_match": int(rolled or 0) == sessions_sent,
        "kiosks_inserted_s": round(enrolled_s, 1),
        "signing_s": round(signing_s, 1),
        "upload_s": round(uploaded_s, 1),
        "ingested_and_rolled_up_s": round(done_s, 1),
        "reports_per_s": round(int(stored) / uploaded_s),
        "within_10_minutes": done_s <= 600 and int(stored) == kiosks,
    }


# ---------------------------------------------------------------- dashboard


def _variants(rng: random.Random, n: int) -> list[dict[str, int]]:
    out = []
    for _ in range(n):
        s = rng.randint(10, 70)
        out.append(
            {
                k: v
                for k, v in {
                    "sessions.login": s,
                    "notices.shown.sw": s // 2,
                    "notices.shown.en": s - s // 2,
                    "notices.acknowledged": int(s * rng.uniform(0.5, 0.95)),
                    "blocked.csam": rng.choice((0, 0, 0, 1)),
                    "blocked.grooming": rng.choice((0, 0, 1)),
                    "blocked.malware": rng.randint(0, 4),
                    "tamper.dns_changed": rng.choice((0,) * 9 + (1,)),
                    "p2p.bittorrent": rng.choice((0, 0, 1, 2)),
                }.items()
                if v
            }
        )
    return out


def load_year(engine: Engine, kiosks: int, days: int, regions: int = 50) -> dict[str, Any]:
    """Load ``kiosks`` x ``days`` daily reports and their rollups straight into the tables."""
    rng = random.Random(2)
    now = int(time.time())
    today = datetime.now(UTC).date()
    variants = _variants(rng, 400)
    variant_json = [json.dumps(v, sort_keys=True, separators=(",", ":")) for v in variants]
    countries = ["KE", "SN", "TZ", "UG", "CM"]
    t0 = time.perf_counter()
    with engine.begin() as conn:
        region_ids = []
        for r in range(regions):
            cc = countries[r % len(countries)]
            region = create_region(conn, f"{cc}-R{r:02d}", f"Region {r}", cc, now)
            region_ids.append((region.id, cc))
        create_user(conn, "admin@example.org", "benchmark password", "admin", [], now, 2**12)
        create_user(
            conn, "coord@example.org", "benchmark password", "coordinator", ["KE-R00"], now, 2**12
        )
    kiosk_rows, feed_rows = [], []
    silent = set(rng.sample(range(kiosks), kiosks * 3 // 100))
    for k in range(kiosks):
        region_id, _cc = region_ids[k % regions]
        last = now - (20 * DAY if k in silent else DAY // 2)
        kiosk_rows.append(
            (
                f"k-{k:016x}",
                region_id,
                f"ed25519:bench{k}",
                f"Café {k}",
                "0.1.0",
                now - 400 * DAY,
                last,
                rng.getrandbits(32),  # record key (cell key method)
            )
        )
        feed_rows.append((f"k-{k:016x}", "hotline", 40 if k % 10 else 39))
    multiplicity: dict[tuple[int, date, int], int] = defaultdict(int)
    # Kiosk weeks received (completeness): every report here arrives the next day, so
    # the first one of each kiosk's week is on time (0 days late).
    kiosk_weeks: dict[tuple[int, date], int] = defaultdict(int)

    def report_rows() -> Iterator[tuple[Any, ...]]:
        for k in range(kiosks):
            region_id, _cc = region_ids[k % regions]
            stop = 20 if k in silent else 0
            kid = f"k-{k:016x}"
            seen_weeks: set[date] = set()
            for d in range(days, stop, -1):
                day = today - timedelta(days=d)
                if week_start(day) not in seen_weeks:
                    seen_weeks.add(week_start(day))
                    kiosk_weeks[(region_id, week_start(day))] += 1
                v = (k * 31 + d) % len(variants)
                multiplicity[(region_id, week_start(day), v)] += 1
                start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
                yield (
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    kid,
                    start + DAY + 3600,
                    start,
                    1.0,
                    variant_json[v],
                    "0.1.0",
                    '{"hotline":40}',
                    rng.getrandbits(32),
                )

    raw: Any = engine.raw_connection()
    try:
        cur: Any = raw.cursor()
        kiosk_sql = (
            "INSERT INTO kiosks (id, region_id, public_key, cafe_name, agent_version, "
            "enrolled_at, last_report_at, record_key) VALUES "
        )
        report_cols = (
            "report_id, kiosk_id, received_at, period_start, period_days, counts, "
            "agent_version, feed_versions, record_key"
        )
        if engine.dialect.name == "sqlite":
            cur.executemany(kiosk_sql + "(?,?,?,?,?,?,?,?)", kiosk_rows)
            cur.executemany("INSERT INTO kiosk_feeds VALUES (?,?,?)", feed_rows)
            rows = report_rows()
            while True:
                batch = [r for _, r in zip(range(100_000), rows, strict=False)]
                if not batch:
                    break
                cur.executemany(
                    f"INSERT INTO reports ({report_cols}) VALUES (?,?,?,?,?,?,?,?,?)", batch
                )
        else:
            with cur.copy(
                "COPY kiosks (id, region_id, public_key, cafe_name, agent_version, enrolled_at, "
                "last_report_at, record_key) FROM STDIN"
            ) as copy:
                for krow in kiosk_rows:
                    copy.write_row(krow)
            with cur.copy("COPY kiosk_feeds FROM STDIN") as copy:
                for frow in feed_rows:
                    copy.write_row(frow)
            with cur.copy(f"COPY reports ({report_cols}) FROM STDIN") as copy:
                for row in report_rows():
                    copy.write_row(row)
        totals: dict[tuple[int, date, str], int] = defaultdict(int)
        for (region_id, week, v), m in multiplicity.items():
            for name, value in variants[v].items():
                totals[(region_id, week, name)] += m * value
        country_of = dict(region_ids)
        # A random cell key stands for the sum of the cell's reports' keys (as uniform).
        rollup = [
            (r, w, c, country_of[r], t, rng.getrandbits(32)) for (r, w, c), t in totals.items()
        ]
        if engine.dialect.name == "sqlite":
            cur.executemany(
                "INSERT INTO rollup_weekly (region_id, week_start, counter, country, total, "
                "cell_key) VALUES (?,?,?,?,?,?)",
                [(r, w.isoformat(), c, cc, t, key) for r, w, c, cc, t, key in rollup],
            )
        else:
            with cur.copy(
                "COPY rollup_weekly (region_id, week_start, counter, country, total, cell_key) "
                "FROM STDIN"
            ) as copy:
                for rrow in rollup:
                    copy.write_row(rrow)
        done = [(r, w, 0, n, rng.getrandbits(32)) for (r, w), n in kiosk_weeks.items()]
        if engine.dialect.name == "sqlite":
            cur.executemany(
                "INSERT INTO completeness_weekly VALUES (?,?,?,?,?)",
                [(r, w.isoformat(), lt, n, key) for r, w, lt, n, key in done],
            )
        else:
            with cur.copy("COPY completeness_weekly FROM STDIN") as copy:
                for drow in done:
                    copy.write_row(drow)
        raw.commit()
        if engine.dialect.name == "postgresql":
            raw.driver_connection.autocommit = True
            cur = raw.cursor()
            cur.execute("ANALYZE")
        else:
            cur.execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()
    return {
        "reports": sum(multiplicity.values()),
        "rollup_rows": len(rollup),
        "load_seconds": round(time.perf_counter() - t0, 1),
    }


def _session(engine: Engine, email: str) -> str:
    with engine.begin() as conn:
        user_id = conn.execute(
            text("SELECT id FROM users WHERE email = :e"), {"e": email}
        ).scalar_one()
        return create_session(conn, user_id, int(time.time()), 12)


def _latency(port: int, pid: int, path: str, cookie: str, n: int) -> dict[str, float]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    cpu0 = 0.0
    for i in range(n + 3):
        if i == 3:
            cpu0 = tree_cpu_seconds(pid) + (postgres_cpu_seconds() if _PG[0] else 0.0)
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": f"ks_session={cookie}"})
        resp = conn.getresponse()
        body = resp.read()
        elapsed = (time.perf_counter() - t0) * 1000
        if resp.status != 200:
            raise RuntimeError(f"{path}: {resp.status} {body[:200]!r}")
        if i >= 3:
            times.append(elapsed)
    cpu = tree_cpu_seconds(pid) + (postgres_cpu_seconds() if _PG[0] else 0.0) - cpu0
    conn.close()
    times.sort()
    return {
        # Server (and PostgreSQL) CPU per request: what it costs without other load.
        "cpu_ms_per_request": round(cpu * 1000 / n, 1),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        "max_ms": round(times[-1], 1),
        "bytes": len(body),
    }


def bench_dashboard(kind: str, kiosks: int, days: int, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as (settings, url):
        engine = make_engine(settings)
        upgrade(engine)
        loaded = load_year(engine, kiosks, days)
        admin = _session(engine, "admin@example.org")
        coord = _session(engine, "coord@example.org")
        engine.dispose()
        year_ago = (datetime.now(UTC).date() - timedelta(days=days)).isoformat()
        out: dict[str, Any] = {"db": kind, **loaded}
        _PG[0] = bool(url)
        with server(settings, url, 1) as (port, pid):
            for label, path, cookie in (
                ("page, admin, 12 weeks, 50 regions", "/", admin),
                ("page, admin, 1 year, 50 regions", f"/?from={year_ago}", admin),
                ("page, coordinator, 1 region", "/", coord),
                ("CSV, admin, 12 weeks", "/export.csv", admin),
                ("CSV, admin, 1 year", f"/export.csv?from={year_ago}", admin),
                ("JSON, admin, 12 weeks", "/api/v1/indicators", admin),
            ):
                out[label] = _latency(port, pid, path, cookie, n)
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--ingest", type=int, default=6000, help="reports to upload")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers for ingest")
    parser.add_argument("--concurrency", type=int, default=32, help="client connections")
    parser.add_argument(
        "--ingest-kiosks",
        type=int,
        default=500,
        help="enrolled kiosks the uploads come from, in turn (500; more than --ingest: "
        "every upload from a kiosk the server has not seen yet, as in daily reporting)",
    )
    parser.add_argument("--kiosks", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=40, help="requests per latency figure")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-dashboard", action="store_true")
    parser.add_argument(
        "--region-day",
        type=int,
        metavar="KIOSKS",
        help="instead: one day of a region of KIOSKS kiosks (one signed report each, HTTP "
        "API, PostgreSQL, --day-workers workers); e.g. 100000",
    )
    parser.add_argument(
        "--day-workers",
        type=int,
        default=1,
        help="server workers for --region-day (1: serve's default)",
    )
    args = parser.parse_args(argv)
    if args.region_day:
        result = bench_region_day(args.region_day, args.day_workers, args.concurrency)
        print(json.dumps(result, indent=1), flush=True)
        return 0
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    for kind in kinds:
        if not args.skip_ingest:
            print(
                json.dumps(
                    bench_ingest(
                        kind, args.ingest, args.workers, args.concurrency, args.ingest_kiosks
                    )
                ),
                flush=True,
            )
        if not args.skip_dashboard:
            print(
                json.dumps(bench_dashboard(kind, args.kiosks, args.days, args.requests), indent=1),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
