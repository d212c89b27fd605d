"""The Alembic migration creates exactly the tables the code uses, and runs twice safely."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, inspect

from regional_server.db.migrate import upgrade
from regional_server.db.models import metadata
from regional_server.perturb import KEY_RANGE
from regional_server.settings import Settings


def test_migration_matches_models(engine: Engine) -> None:
    upgrade(engine)  # a second run is a no-op
    insp = inspect(engine)
    tables = set(insp.get_table_names()) - {"alembic_version"}
    assert tables == set(metadata.tables)
    for name, table in metadata.tables.items():
        assert {c["name"] for c in insp.get_columns(name)} == {c.name for c in table.columns}


def test_record_keys_migration_gives_existing_rows_random_keys(settings: Settings) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from regional_server.db.engine import make_engine
    from regional_server.db.migrate import MIGRATIONS_DIR

    engine = make_engine(settings)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002")
            conn.execute(text("INSERT INTO regions VALUES (1, 'KE-NBO', 'Nairobi', 'KE', 0)"))
            for i in range(20):
                conn.execute(
                    text("INSERT INTO kiosks VALUES (:id, 1, :key, 'Café', '0.1', 0, NULL)"),
                    {"id": f"k-{i}", "key": f"ed25519:{i}"},
                )
                conn.execute(
                    text("INSERT INTO rollup_weekly VALUES (1, :week, 'sessions.login', 'KE', 5)"),
                    {"week": (date(2026, 1, 5) + timedelta(weeks=i)).isoformat()},
                )
        upgrade(engine)
        with engine.connect() as conn:
            kiosk_keys = [r[0] for r in conn.execute(text("SELECT record_key FROM kiosks"))]
            cell_keys = [r[0] for r in conn.execute(text("SELECT cell_key FROM rollup_weekly"))]
    finally:
        engine.dispose()
    for keys in (kiosk_keys, cell_keys):
        assert len(keys) == 20 and all(0 <= k < KEY_RANGE for k in keys)
        assert len(set(keys)) > 15  # random, not the column's default 0


def test_completeness_migration_fills_kiosk_weeks_from_stored_reports(settings: Settings) -> None:
    """Reports stored before 0006 count as received in their ISO week (by period_start),
    with the first arrival of each kiosk's week."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from regional_server.db.engine import make_engine
    from regional_server.db.migrate import MIGRATIONS_DIR

    engine = make_engine(settings)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    sunday = int(datetime(2026, 11, 29, tzinfo=UTC).timestamp())  # ISO week 2026-W48
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0005")
            conn.execute(text("INSERT INTO regions VALUES (1, 'KE-NBO', 'Nairobi', 'KE', 0)"))
            conn.execute(
                text("INSERT INTO kiosks VALUES ('k-1', 1, 'ed25519:x', 'Café', '0.1', 0, NULL, 7)")
            )
            for i, (start, received) in enumerate(
                [(sunday, sunday + 90000), (sunday - 86400, sunday + 5000), (sunday + 86400, 9)]
            ):
                conn.execute(
                    text(
                        "INSERT INTO reports VALUES (:id, 'k-1', :received, :start, 1, '{}', "
                        "'0.1', '{}', 3)"
                    ),
                    {"id": f"r-{i}", "received": received, "start": start},
                )
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT week_start, region_id, week_end_at, first_received_at "
                    "FROM kiosk_weeks ORDER BY week_start"
                )
            ).all()
            rolled = conn.execute(
                text(
                    "SELECT week_start, late_days, kiosks FROM completeness_weekly "
                    "ORDER BY week_start"
                )
            ).all()
    finally:
        engine.dispose()
    assert [(str(r[0]), r[1], r[2], r[3]) for r in rows] == [
        ("2026-11-23", 1, sunday + 86400, sunday + 5000),
        ("2026-11-30", 1, sunday + 8 * 86400, 9),
    ]
    assert [(str(r[0]), r[1], r[2]) for r in rolled] == [("2026-11-23", 0, 1), ("2026-11-30", 0, 1)]
