"""The initial schema: regions, users, sessions, codes, kiosks, reports, weekly rollups.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "regions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False, index=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "user_regions",
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "region_id",
            sa.Integer,
            sa.ForeignKey("regions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_login_failures_key_at", "login_failures", ["key", "at"])
    op.create_table(
        "enrollment_codes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(8), nullable=False),
        sa.Column(
            "region_id",
            sa.Integer,
            sa.ForeignKey("regions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("uses_left", sa.Integer, nullable=False),
        sa.Column("uses_total", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column(
            "created_by",
            sa.Integer,
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )
    op.create_table(
        "kiosks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "region_id",
            sa.Integer,
            sa.ForeignKey("regions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("public_key", sa.String(100), nullable=False, unique=True),
        sa.Column("cafe_name", sa.String(200), nullable=False),
        sa.Column("agent_version", sa.String(32), nullable=False),
        sa.Column("enrolled_at", sa.BigInteger, nullable=False),
        sa.Column("last_report_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_kiosks_region_last_report", "kiosks", ["region_id", "last_report_at"])
    op.create_table(
        "kiosk_feeds",
        sa.Column(
            "kiosk_id",
            sa.String(64),
            sa.ForeignKey("kiosks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("list_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "reports",
        sa.Column("report_id", sa.String(36), primary_key=True),
        sa.Column(
            "kiosk_id",
            sa.String(64),
            sa.ForeignKey("kiosks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("period_start", sa.BigInteger, nullable=False),
        sa.Column("period_days", sa.Float, nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("agent_version", sa.String(32), nullable=False),
        sa.Column("feed_versions", sa.Text, nullable=False),
    )
    op.create_table(
        "rollup_weekly",
        sa.Column(
            "region_id",
            sa.Integer,
            sa.ForeignKey("regions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("week_start", sa.Date, primary_key=True),
        sa.Column("counter", sa.String(64), primary_key=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_rollup_country_week", "rollup_weekly", ["country", "week_start"])
    op.create_table(
        "feed_lists",
        sa.Column("list_id", sa.String(64), primary_key=True),
        sa.Column("latest_version", sa.BigInteger, nullable=False),
        sa.Column("published_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "feed_lists",
        "rollup_weekly",
        "reports",
        "kiosk_feeds",
        "kiosks",
        "enrollment_codes",
        "login_failures",
        "sessions",
        "user_regions",
        "users",
        "regions",
    ):
        op.drop_table(table)
