"""Plausible demo data for the browser test and the screenshot: weeks of daily reports."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from kiosk_agent.contracts.report import EnrollRequest, Report
from regional_server.store.codes import create_code
from regional_server.store.ingest import store_report
from regional_server.store.kiosks import enroll
from regional_server.store.regions import get_region

CAFES = (
    "Sunrise Net Café",
    "Kibera Cyber Point",
    "Westlands Surf Spot",
    "Eastleigh Online",
    "Ngong Road Cyber",
    "Campus Corner Net",
    "Mama Njeri Cyber",
    "Upper Hill Connect",
)


def seed(engine: Engine, region_code: str, now: int, weeks: int = 12, kiosks: int = 8) -> None:
    rng = random.Random(7)
    with engine.begin() as conn:
        region = get_region(conn, region_code)
        assert region is not None
        code = create_code(conn, region.id, kiosks, now + 86400, now, None)
        ids = []
        # Enrolled before their first report: the completeness figures expect them.
        enrolled = now - (weeks * 7 + 1) * 86400
        for i in range(kiosks):
            key = "ed25519:" + __import__("base64").b64encode(rng.randbytes(32)).decode()
            request = EnrollRequest(code, key, CAFES[i % len(CAFES)], "0.1.0")
            r = enroll(conn, request, enrolled)
            ids.append(r.kiosk_id)
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for d in range(weeks * 7, 0, -1):
        day = today - timedelta(days=d)
        trend = 1 + (weeks * 7 - d) / (weeks * 7)
        for i, kiosk_id in enumerate(ids):
            if i >= kiosks - 2 and d < 10:
                continue  # two kiosks went silent ten days ago
            sessions = rng.randint(25, 60)
            shown = sessions
            counts = {
                "sessions.login": sessions,
                "notices.shown.sw": shown // 2,
                "notices.shown.en": shown - shown // 2,
                "notices.acknowledged": int(shown * rng.uniform(0.6, 0.9)),
                "blocked.csam": rng.randint(0, 3),
                "blocked.grooming": int(rng.randint(0, 2) * trend),
                "blocked.malware": rng.randint(1, 6),
                "tamper.dns_changed": rng.choice((0, 0, 0, 1)),
                "p2p.bittorrent": rng.choice((0, 1, 2)),
            }
            report = Report(
                str(uuid.UUID(int=rng.getrandbits(128))),
                kiosk_id,
                day,
                1,
                counts,
                "0.1.0",
                {"hotline": 40 if i < kiosks - 3 else 39},
            )
            with engine.begin() as conn:
                received = int(day.timestamp()) + 86400 + 3600
                store_report(conn, report, region.id, region.country, received)
