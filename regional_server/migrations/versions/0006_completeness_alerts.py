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
    )
    op.create_index("ix_kiosk_weeks_region_week", "kiosk_weeks", ["region_id", "week_start"])
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
    # ISO week's Monday of period_start (day 0, 1970-01-01, was a Thursday), and the
    # first time a report of that week arrived.
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
            f"first_received_at) SELECT r.kiosk_id, {week}, k.region_id, "
            f"{monday} * 86400 + {WEEK}, MIN(r.received_at) "
            "FROM reports r JOIN kiosks k ON k.id = r.kiosk_id "
            f"GROUP BY r.kiosk_id, {monday}, k.region_id"
        )
    )


def downgrade() -> None:
    op.drop_table("alert_prefs")
    op.drop_table("alert_subscriptions")
    op.drop_index("ix_kiosk_weeks_region_week", "kiosk_weeks")
    op.drop_table("kiosk_weeks")
    with op.batch_alter_table("kiosks") as batch:
        batch.drop_column("retired_at")
