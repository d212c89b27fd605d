"""Record keys for the cell key method: reports and kiosks get one, rollup cells their sum.

Existing rows get random keys. A rollup cell's key is the sum of its reports' keys, and
a sum of independent uniform keys modulo the range is itself uniform and independent:
so a random key for an existing cell is exactly as good as summing its reports' new
random keys, and it needs no pass over millions of reports.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_KEY_RANGE = 2**32  # regional_server.perturb.KEY_RANGE when this was written
_COLUMNS = (("reports", "record_key"), ("kiosks", "record_key"), ("rollup_weekly", "cell_key"))


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    random_key = (
        f"floor(random() * {_KEY_RANGE})::bigint" if pg else f"(random() & {_KEY_RANGE - 1})"
    )
    for table, column in _COLUMNS:
        op.add_column(table, sa.Column(column, sa.BigInteger, nullable=False, server_default="0"))
        op.execute(f"UPDATE {table} SET {column} = {random_key}")
        if pg:
            # New rows must bring their own random key; a default 0 would be a fixed
            # key. (SQLite cannot drop a default without rebuilding the table; the
            # server always writes the key.)
            op.alter_column(table, column, server_default=None)


def downgrade() -> None:
    for table, column in _COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
