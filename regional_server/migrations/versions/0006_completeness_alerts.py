"""Reporting completeness (kiosk weeks, retired kiosks) and alert subscriptions.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WEEK = 7 * 86400
MAX_LATE = 61
"""As ``completeness.MAX_LATE_DAYS`` (a migration keeps its own copy of what it wrote)."""
KEY_RANGE = 2**32


def upgrade() -> None:
    op.add_column("kiosks", sa.Column("retired_at", sa.BigInteger, nullable=True))
    op.create_table(
        "kiosk_weeks",
        sa.Column(
            "kiosk_id",
            sa.String(64),
            sa.ForeignKey("kiosks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("week_start", sa.Date, primary_key=True),
        sa.Column(
            "region_id", sa.Integer, sa.ForeignKey("regions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("week_end_at", sa.BigInteger, nullable=False),
        sa.Column("first_received_at", sa.BigInteger, nullable=False),
        sa.Column("record_key", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "completeness_weekly",
        sa.Column(
            "region_id",
            sa.Integer,
            sa.ForeignKey("regions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("week_start", sa.Date, primary_key=True),
        sa.Column("late_days", sa.Integer, primary_key=True),
        sa.Column("kiosks", sa.BigInteger, nullable=False),
        sa.Column("cell_key", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alert_subscriptions",
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "region_id",
            sa.Integer,
            sa.ForeignKey("regions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("silent_days", sa.Integer, nullable=False),
        sa.Column("jumps", sa.Boolean, nullable=False),
        sa.Column("feed_rejections", sa.Boolean, nullable=False),
    )
    op.create_table(
        "alert_prefs",
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("digest", sa.Boolean, nullable=False),
        sa.Column("last_digest_at", sa.BigInteger, nullable=True),
    )
    # The weeks each kiosk reported before this migration, from the stored reports: the
    # ISO week's Monday of period_start (day 0, 1970-01-01, was a Thursday), the first
    # time a report of that week arrived, and one of the week's report keys (random).
    bind = op.get_bind()
    day = "(period_start / 86400)"
    monday = f"({day} - ({day} + 3) % 7)"
    if bind.dialect.name == "postgresql":
        week = f"(DATE '1970-01-01' + {monday}::int)"
    else:
        week = f"date({monday} * 86400, 'unixepoch')"
    bind.execute(
        sa.text(
            "INSERT INTO kiosk_weeks (kiosk_id, week_start, region_id, week_end_at, "
            f"first_received_at, record_key) SELECT r.kiosk_id, {week}, k.region_id, "
            f"{monday} * 86400 + {WEEK}, MIN(r.received_at), MIN(r.record_key) "
            "FROM reports r JOIN kiosks k ON k.id = r.kiosk_id "
            f"GROUP BY r.kiosk_id, {monday}, k.region_id"
        )
    )
    late = (
        "CASE WHEN first_received_at <= week_end_at THEN 0 "
        f"WHEN first_received_at - week_end_at > {MAX_LATE - 1} * 86400 THEN {MAX_LATE} "
        "ELSE (first_received_at - week_end_at + 86399) / 86400 END"
    )
    bind.execute(
        sa.text(
            "INSERT INTO completeness_weekly (region_id, week_start, late_days, kiosks, "
            f"cell_key) SELECT region_id, week_start, {late}, COUNT(*), "
            f"SUM(record_key) % {KEY_RANGE} FROM kiosk_weeks "
            f"GROUP BY region_id, week_start, {late}"
        )
    )


def downgrade() -> None:
    op.drop_table("alert_prefs")
    op.drop_table("alert_subscriptions")
    op.drop_table("completeness_weekly")
    op.drop_table("kiosk_weeks")
    with op.batch_alter_table("kiosks") as batch:
        batch.drop_column("retired_at")
