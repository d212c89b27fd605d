"""The Alembic migration creates exactly the tables the code uses, and runs twice safely."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from regional_server.db.migrate import upgrade
from regional_server.db.models import metadata


def test_migration_matches_models(engine: Engine) -> None:
    upgrade(engine)  # a second run is a no-op
    insp = inspect(engine)
    tables = set(insp.get_table_names()) - {"alembic_version"}
    assert tables == set(metadata.tables)
    for name, table in metadata.tables.items():
        assert {c["name"] for c in insp.get_columns(name)} == {c.name for c in table.columns}
